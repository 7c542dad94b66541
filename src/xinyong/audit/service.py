"""Recording, verifying and anchoring the audit chain; a subject's access history."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from xinyong.audit.models import AuditEvent
from xinyong.db.base import utcnow
from xinyong.db.direct import driver_errors
from xinyong.errors import InvalidInput
from xinyong.logging import mask_personal_data

if TYPE_CHECKING:
    from xinyong.accounts.actor import Actor
    from xinyong.accounts.purposes import Purpose

GENESIS = "0" * 64
# Arbitrary constant ("xyau"): the PostgreSQL advisory lock that orders appends.
ADVISORY_LOCK_KEY = 0x78796175
# Keys that must never reach the log, however a caller names them.
_SECRET_KEY = re.compile(r"(^|_)(pass(word|wd)?|secret|api_?key|token|citizen_?id)$", re.IGNORECASE)
_REORDER_WINDOW = 64
_ACTION = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(slots=True)
class AppendedEvent:
    """An event as ``record_event`` appended it: the row's values, ``seq``, ``prev_hash`` and
    ``hash`` included. Not an ORM object: building an ``AuditEvent`` cost more than the rest of
    the append's Python (0.3 million instructions of a joint-measures check's 3.2, callgrind),
    and the row is written by a plain INSERT. Read events back as ``AuditEvent``."""

    seq: int
    time: datetime
    actor_kind: str
    actor_id: str | None
    actor_name: str | None
    role: str | None
    department: str | None
    action: str
    subject_id: int | None
    resources: list[str]
    purpose_code: str | None
    purpose_text: str | None
    request_id: str | None
    details: dict[str, Any] | None
    prev_hash: str
    hash: str = ""


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we write is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _clean_details(value: Any, path: str = "details") -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if _SECRET_KEY.search(str(k)):
                raise ValueError(f"audit {path}.{k}: secrets and citizen IDs are never logged")
            out[str(k)] = _clean_details(v, f"{path}.{k}")
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean_details(v, path) for v in value]
    if isinstance(value, str):
        return mask_personal_data(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask_personal_data(str(value))


def event_payload(ev: AuditEvent | AppendedEvent, *, seq: int | None = None) -> dict[str, Any]:
    """The hashed content of an event: every column except ``hash`` itself."""
    return {
        "seq": ev.seq if seq is None else seq,
        "time": _utc(ev.time).isoformat(timespec="microseconds"),
        "actor_kind": ev.actor_kind,
        "actor_id": ev.actor_id,
        "actor_name": ev.actor_name,
        "role": ev.role,
        "department": ev.department,
        "action": ev.action,
        "subject_id": ev.subject_id,
        "resources": list(ev.resources or []),
        "purpose_code": ev.purpose_code,
        "purpose_text": ev.purpose_text,
        "request_id": ev.request_id,
        "details": ev.details,
        "prev_hash": ev.prev_hash,
    }


# Built once: json.dumps with options builds an encoder per call.
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def compute_hash(ev: AuditEvent | AppendedEvent, *, seq: int | None = None) -> str:
    canonical = _CANONICAL(event_payload(ev, seq=seq))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def canonical_parts(payload: dict[str, Any]) -> tuple[str, str, str]:
    """The canonical JSON of ``payload`` cut around the values of ``prev_hash`` and ``seq``:
    ``a + prev_hash + b + str(seq) + c`` is what ``compute_hash`` hashes. The database fills in
    the head it reads under the lock (``audit_append``)."""
    items = sorted(payload.items())
    keys = [k for k, _ in items]
    enc = [_CANONICAL(k) + ":" + _CANONICAL(v) for k, v in items]
    i, j = keys.index("prev_hash"), keys.index("seq")
    if not i < j:  # fixed by the key names; a renamed key must not cut the text wrongly
        raise RuntimeError("audit payload keys out of the expected order")
    a = "{" + "".join(e + "," for e in enc[:i]) + '"prev_hash":"'
    b = '",' + "".join(e + "," for e in enc[i + 1:j]) + '"seq":'
    c = "".join("," + e for e in enc[j + 1:]) + "}"
    return a, b, c


# A no-op write takes SQLite's single write lock before we read the head
# (a plain SELECT would not, and a concurrent append could slip in between).
_SQLITE_LOCK = text("UPDATE audit_events SET seq = seq WHERE 0 = 1")
_HEAD = select(AuditEvent.__table__.c.seq, AuditEvent.__table__.c.hash).order_by(
    AuditEvent.__table__.c.seq.desc()).limit(1)
_INSERT = AuditEvent.__table__.insert()
_COLUMNS = tuple(c.key for c in AuditEvent.__table__.columns)


def record_event(session: Session, action: str, *, actor: Actor | None = None,
                 subject_id: int | None = None, resources: Iterable[str] = (),
                 purpose: Purpose | None = None, request_id: str | None = None,
                 details: dict[str, Any] | None = None, commit: bool = False) -> AppendedEvent:
    """Append one event in the caller's transaction (it commits or rolls back with the change).

    ``actor`` supplies who (kind, id, name, role, department), the purpose and the request id
    unless given explicitly. Never pass a password, key or citizen ID: keys that look like one
    are refused, and ID-shaped text in values is masked.

    Appends are serialised until the transaction ends (PostgreSQL advisory lock, SQLite write
    lock): in a long transaction, record the event last, just before the commit.

    ``commit=True``: the event ends the unit of work, and the transaction is committed with it;
    nothing may be written after it. On PostgreSQL the COMMIT then travels with the append, so
    other appends wait one round trip for the lock, not until the application commits (under
    load, its threads queue for Python's interpreter lock between any two statements).
    """
    if not _ACTION.match(action or "") or len(action) > 64:
        raise InvalidInput(f"审计动作名称不合法：{action}", code="invalid_audit_action")
    purpose = purpose or (actor.purpose if actor else None)
    details = _clean_details(details) if details is not None else None
    # On the session's connection (its transaction), with statements built once: the ORM's
    # per-statement work cost more than the append itself.
    if session.autoflush:
        session.flush()  # as a Session.execute would: the caller's pending changes go first
    conn = session.connection()
    pg = conn.dialect.name == "postgresql"
    head = None
    if not pg:  # PostgreSQL links the event in audit_append, under the lock (_append_pg)
        conn.execute(_SQLITE_LOCK)  # appends serialised until the commit: each links to the true head
        head = conn.execute(_HEAD).first()
    ev = AppendedEvent(
        seq=(head.seq + 1) if head else 1,
        time=utcnow(),
        actor_kind=actor.kind if actor else "system",
        actor_id=str(actor.id) if actor and actor.id is not None else None,
        actor_name=(actor.name or None) if actor else None,
        role=actor.role if actor else None,
        department=actor.department_code if actor else None,
        action=action,
        subject_id=subject_id,
        resources=sorted(set(resources)),
        purpose_code=purpose.code if purpose else None,
        purpose_text=purpose.text if purpose else None,
        request_id=request_id or (actor.request_id if actor else None),
        details=details,
        prev_hash=head.hash if head else GENESIS,
    )
    if pg:
        _append_pg(conn, ev, commit)
    else:
        ev.hash = compute_hash(ev)
        # A plain INSERT: the row is append-only and keyed by us (seq), so the unit of work has
        # nothing to track, and its flush cost more than the rest of the append.
        conn.execute(_INSERT, [{k: getattr(ev, k) for k in _COLUMNS}])
    if commit:
        session.commit()  # after _append_pg's COMMIT, only the session's bookkeeping
    return ev


_APPEND_ARGS = ("lock, genesis, a, b, c, utf8, time, actor_kind, actor_id, actor_name, role, department, action, "
                "subject_id, resources, purpose_code, purpose_text, request_id, details").split(", ")


def _append_sql(param: str) -> str:
    args = (f"CAST({param.format(k)} AS json)" if k in ("resources", "details") else param.format(k)
            for k in _APPEND_ARGS)
    return f"SELECT new_seq, new_prev_hash, new_hash FROM audit_append({', '.join(args)})"


_PG_APPEND = text(_append_sql(":{}"))  # through SQLAlchemy
_PG_APPEND_RAW = _append_sql("%({})s")  # psycopg's own style, for its pipeline


def _append_pg(conn: Connection, ev: AppendedEvent, commit: bool) -> None:
    """Lock, read the head and insert in one call (migration 0016), with the COMMIT when the
    unit of work ends here (``commit``): psycopg's pipeline sends both and reads both answers in
    one round trip. The function refuses text it would hash differently from the verifier."""
    a, b, c = canonical_parts(event_payload(ev))
    params = {k: getattr(ev, k) for k in _COLUMNS if k not in ("seq", "prev_hash", "hash")}
    params.update(lock=ADVISORY_LOCK_KEY, genesis=GENESIS, a=a, b=b, c=c, utf8=f"{a}{b}{c}".encode(),
                  resources=json.dumps(ev.resources, ensure_ascii=False),
                  details=None if ev.details is None else json.dumps(ev.details, ensure_ascii=False))
    if not commit:
        row = conn.execute(_PG_APPEND, params).one()
    else:  # errors as SQLAlchemy would raise them (a lost server: 503, pool renewed)
        with driver_errors(conn, _PG_APPEND_RAW, params) as raw:
            with raw.pipeline():
                cur = raw.execute(_PG_APPEND_RAW, params)
                raw.commit()
            row = cur.fetchone()
    ev.seq, ev.prev_hash, ev.hash = row
    expected = hashlib.sha256(f"{a}{ev.prev_hash}{b}{ev.seq}{c}".encode()).hexdigest()
    if ev.hash != expected:  # the function compared the bytes first: this would be a bug here
        raise RuntimeError(f"audit_append hashed event {ev.seq} differently from the application")


# -- verification ---------------------------------------------------------------------------------


@dataclass
class VerifyResult:
    ok: bool
    count: int
    head_seq: int | None
    head_hash: str | None
    first_bad_seq: int | None = None
    #: modified | deleted | reordered (None when ok)
    reason: str | None = None
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Anchor:
    head_seq: int
    head_hash: str
    time: str
    count: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Anchor:
        try:
            anchor = cls(head_seq=int(data["head_seq"]), head_hash=str(data["head_hash"]),
                         time=str(data["time"]), count=int(data["count"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput("锚点文件格式不正确：应包含 head_seq、head_hash、time、count。",
                               code="invalid_anchor") from exc
        if not re.fullmatch(r"[0-9a-f]{64}", anchor.head_hash):
            raise InvalidInput("锚点文件中的 head_hash 不是64位十六进制 SHA-256。", code="invalid_anchor")
        return anchor


def _seq_of_hash(session: Session, h: str) -> int | None:
    if h == GENESIS:
        return 0
    return session.scalar(select(AuditEvent.seq).where(AuditEvent.hash == h).limit(1))


def _diagnose(session: Session, ev: AuditEvent, expected_prev: str) -> tuple[str, int, str]:
    """Why an event fails: (reason, first bad seq, Chinese message)."""
    if compute_hash(ev) != ev.hash:
        for delta in range(1, _REORDER_WINDOW + 1):
            for original in (ev.seq + delta, ev.seq - delta):
                if original > 0 and compute_hash(ev, seq=original) == ev.hash:
                    if original > ev.seq and _seq_of_hash(session, ev.prev_hash) is None:
                        return ("deleted", ev.seq,
                                (f"第 {ev.seq} 号位置之前的事件被删除，后续事件被重新编号"
                                 f"（该事件原为第 {original} 号）。"))
                    return ("reordered", ev.seq,
                            f"第 {ev.seq} 号事件的顺序被调换（该事件原为第 {original} 号）。")
        return "modified", ev.seq, f"第 {ev.seq} 号事件的内容被修改（重新计算的哈希与记录不符）。"
    where = _seq_of_hash(session, ev.prev_hash)
    if where is not None:
        return ("reordered", ev.seq,
                f"第 {ev.seq} 号事件的顺序被调换（它应排在第 {where} 号事件之后）。")
    return ("modified", max(ev.seq - 1, 1),
            f"第 {max(ev.seq - 1, 1)} 号事件被改写或替换（第 {ev.seq} 号事件记录的前序哈希与之不符）。")


def verify_chain(session: Session, anchor: Anchor | None = None, *, batch: int = 2000) -> VerifyResult:
    """Recompute the whole chain; stop at the first modified, deleted or reordered event.

    With an ``anchor`` (exported earlier), also check the chain still contains that head:
    this catches truncation and a chain rewritten from scratch.
    """
    expected_seq, prev = 1, GENESIS
    count, head_seq, head_hash = 0, None, None
    # Plain rows, not ORM objects: an identity map could hide what is really stored.
    stmt = select(*AuditEvent.__table__.c).order_by(AuditEvent.seq).execution_options(yield_per=batch)
    result = session.execute(stmt)
    try:
        for ev in result:
            if ev.seq != expected_seq:
                gap = (f"第 {expected_seq} 号事件" if ev.seq == expected_seq + 1
                       else f"第 {expected_seq}–{ev.seq - 1} 号事件")
                return VerifyResult(False, count, head_seq, head_hash, expected_seq, "deleted",
                                    f"审计链断裂：{gap}缺失（已被删除）。")
            if compute_hash(ev) != ev.hash or ev.prev_hash != prev:
                reason, bad, message = _diagnose(session, ev, prev)
                return VerifyResult(False, count, head_seq, head_hash, bad, reason, f"审计链断裂：{message}")
            count += 1
            expected_seq, prev = ev.seq + 1, ev.hash
            head_seq, head_hash = ev.seq, ev.hash
    finally:
        result.close()
    if anchor is not None and anchor.head_seq > 0:
        if anchor.head_seq > (head_seq or 0):
            return VerifyResult(False, count, head_seq, head_hash, (head_seq or 0) + 1, "deleted",
                                f"与锚点不符：锚点记录的第 {anchor.head_seq} 号事件已不存在，"
                                f"审计链只到第 {head_seq or 0} 号（末尾事件被删除）。")
        at = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == anchor.head_seq))
        if at != anchor.head_hash:
            return VerifyResult(False, count, head_seq, head_hash, anchor.head_seq, "modified",
                                f"与锚点不符：第 {anchor.head_seq} 号事件的哈希与锚点记录不同"
                                "（该事件或其之前的事件被改写）。")
    msg = (f"审计链完整：共 {count} 条事件" + (f"，最新为第 {head_seq} 号" if head_seq else "") +
           ("；与锚点一致。" if anchor else "。"))
    return VerifyResult(True, count, head_seq, head_hash, message=msg)


def make_anchor(session: Session) -> Anchor:
    """The current head, for an external witness (print it, mail it, commit it elsewhere)."""
    head = session.execute(select(AuditEvent.seq, AuditEvent.hash)
                           .order_by(AuditEvent.seq.desc()).limit(1)).first()
    count = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    return Anchor(head_seq=head.seq if head else 0, head_hash=head.hash if head else GENESIS,
                  time=utcnow().isoformat(timespec="seconds"), count=count)


# -- reading --------------------------------------------------------------------------------------


def event_to_dict(ev: AuditEvent) -> dict[str, Any]:
    return {**event_payload(ev), "hash": ev.hash}


def list_events(session: Session, *, limit: int = 50, action: str | None = None,
                subject_id: int | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(limit)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if subject_id is not None:
        stmt = stmt.where(AuditEvent.subject_id == subject_id)
    return list(session.scalars(stmt))


ACTOR_KIND_LABELS = {"user": "工作人员", "client": "部门接口", "cli": "平台运维", "system": "系统"}


def access_history(session: Session, subject_id: int, *, page: int = 1, size: int = 20,
                   resource_names: dict[str, str] | None = None) -> dict[str, Any]:
    """Who read a subject's non-public information (查询记录), newest first.

    Shows the department and role, not the staff member's name: the subject learns which
    office looked and why; the names stay with the auditor.
    """
    from xinyong.accounts.purposes import load_purposes
    from xinyong.accounts.roles import role_label
    from xinyong.departments.models import Department

    base = select(AuditEvent).where(AuditEvent.subject_id == subject_id,
                                    AuditEvent.action.like("%.read"),
                                    AuditEvent.role != "subject")
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows: Sequence[AuditEvent] = session.scalars(
        base.order_by(AuditEvent.seq.desc()).offset((page - 1) * size).limit(size)).all()
    codes = {r.department for r in rows if r.department}
    names = dict(session.execute(select(Department.code, Department.name)
                                 .where(Department.code.in_(codes))).all()) if codes else {}
    purposes = load_purposes()
    resource_names = resource_names or {}
    items = []
    for r in rows:
        p = purposes.get(r.purpose_code or "")
        items.append({
            "time": _utc(r.time).isoformat(timespec="seconds"),
            "department": names.get(r.department or "", r.department) if r.department else "信用办（平台）",
            "role": r.role,
            "role_label": role_label(r.role),
            "channel": ACTOR_KIND_LABELS.get(r.actor_kind, r.actor_kind),
            "action": r.action,
            "resources": [{"code": c, "name": resource_names.get(c, c)} for c in (r.resources or [])],
            "purpose_code": r.purpose_code,
            "purpose": p.name if p else r.purpose_code,
            "purpose_text": r.purpose_text,
        })
    return {"total": total, "page": page, "size": size, "items": items}
