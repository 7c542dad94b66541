"""Department queries (部门查询): a subject's file at the caller's clearance, a resource's records
by date with cursor paging, and batch lookups keyed by the caller's own ids.

Every call is audited: the routes go through ``require_access`` (purpose declared, one event
per call), and a batch lookup adds one event per subject found, so each subject's access
history shows the department that looked it up.
"""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.audit.service import record_event
from xinyong.catalogue import load_catalogue
from xinyong.catalogue.schemas import Resource
from xinyong.departments.models import Department
from xinyong.errors import InvalidInput
from xinyong.identity.codes import detect_and_check, normalize_code
from xinyong.identity.crypto import Keyring, get_keyring
from xinyong.intake.models import Record
from xinyong.logging import mask_personal_data
from xinyong.publication import is_public, public_record_clause, record_status_label
from xinyong.subjects.models import Subject, SubjectIdentifier
from xinyong.subjects.service import resolve_subject

from .feed import full_clearance, present_values, readable_resources, subject_summary

MAX_BATCH = 1000
MAX_RECORDS_PER_SUBJECT = 200
RECORD_PAGE = 100
MAX_RECORD_PAGE = 1000
_RECORD_CURSOR = "xr1:"


def _depts(session: Session) -> dict[int, str]:
    return {d.id: d.code for d in session.scalars(select(Department))}


def record_entry(record: Record, res: Resource, *, full: bool, keyring: Keyring | None,
                 depts: dict[int, str]) -> dict[str, Any]:
    withdrawn = record.status == "withdrawn"
    return {
        "id": record.id, "resource": res.code, "resource_name": res.name, "key": mask_personal_data(record.natural_key),
        "version": record.current_version, "status": record.status, "status_label": record_status_label(record),
        "public": is_public(record), "department": depts.get(record.department_id),
        "date": record.main_date.isoformat() if record.main_date else None,
        "valid_until": record.valid_until.isoformat() if record.valid_until else None,
        "repaired": record.repaired_at is not None,
        "data": None if withdrawn else present_values(res, record.data, record.personal_enc, full=full,
                                                       keyring=keyring),
    }


def _records_of(session: Session, actor: Actor, subject_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    cat = load_catalogue()
    visible = readable_resources(actor)
    full = full_clearance(actor)
    keyring = get_keyring() if full else None
    depts = _depts(session)
    out: dict[int, list[dict[str, Any]]] = {sid: [] for sid in subject_ids}
    if not subject_ids or not visible:
        return out
    stmt = select(Record).where(Record.subject_id.in_(subject_ids), Record.resource.in_(visible))
    if not full:
        stmt = stmt.where(public_record_clause())
    for rec in session.scalars(stmt.order_by(Record.subject_id, Record.main_date.desc(), Record.id)):
        items = out[rec.subject_id]
        if len(items) < MAX_RECORDS_PER_SUBJECT:
            items.append(record_entry(rec, cat.get(rec.resource), full=full, keyring=keyring, depts=depts))
    return out


def subject_file(session: Session, actor: Actor, identifier: str) -> dict[str, Any]:
    """A subject (by any of its codes) with the records this caller may see."""
    subject = resolve_subject(session, identifier)
    records = _records_of(session, actor, [subject.id])[subject.id]
    return {"subject": _subject_block(subject), "records": records, "record_count": len(records),
            "truncated": len(records) >= MAX_RECORDS_PER_SUBJECT}


def _subject_block(subject: Subject) -> dict[str, Any]:
    block = subject_summary(subject) or {}
    if subject.kind != "natural_person":
        block.update(legal_rep=subject.legal_rep, reg_status=subject.reg_status, address=subject.address,
                     established=subject.established.isoformat() if subject.established else None,
                     identifiers=[{"scheme": i.scheme, "value": i.value} for i in subject.identifiers
                                  if i.scheme != "citizen_id_hash"])
    return block


# --- records by resource ---------------------------------------------------------------------------


def _encode(record_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_RECORD_CURSOR}{record_id}".encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    if not raw.startswith(_RECORD_CURSOR) or not raw[len(_RECORD_CURSOR):].isdigit():
        raise InvalidInput("游标无效：请使用上一页返回的 next_cursor 原样传回。", code="invalid_cursor")
    return int(raw[len(_RECORD_CURSOR):])


def records_page(session: Session, actor: Actor, resource: str, *, date_from: date | None = None,
                 date_to: date | None = None, cursor: str | None = None, limit: int = RECORD_PAGE) -> dict[str, Any]:
    """A resource's records (main date within the range), in a stable order (record id)."""
    if limit < 1 or limit > MAX_RECORD_PAGE:
        raise InvalidInput(f"每页条数 limit 应为 1–{MAX_RECORD_PAGE}。", code="invalid_limit")
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("起始日期不能晚于截止日期。", code="invalid_date_range")
    readable_resources(actor, [resource])
    res = load_catalogue().get(resource)
    full = full_clearance(actor)
    conds = [Record.resource == resource, Record.id > _decode(cursor)]
    if date_from:
        conds.append(Record.main_date >= date_from)
    if date_to:
        conds.append(Record.main_date <= date_to)
    if not full:
        conds.append(public_record_clause())
    rows = list(session.scalars(select(Record).where(and_(*conds)).order_by(Record.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    keyring = get_keyring() if full else None
    depts = _depts(session)
    subjects = {s.id: s for s in session.scalars(select(Subject).where(Subject.id.in_({r.subject_id for r in rows})))}
    items = []
    for r in rows:
        entry = record_entry(r, res, full=full, keyring=keyring, depts=depts)
        entry["subject"] = subject_summary(subjects.get(r.subject_id))
        items.append(entry)
    return {"resource": resource, "records": items, "count": len(items), "has_more": more,
            "next_cursor": _encode(rows[-1].id) if rows else (cursor or None)}


# --- batch lookup ----------------------------------------------------------------------------------


def batch_lookup(session: Session, actor: Actor, items: list[dict[str, Any]], *,
                 with_records: bool = True) -> dict[str, Any]:
    """Up to 1,000 ``{"id": <caller's id>, "identifier": <any subject code>}``; answers keyed by id.
    Each item is found, not found, or invalid, on its own: one bad code never fails the batch."""
    if not isinstance(items, list) or not items:
        raise InvalidInput("请在 items 中提供要查询的主体：[{\"id\": \"你的编号\", \"identifier\": \"主体代码\"}]。",
                           code="items_required")
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"一次最多查询 {MAX_BATCH} 个主体（本次 {len(items)} 个），请分批查询。", code="too_many_items")
    ids: list[str] = []
    wanted: dict[str, str] = {}  # caller id → normalised code
    results: dict[str, Any] = {}
    for i, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not str(item.get("id") or "").strip():
            raise InvalidInput(f"第 {i} 项缺少 id（调用方自定的编号）。", code="item_id_required")
        key = str(item["id"]).strip()[:100]
        if key in results or key in wanted:
            raise InvalidInput(f"编号 {key} 重复：每项的 id 必须唯一。", code="duplicate_item_id")
        ids.append(key)
        code = normalize_code(str(item.get("identifier") or ""))
        if not code or not code.isascii() or not code.isalnum() or len(code) > 64:
            results[key] = {"status": "invalid", "message": "主体代码格式不正确：只能包含数字和字母。"}
            continue
        wanted[key] = code
    by_value: dict[str, int] = {}
    codes = set(wanted.values())
    if codes:
        for value, sid in session.execute(select(SubjectIdentifier.value, SubjectIdentifier.subject_id)
                                          .where(SubjectIdentifier.value.in_(codes))):
            by_value.setdefault(value, sid)
    keyring = get_keyring()
    hashes: dict[str, str] = {}
    for key, code in wanted.items():
        if code in by_value:
            continue
        check = detect_and_check(code)
        if check.kind == "citizen_id" and check.valid:
            hashes[key] = keyring.keyed_hash(check.normalized)
        elif check.kind is not None and not check.valid:
            results[key] = {"status": "invalid", "message": mask_personal_data(check.message)}
    by_hash: dict[str, int] = {}
    if hashes:
        by_hash = dict(session.execute(select(Subject.citizen_id_hash, Subject.id)
                                       .where(Subject.citizen_id_hash.in_(set(hashes.values())))).all())
    found: dict[str, int] = {}
    for key, code in wanted.items():
        sid = by_value.get(code) or by_hash.get(hashes.get(key, ""))
        if sid is not None:
            found[key] = sid
        elif key not in results:
            results[key] = {"status": "not_found", "message": "未找到该代码对应的信用主体。"}
    subjects = {s.id: s for s in session.scalars(select(Subject).where(Subject.id.in_(set(found.values()))))} \
        if found else {}
    records = _records_of(session, actor, sorted(subjects)) if with_records else {}
    for key, sid in found.items():
        entry: dict[str, Any] = {"status": "found", "subject": _subject_block(subjects[sid])}
        if with_records:
            entry["records"] = records.get(sid, [])
        results[key] = entry
    # One event per subject looked up: it appears in that subject's access history.
    for sid in sorted(subjects):
        record_event(session, "exchange.lookup", actor=actor, subject_id=sid,
                     details={"batch_size": len(items)})
    counts = {"found": len(found), "not_found": sum(1 for r in results.values() if r["status"] == "not_found"),
              "invalid": sum(1 for r in results.values() if r["status"] == "invalid")}
    return {"results": {k: results[k] for k in ids}, "counts": counts}


__all__ = ["MAX_BATCH", "batch_lookup", "record_entry", "records_page", "subject_file"]
