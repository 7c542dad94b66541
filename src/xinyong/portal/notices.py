"""Notices and policy pages (通知公告、政策文件): Markdown an administrator publishes and edits.

Markdown is rendered by markdown-it-py (CommonMark, raw HTML off) and the result is sanitised
again by nh3 (Ammonia): what an editor types can never run script on the public site.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.errors import Conflict, InvalidInput, NotFound
from xinyong.portal.models import Notice

KINDS = {"notice": "通知公告", "policy": "政策文件"}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
MAX_BODY = 200_000
_TAGS = {"p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "code", "pre",
         "blockquote", "a", "table", "thead", "tbody", "tr", "th", "td", "del", "s"}


@lru_cache(maxsize=1)
def _md() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def render_markdown(text: str) -> str:
    html = _md().render(text or "")
    return nh3.clean(html, tags=_TAGS, attributes={"a": {"href", "title"}, "th": {"align"}, "td": {"align"}},
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer")


def _validate(slug: str, title: str, body: str, kind: str) -> tuple[str, str, str, str]:
    slug = (slug or "").strip().lower()
    title = (title or "").strip()
    errors = []
    if not _SLUG.match(slug):
        errors.append("网址标识只能用小写字母、数字和连字符（-），以字母或数字开头，不超过80个字符，例如 2026-credit-repair-guide")
    if not title:
        errors.append("标题不能为空")
    elif len(title) > 200:
        errors.append("标题不超过200个字")
    if not (body or "").strip():
        errors.append("正文不能为空")
    elif len(body) > MAX_BODY:
        errors.append(f"正文过长（{len(body)} 个字符），不超过 {MAX_BODY} 个字符")
    if kind not in KINDS:
        errors.append(f"类别只能是：{'、'.join(KINDS.values())}")
    if errors:
        raise InvalidInput("；".join(errors) + "。", code="invalid_notice")
    return slug, title, body.replace("\r\n", "\n"), kind


def _audit(session: Session, actor: Actor | None, action: str, notice: Notice) -> None:
    if actor is not None:
        from xinyong.audit.service import record_event

        record_event(session, action, actor=actor, details={"notice_id": notice.id, "slug": notice.slug,
                                                            "version": notice.version})


def create_notice(session: Session, *, slug: str, title: str, body: str, kind: str = "notice",
                  published: bool = False, actor: Actor | None = None) -> Notice:
    slug, title, body, kind = _validate(slug, title, body, kind)
    if session.scalar(select(Notice.id).where(Notice.slug == slug)) is not None:
        raise Conflict(f"网址标识“{slug}”已被另一篇公告使用，请换一个。", code="notice_slug_taken")
    now = datetime.now(UTC)
    notice = Notice(slug=slug, title=title, body=body, kind=kind, published=published,
                    published_at=now if published else None, author=actor.name if actor else None, version=1,
                    created_at=now, updated_at=now)
    session.add(notice)
    session.flush()
    _audit(session, actor, "notice.create", notice)
    return notice


def update_notice(session: Session, notice_id: int, *, slug: str, title: str, body: str, kind: str = "notice",
                  published: bool = False, actor: Actor | None = None) -> Notice:
    notice = get_notice(session, notice_id)
    slug, title, body, kind = _validate(slug, title, body, kind)
    other = session.scalar(select(Notice.id).where(Notice.slug == slug, Notice.id != notice_id))
    if other is not None:
        raise Conflict(f"网址标识“{slug}”已被另一篇公告使用，请换一个。", code="notice_slug_taken")
    same = (notice.slug, notice.title, notice.body, notice.kind, notice.published) == (slug, title, body, kind, published)
    if same:
        return notice  # re-submitting the same form changes nothing
    now = datetime.now(UTC)
    if published and not notice.published:
        notice.published_at = now
    notice.slug, notice.title, notice.body, notice.kind, notice.published = slug, title, body, kind, published
    notice.version += 1
    notice.updated_at = now
    notice.author = actor.name if actor else notice.author
    session.flush()
    _audit(session, actor, "notice.update", notice)
    return notice


def get_notice(session: Session, notice_id: int) -> Notice:
    notice = session.get(Notice, notice_id)
    if notice is None:
        raise NotFound(f"未找到编号为 {notice_id} 的公告。", code="notice_not_found")
    return notice


def get_published(session: Session, slug: str) -> Notice:
    notice = session.scalar(select(Notice).where(Notice.slug == slug, Notice.published.is_(True)))
    if notice is None:
        raise NotFound("未找到该公告，可能已撤下或网址有误。", code="notice_not_found")
    return notice


def latest(session: Session, limit: int = 5) -> list[Notice]:
    return list(session.scalars(select(Notice).where(Notice.published.is_(True))
                                .order_by(Notice.published_at.desc(), Notice.id.desc()).limit(limit)))


def list_published(session: Session, *, page: int = 1, size: int = 20) -> dict[str, Any]:
    base = select(Notice).where(Notice.published.is_(True))
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    items = session.scalars(base.order_by(Notice.published_at.desc(), Notice.id.desc())
                            .offset((page - 1) * size).limit(size)).all()
    return {"total": total, "page": page, "size": size, "pages": max(1, -(-total // size)), "items": items,
            "kinds": KINDS}


def list_all(session: Session) -> list[Notice]:
    return list(session.scalars(select(Notice).order_by(Notice.updated_at.desc(), Notice.id.desc())))
