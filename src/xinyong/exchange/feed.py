"""The change feed (变更订阅): every record version, window closing, repair, withdrawal and list
removal in one commit-ordered sequence, read with opaque cursors.

Ordering (see ``models``): on PostgreSQL, changes are numbered by ``sequence_pending`` after
they commit, under one advisory lock, so a number is never handed out below one a reader may
already have passed. Readers call it before reading (it is a no-op when nothing is pending).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import JSON, LargeBinary, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.catalogue import load_catalogue
from xinyong.catalogue.schemas import Field, Resource
from xinyong.departments.models import Department
from xinyong.errors import Forbidden, InvalidInput
from xinyong.identity.codes import mask_citizen_id
from xinyong.identity.crypto import Keyring, get_keyring, mask_phone
from xinyong.intake.models import Record
from xinyong.logging import mask_personal_data
from xinyong.subjects.models import Subject

from .models import ExchangeChange

SEQUENCER_LOCK = zlib.crc32(b"xinyong-exchange-sequencer")
SEQUENCE_CHUNK = 50_000
MAX_PAGE = 1000
DEFAULT_PAGE = 200
CURSOR_PREFIX = "xc1:"
KINDS = {
    "record.created": "新增记录", "record.updated": "记录更正/更新", "record.withdrawn": "记录撤销",
    "record.repaired": "信用修复", "record.window_closed": "公示期届满", "list.removed": "移出名单",
}
_CURSOR_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


# --- cursors ------------------------------------------------------------------------------------


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"{CURSOR_PREFIX}{int(seq)}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The position a cursor stands for; empty or ``0`` = the beginning."""
    if cursor is None or cursor.strip() in ("", "0"):
        return 0
    raw = cursor.strip()
    if not _CURSOR_RE.match(raw):
        raise InvalidInput("游标格式不正确：请使用上一页返回的 next_cursor 原样传回（留空表示从头开始）。",
                           code="invalid_cursor")
    try:
        value = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        value = ""
    if not value.startswith(CURSOR_PREFIX) or not value[len(CURSOR_PREFIX):].isdigit():
        raise InvalidInput("游标无效：请使用上一页返回的 next_cursor 原样传回（留空表示从头开始）。",
                           code="invalid_cursor")
    return int(value[len(CURSOR_PREFIX):])


# --- numbering (PostgreSQL) ------------------------------------------------------------------------


_SEQUENCE_SQL = """
WITH moved AS (
    DELETE FROM exchange_pending WHERE id IN (SELECT id FROM exchange_pending ORDER BY id LIMIT :n)
    RETURNING *
), base AS (SELECT COALESCE(MAX(seq), 0) AS last FROM exchange_changes)
INSERT INTO exchange_changes (seq, kind, resource, record_id, version, subject_id, department_id, tombstone,
                              ref_id, occurred_at)
SELECT base.last + row_number() OVER (ORDER BY m.id), m.kind, COALESCE(m.resource, r.resource), m.record_id,
       m.version, COALESCE(m.subject_id, r.subject_id), COALESCE(m.department_id, r.department_id), m.tombstone,
       m.ref_id, m.occurred_at
FROM moved m CROSS JOIN base LEFT JOIN records r ON r.id = m.record_id
WHERE COALESCE(m.resource, r.resource) IS NOT NULL  -- a version without its record is never a change
"""


def sequence_pending(bind: Engine | Connection | Session) -> int:
    """Number every committed pending change (PostgreSQL; SQLite numbers at insert). Runs in its
    own transactions when given an Engine; returns how many were numbered."""
    if isinstance(bind, Session):
        bind = bind.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    if engine.dialect.name != "postgresql":
        return 0
    total = 0
    while True:
        with engine.begin() as conn:
            # By the primary key: an index probe, which also skips the dead rows earlier runs left.
            if conn.execute(text("SELECT id FROM exchange_pending ORDER BY id LIMIT 1")).first() is None:
                if total >= SEQUENCE_CHUNK:
                    _vacuum_pending(engine)
                return total
            # Serialise numbering: each run commits before the next one reads MAX(seq), and in
            # READ COMMITTED the next statement sees everything committed before it.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SEQUENCER_LOCK})
            moved = conn.execute(text(_SEQUENCE_SQL), {"n": SEQUENCE_CHUNK}).rowcount
        total += moved
        if moved < SEQUENCE_CHUNK:
            if total >= SEQUENCE_CHUNK:
                _vacuum_pending(engine)
            return total


def _vacuum_pending(engine: Engine) -> None:
    """After a large move, reclaim the staging table at once rather than when autovacuum comes by."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM exchange_pending"))


def latest_cursor(session: Session) -> str:
    sequence_pending(session)
    last = session.scalar(select(ExchangeChange.seq).order_by(ExchangeChange.seq.desc()).limit(1))
    return encode_cursor(last or 0)


# --- clearance ------------------------------------------------------------------------------------


def readable_resources(actor: Actor, requested: Iterable[str] | None = None) -> list[str]:
    """Resources this actor may follow: its disclosure clearance and (API clients) its scopes."""
    cat = load_catalogue()
    scoped = actor.resources is not None and "*" not in actor.resources

    def allowed(res: Resource) -> bool:
        if scoped and res.code not in actor.resources:
            return False
        return actor.can_read(res.code, res.disclosure)

    if requested:
        wanted = sorted({r.strip() for r in requested if r and r.strip()})
        unknown = [r for r in wanted if r not in cat]
        if unknown:
            raise InvalidInput(f"信用信息目录中没有资源：{'、'.join(unknown)}。", code="unknown_resource")
        denied = [r for r in wanted if not allowed(cat.get(r))]
        if denied:
            raise Forbidden(f"该凭据未获授权订阅信息资源：{'、'.join(denied)}。请联系信用办调整授权范围。",
                            code="scope_forbidden")
        return wanted
    return [r.code for r in cat.resources.values() if allowed(r)]


def full_clearance(actor: Actor) -> bool:
    """Beyond the public: non-public fields and (masked) personal fields."""
    return actor.can_read(None, "government") or actor.can_read(None, "internal")


def mask_value(f: Field, value: Any) -> Any:
    if value in (None, ""):
        return value
    text_value = str(value)
    if f.type == "citizen_id":
        return mask_citizen_id(text_value)
    if f.type == "phone":
        return mask_phone(text_value)
    masked = mask_personal_data(text_value)
    if masked != text_value:
        return masked
    return text_value[:1] + "*" * max(1, len(text_value) - 1)  # names and the like


def present_values(res: Resource, data: dict[str, Any] | None, personal_enc: bytes | None, *, full: bool,
                   keyring: Keyring | None) -> dict[str, Any]:
    """A record's values for a reader: public fields; with full clearance also non-public fields and
    personal fields masked. Never a personal value in clear."""
    data = data or {}
    personal: dict[str, Any] = {}
    if full and personal_enc and keyring is not None:
        personal = json.loads(keyring.decrypt(personal_enc))
    out: dict[str, Any] = {}
    for f in res.fields:
        if not f.public and not full:
            continue
        if f.personal:
            if full and f.code in personal:
                out[f.code] = mask_value(f, personal[f.code])
            continue
        if f.code in data:
            out[f.code] = data[f.code]
    return out


_NAME_FIELD = Field(code="name", label="姓名", personal=True)


def subject_summary(subject: Any) -> dict[str, Any] | None:
    if subject is None:
        return None
    person = subject.kind == "natural_person"
    return {"id": subject.id, "kind": subject.kind,
            "name": mask_value(_NAME_FIELD, subject.name) if person else subject.name,
            "uscc": subject.uscc, "citizen_id": subject.citizen_id_masked if person else None,
            "region": subject.region}


# --- reading --------------------------------------------------------------------------------------


@dataclass
class Page:
    changes: list[dict[str, Any]]
    next_cursor: str
    has_more: bool

    def to_dict(self) -> dict[str, Any]:
        return {"changes": self.changes, "next_cursor": self.next_cursor, "has_more": self.has_more,
                "count": len(self.changes)}


def fetch_changes(session: Session, since: int, *, resources: list[str] | None, limit: int,
                  subject_kinds: list[str] | None = None) -> tuple[list[Any], bool]:
    """Changes after ``since`` in order (one more than ``limit`` tells whether there are more).
    Plain rows (attribute access like the model), not ORM objects: pages are read often."""
    t = ExchangeChange.__table__
    stmt = select(t).where(t.c.seq > since)
    if resources is not None:
        if not resources:
            return [], False
        stmt = stmt.where(t.c.resource.in_(resources))
    if subject_kinds:
        stmt = stmt.join(Subject.__table__, Subject.__table__.c.id == t.c.subject_id).where(
            Subject.__table__.c.kind.in_(subject_kinds))
    rows = list(session.execute(stmt.order_by(t.c.seq).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


_DEPTS: dict[str, tuple[float, dict[int, str]]] = {}


class _Version(NamedTuple):
    record_id: int
    version: int
    status: str
    reason: str | None
    data: Any
    personal_enc: bytes | None


def _department_codes(session: Session) -> dict[int, str]:
    import time

    key = str(session.get_bind().url)
    hit = _DEPTS.get(key)
    if hit is None or time.monotonic() - hit[0] > 60:
        hit = (time.monotonic(), {i: c for i, c in session.execute(select(Department.id, Department.code))})
        _DEPTS[key] = hit
    return hit[1]


def present_changes(session: Session, rows: list[Any], *, full: bool,
                    keyring: Keyring | None = None) -> list[dict[str, Any]]:
    """The changes as a consumer gets them: set-based lookups of versions, records, subjects."""
    if not rows:
        return []
    cat = load_catalogue()
    keyring = keyring or (get_keyring() if full else None)
    record_ids = {c.record_id for c in rows if c.record_id is not None}
    pairs = {(c.record_id, c.version) for c in rows if c.record_id is not None and c.version is not None}
    records: dict[int, Any] = {}
    versions: dict[tuple[int, int], Any] = {}
    if record_ids:
        records = {r.id: r for r in session.execute(
            select(Record.id, Record.natural_key, Record.current_version).where(Record.id.in_(record_ids)))}
    if pairs:
        # Join the (record, version) pairs and seek the unique index once per pair. (A row-value IN
        # list makes SQLite scan the table; an OR of 500 pairs makes planning slow.)
        ordered = sorted(pairs)
        cols = "rv.record_id, rv.version, rv.status, rv.reason, rv.data, rv.personal_enc"
        if session.get_bind().dialect.name == "postgresql":
            stmt = text(f"SELECT {cols} FROM unnest(CAST(:r AS bigint[]), CAST(:v AS integer[])) AS k(r, v) "
                        "JOIN record_versions rv ON rv.record_id = k.r AND rv.version = k.v")
            params: dict[str, Any] = {"r": [p[0] for p in ordered], "v": [p[1] for p in ordered]}
            for row in session.execute(stmt.columns(data=JSON, personal_enc=LargeBinary), params):
                versions[(row.record_id, row.version)] = row
        else:
            # Positional parameters straight to the driver: parsing 1,000 named binds costs more
            # than the query.
            values = ", ".join("(?, ?)" for _ in ordered)
            sql = (f"WITH k(r, v) AS (VALUES {values}) SELECT {cols} FROM k "
                   "JOIN record_versions rv ON rv.record_id = k.r AND rv.version = k.v")
            flat = tuple(x for pair in ordered for x in pair)
            for rid, ver, status, reason, data, penc in session.connection().exec_driver_sql(sql, flat):
                versions[(rid, ver)] = _Version(rid, ver, status, reason,
                                                json.loads(data) if isinstance(data, str) else data, penc)
    subject_ids = {c.subject_id for c in rows if c.subject_id is not None}
    subjects = {}
    if subject_ids:
        subjects = {s.id: s for s in session.execute(
            select(Subject.id, Subject.kind, Subject.name, Subject.uscc, Subject.citizen_id_masked, Subject.region)
            .where(Subject.id.in_(subject_ids)))}
    depts = _department_codes(session)
    out = []
    for c in rows:
        res = cat.resources.get(c.resource)
        rec = records.get(c.record_id) if c.record_id is not None else None
        ver = versions.get((c.record_id, c.version)) if c.version is not None else None
        item: dict[str, Any] = {
            "cursor": encode_cursor(c.seq), "seq": c.seq, "type": c.kind, "type_label": KINDS.get(c.kind, c.kind),
            "resource": c.resource, "tombstone": bool(c.tombstone),
            "occurred_at": c.occurred_at.isoformat() if c.occurred_at else None,
            "subject": subject_summary(subjects.get(c.subject_id)) if c.subject_id is not None else None,
            "department": depts.get(c.department_id),
        }
        if rec is not None:
            record: dict[str, Any] = {"id": rec.id, "key": mask_personal_data(rec.natural_key),
                                      "version": c.version if c.version is not None else rec.current_version}
            if ver is not None:
                record["status"] = ver.status
                record["reason"] = mask_personal_data(ver.reason) if ver.reason else None
                if not c.tombstone and res is not None:
                    record["data"] = present_values(res, ver.data, ver.personal_enc, full=full, keyring=keyring)
            if c.kind == "list.removed":
                item["determination_id"] = c.ref_id
            item["record"] = record
        out.append(item)
    return out


def read_page(session: Session, actor: Actor, *, since: str | None, resources: Iterable[str] | None = None,
              limit: int = DEFAULT_PAGE, subject_kinds: list[str] | None = None) -> Page:
    """One page of the feed for ``actor`` (its scopes and clearance)."""
    if limit < 1 or limit > MAX_PAGE:
        raise InvalidInput(f"每页条数 limit 应为 1–{MAX_PAGE}。", code="invalid_limit")
    position = decode_cursor(since)
    visible = readable_resources(actor, resources)
    sequence_pending(session)
    # Everything visible: no filter at all (the primary key alone orders and bounds the page).
    everything = not resources and len(visible) == len(load_catalogue().resources)
    rows, more = fetch_changes(session, position, resources=None if everything else visible, limit=limit,
                               subject_kinds=subject_kinds)
    changes = present_changes(session, rows, full=full_clearance(actor))
    # With nothing new the cursor stays; otherwise it is the last change returned (stable and exact).
    next_seq = rows[-1].seq if rows else position
    return Page(changes, encode_cursor(next_seq), more)


__all__ = ["KINDS", "Page", "decode_cursor", "encode_cursor", "fetch_changes", "full_clearance", "latest_cursor",
           "present_changes", "present_values", "read_page", "readable_resources", "sequence_pending"]
