"""Notifications: an in-app inbox for every actor and e-mail through the outbox.

``notify`` writes the message (and any e-mail) in the caller's transaction, so a rolled-back
change never notifies anyone; ``deliver_pending`` sends the outbox after the commit (the API
calls it after each workflow step, ``xinyong tick`` sweeps what is left, with retries).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, false, func, or_, select, update
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.accounts.roles import ADMIN, REVIEWER
from xinyong.config import get_settings
from xinyong.errors import InvalidInput, NotFound

from .models import EmailMessage, Notification, NotificationContact

log = logging.getLogger("xinyong.notifications")

AUDIENCES = ("user", "subject", "department", "credit_office")
AUDIENCE_LABELS = {"user": "用户", "subject": "信用主体", "department": "部门", "credit_office": "信用办"}
MAX_ATTEMPTS = 5
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,185}\.[A-Za-z]{2,24}$")


def check_email(value: str | None) -> str | None:
    """A plausible address, or None when blank; a clear error otherwise."""
    value = (value or "").strip()
    if not value:
        return None
    if not _EMAIL.match(value) or ".." in value:
        raise InvalidInput("电子邮箱格式不正确，请填写如 name@example.com 的地址。", code="invalid_email")
    return value


def notify(session: Session, audience: str, audience_id: int | None, title: str, body: str, *,
           link: str | None = None, workflow: str | None = None, case_id: int | None = None,
           urgent: bool = False, emails: Iterable[str | None] = ()) -> Notification:
    """One inbox message to an audience, plus e-mail to the given addresses and to the
    audience's registered contacts."""
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}")
    n = Notification(audience=audience, audience_id=audience_id, title=title[:200], body=body,
                     link=link, workflow=workflow, case_id=case_id, urgent=urgent)
    session.add(n)
    session.flush()
    recipients = {e.strip().lower(): e.strip() for e in emails if e}
    for c in session.scalars(select(NotificationContact.email).where(
            NotificationContact.audience == audience,
            NotificationContact.audience_id.is_(None) if audience_id is None
            else NotificationContact.audience_id == audience_id)):
        recipients.setdefault(c.lower(), c)
    if recipients:
        site = get_settings().site_name
        text = body + (f"\n\n办理链接：{get_settings().public_base_url.rstrip('/')}{link}" if link else "")
        text += f"\n\n—— {site} 公共信用信息平台（系统自动发送，请勿直接回复）"
        for addr in recipients.values():
            session.add(EmailMessage(notification_id=n.id, to_addr=addr, subject=f"[{site}] {title}"[:250],
                                     body=text))
    return n


def add_contact(session: Session, audience: str, audience_id: int | None, email: str) -> NotificationContact:
    """Register an e-mail address for an audience (e.g. a department's mailbox); idempotent."""
    if audience not in AUDIENCES:
        raise InvalidInput(f"接收对象只能是：{'、'.join(AUDIENCES)}", code="invalid_audience")
    addr = check_email(email)
    if addr is None:
        raise InvalidInput("请填写电子邮箱。", code="email_required")
    existing = session.scalar(select(NotificationContact).where(
        NotificationContact.audience == audience, NotificationContact.email == addr,
        NotificationContact.audience_id.is_(None) if audience_id is None
        else NotificationContact.audience_id == audience_id))
    if existing:
        return existing
    contact = NotificationContact(audience=audience, audience_id=audience_id, email=addr)
    session.add(contact)
    session.flush()
    return contact


# --- the inbox -----------------------------------------------------------------------------------


def _audience_clause(actor: Actor):
    """Every message addressed to this actor, directly or through its subject, department or office."""
    parts = []
    if actor.kind == "user" and actor.id is not None:
        parts.append(and_(Notification.audience == "user", Notification.audience_id == actor.id))
    if actor.is_subject and actor.subject_id is not None:
        parts.append(and_(Notification.audience == "subject", Notification.audience_id == actor.subject_id))
    if actor.is_department and actor.department_id is not None:
        parts.append(and_(Notification.audience == "department", Notification.audience_id == actor.department_id))
    if actor.role in (ADMIN, REVIEWER):
        parts.append(Notification.audience == "credit_office")
    return or_(*parts) if parts else false()


def inbox(session: Session, actor: Actor, *, page: int = 1, size: int = 20, unread_only: bool = False
          ) -> dict[str, Any]:
    if page < 1 or not 1 <= size <= 100:
        raise InvalidInput("页码从 1 开始，每页 1–100 条。", code="invalid_page")
    where = _audience_clause(actor)
    if unread_only:
        where = and_(where, Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(Notification).where(where)) or 0
    unread = session.scalar(select(func.count()).select_from(Notification).where(
        _audience_clause(actor), Notification.read_at.is_(None))) or 0
    rows = session.scalars(select(Notification).where(where).order_by(Notification.id.desc())
                           .offset((page - 1) * size).limit(size)).all()
    return {"total": total, "unread": unread, "page": page, "size": size,
            "items": [notification_to_dict(n) for n in rows]}


def mark_read(session: Session, actor: Actor, notification_id: int) -> dict[str, Any]:
    n = session.scalar(select(Notification).where(Notification.id == notification_id, _audience_clause(actor)))
    if n is None:
        raise NotFound("未找到该消息（或不是发给您的消息）。", code="notification_not_found")
    if n.read_at is None:
        n.read_at = datetime.now(UTC)
    return notification_to_dict(n)


def mark_all_read(session: Session, actor: Actor) -> int:
    result = session.execute(update(Notification).where(_audience_clause(actor), Notification.read_at.is_(None))
                             .values(read_at=datetime.now(UTC)).execution_options(synchronize_session=False))
    return result.rowcount or 0


def notification_to_dict(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "title": n.title, "body": n.body, "link": n.link, "workflow": n.workflow,
            "case_id": n.case_id, "urgent": bool(n.urgent), "audience": n.audience,
            "audience_label": AUDIENCE_LABELS.get(n.audience, n.audience),
            "created_at": n.created_at.isoformat() if n.created_at else None,
            "read": n.read_at is not None}


# --- e-mail -------------------------------------------------------------------------------------


def deliver_pending(session: Session, *, limit: int = 200) -> dict[str, int]:
    """Send pending e-mail through the configured SMTP server. Without ``smtp_host`` nothing is
    sent (messages wait). Each message is marked sent or its error kept; after
    ``MAX_ATTEMPTS`` failures it is given up (``failed``)."""
    from .mail import send_messages

    settings = get_settings()
    if not settings.smtp_host:
        return {"sent": 0, "failed": 0, "pending": 0}
    pending = session.scalars(select(EmailMessage).where(EmailMessage.status == "pending")
                              .order_by(EmailMessage.id).limit(limit)).all()
    if not pending:
        return {"sent": 0, "failed": 0, "pending": 0}
    outcome = send_messages(settings, [(m.to_addr, m.subject, m.body) for m in pending])
    sent = failed = 0
    now = datetime.now(UTC)
    for m, error in zip(pending, outcome):
        m.attempts += 1
        if error is None:
            m.status, m.sent_at, m.last_error = "sent", now, None
            sent += 1
        else:
            m.last_error = error[:500]
            if m.attempts >= MAX_ATTEMPTS:
                m.status = "failed"
            failed += 1
    session.flush()
    left = session.scalar(select(func.count()).select_from(EmailMessage)
                          .where(EmailMessage.status == "pending")) or 0
    if failed:
        log.warning("e-mail delivery: %d sent, %d failed", sent, failed)
    return {"sent": sent, "failed": failed, "pending": left}


def deliver_after_commit() -> None:
    """Best effort, in its own transaction: a mail server being down never fails the request
    (the outbox keeps the message for the next tick)."""
    if not get_settings().smtp_host:
        return
    from xinyong.db.engine import session_scope

    try:
        with session_scope() as session:
            deliver_pending(session)
    except Exception:
        log.exception("e-mail delivery failed; will retry on the next tick")


def send_email(session: Session, to_addr: str, title: str, body: str, *, link: str | None = None) -> None:
    """E-mail only (someone without an account, e.g. a member of the public who objected)."""
    site = get_settings().site_name
    text = body + (f"\n\n查看进度：{get_settings().public_base_url.rstrip('/')}{link}" if link else "")
    text += f"\n\n—— {site} 公共信用信息平台（系统自动发送，请勿直接回复）"
    session.add(EmailMessage(to_addr=to_addr, subject=f"[{site}] {title}"[:250], body=text))
