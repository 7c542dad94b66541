"""Issuing reports: one service function decides numbers, reuse, signing and the register.

``issue_report`` builds the report data; if the latest report of the same series (subject,
kind, scenario) holds exactly the same data, that report is returned again (same number, same
bytes: asking twice changes nothing). Otherwise a new number is signed, stored, and the
previous report of the series is marked superseded — still authentic, no longer current.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from xinyong.config import get_settings
from xinyong.errors import InvalidInput, NotFound
from xinyong.reports.content import REPORT_KINDS, build_data
from xinyong.reports.keys import get_keystore
from xinyong.reports.models import Report
from xinyong.reports.scenarios import Scenario, get_scenario
from xinyong.reports.signing import (
    Signature,
    canonical_bytes,
    content_hash,
    envelope_bytes,
    sign_content,
)
from xinyong.subjects.models import Subject

if TYPE_CHECKING:
    from xinyong.accounts.actor import Actor

CHINA_TZ = timezone(timedelta(hours=8))
FORMATS = ("pdf", "html", "json")
MEDIA_TYPES = {"pdf": "application/pdf", "html": "text/html; charset=utf-8", "json": "application/json"}
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud or typed from paper


PDF_CACHE_SIZE = 64
_pdf_cache: dict[tuple[str, str, str], bytes] = {}


def new_number(now: datetime) -> str:
    return f"XY{now.astimezone(CHINA_TZ):%Y%m%d}" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def verify_url(number: str) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/verify/{number}"


@dataclass
class IssuedReport:
    number: str
    content: dict[str, Any]
    signature: Signature
    created_at: datetime
    reused: bool = False
    superseded_by: str | None = None

    def envelope(self) -> bytes:
        return envelope_bytes(self.content, self.signature)

    def render(self, fmt: str, *, cached: bool = True) -> bytes:
        """The file in ``fmt``. A PDF of the same report and seal key is rendered once per process
        (repeated downloads of an unchanged report cost nothing; the bytes are deterministic)."""
        if fmt == "pdf" and cached:
            kid = get_keystore().ensure()[0]
            key = (self.number, self.signature.hash, kid)
            data = _pdf_cache.get(key)
            if data is None:
                data = self.render("pdf", cached=False)
                _pdf_cache[key] = data
                while len(_pdf_cache) > PDF_CACHE_SIZE:
                    _pdf_cache.pop(next(iter(_pdf_cache)))
            return data
        if fmt == "json":
            return self.envelope()
        if fmt == "html":
            from xinyong.reports.html import render_standalone

            return render_standalone(self.content, self.signature).encode("utf-8")
        if fmt == "pdf":
            from xinyong.reports.pdf import render_pdf

            kid, private = get_keystore().signing_key()  # the seal: the current key
            return render_pdf(self.content, self.signature, self.envelope(), kid=kid, private=private)
        raise InvalidInput(f"不支持的报告格式 {fmt}：可选 pdf、html、json。", code="unknown_format")

    @property
    def file_name(self) -> str:
        return self.number


def _from_row(row: Report, *, reused: bool) -> IssuedReport:
    content = json.loads(row.content)
    return IssuedReport(row.number, content, Signature(row.key_id, row.content_hash, row.signature),
                        row.created_at, reused=reused, superseded_by=row.superseded_by)


def check_kind(kind: str, scenario: str | None) -> Scenario | None:
    if kind not in REPORT_KINDS:
        raise InvalidInput(f"报告类型“{kind[:20]}”无效：可选 public（公共信用信息报告）、full（主体本人完整版）、"
                           "scenario（专项报告，须同时指定场景）。", code="unknown_report_kind")
    if kind == "scenario":
        return get_scenario(scenario)
    if scenario:
        raise InvalidInput("只有专项报告（kind=scenario）可以指定场景。", code="scenario_not_allowed")
    return None


def issue_report(session: Session, subject: Subject, kind: str, *, scenario: str | None = None,
                 actor: Actor | None = None, today=None) -> IssuedReport:
    """The current report of this series for ``subject``: reused when its data is unchanged."""
    scen = check_kind(kind, scenario)
    data = build_data(session, subject, kind, scenario=scen, today=today)
    data_hash = content_hash(data)
    variant = scen.code if scen else ""
    latest = session.scalar(select(Report).where(Report.subject_id == subject.id, Report.kind == kind,
                                                 Report.variant == variant, Report.superseded_at.is_(None))
                            .order_by(Report.id.desc()).limit(1))
    if latest is not None and latest.data_hash == data_hash:
        return _from_row(latest, reused=True)
    store = get_keystore()
    kid, private = store.signing_key()
    now = datetime.now(UTC)
    number = new_number(now)
    stamp = now.astimezone(CHINA_TZ).isoformat(timespec="seconds")
    content = {**data, "number": number, "issued_at": stamp, "data_cutoff": stamp, "verify_url": verify_url(number)}
    signature = sign_content(content, kid, private)
    session.add(Report(number=number, subject_id=subject.id, kind=kind, variant=variant,
                       content_hash=signature.hash, data_hash=data_hash, signature=signature.value,
                       key_id=kid, content=canonical_bytes(content).decode("utf-8"), created_at=now))
    session.flush()
    session.execute(update(Report).where(Report.subject_id == subject.id, Report.kind == kind,
                                         Report.variant == variant, Report.superseded_at.is_(None),
                                         Report.number != number)
                    .values(superseded_at=now, superseded_by=number))
    from xinyong.audit.service import record_event

    # Issuing is logged; reading public information is not (access history lists ".read" only).
    record_event(session, "report.issue", actor=actor, subject_id=subject.id,
                 details={"number": number, "kind": kind, "scenario": variant or None, "key_id": kid})
    return IssuedReport(number, content, signature, now)


def get_report(session: Session, number: str) -> Report:
    value = (number or "").strip().upper()
    if not value or len(value) > 32 or not value.isalnum():
        raise NotFound("报告编号格式不正确：应为 XY 开头的字母数字组合，请核对报告上的编号。", code="report_not_found")
    row = session.scalar(select(Report).where(Report.number == value))
    if row is None:
        raise NotFound(f"平台没有编号为 {value} 的报告：该报告不是本平台出具的，或编号有误。", code="report_not_found")
    return row


def report_status(session: Session, number: str) -> dict[str, Any]:
    """What the verify page shows: authentic (registered, signature valid) and current?"""
    from xinyong.reports.keys import published_keyset
    from xinyong.reports.signing import check_envelope

    row = get_report(session, number)
    content = json.loads(row.content)
    check = check_envelope({"report": content, "signature": Signature(row.key_id, row.content_hash,
                                                                       row.signature).to_dict()},
                           published_keyset())
    subject = content.get("subject", {})
    return {
        "number": row.number,
        "authentic": check.ok,
        "message": check.message,
        "current": row.superseded_at is None,
        "superseded_at": row.superseded_at.isoformat() if row.superseded_at else None,
        "superseded_by": row.superseded_by,
        "kind": row.kind,
        "kind_label": content.get("kind_label"),
        "scenario": (content.get("scenario") or {}).get("name"),
        "subject_name": subject.get("name"),
        "subject_code": subject.get("uscc") or subject.get("citizen_id"),
        "issued_at": content.get("issued_at"),
        "data_cutoff": content.get("data_cutoff"),
        "records": content.get("summary", {}).get("total"),
        "content_hash": row.content_hash,
        "key_id": row.key_id,
        "signature": row.signature,
    }
