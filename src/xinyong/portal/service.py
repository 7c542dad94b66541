"""What the public pages show: subject profiles, double-publicity lists, red/black lists, home.

Every query of records filters with ``publication.public_record_clause`` and labels with
``publication.record_status_label``; the catalogue decides labels, columns and which fields
are public. Personal fields never leave here unmasked.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session, selectinload

from xinyong.catalogue import load_catalogue
from xinyong.catalogue.schemas import (
    CATEGORIES,
    LIST_KINDS,
    POLARITIES,
    Field,
    Resource,
)
from xinyong.departments.models import Department
from xinyong.errors import NotFound
from xinyong.identity.codes import mask_citizen_id
from xinyong.identity.crypto import mask_phone
from xinyong.identity.regions import region_name
from xinyong.intake.models import Record
from xinyong.logging import mask_personal_data
from xinyong.portal.normalize import BadQuery, parse_query
from xinyong.portal.search import (
    RESULT_CAP,
    badges_from_records,
    matching_subject_ids,
    parse_subject_key,
    subject_key,
)
from xinyong.publication import built_on_public_clause, public_record_clause, record_status_label
from xinyong.subjects.models import Subject
from xinyong.subjects.service import KINDS, SUBJECTS_BY_ID, codes_and_former_names, public_profile, resolve_subject

#: Counted at most (a longer list says "more than"): counting millions of rows per page view
#: would cost more than the page.
LIST_COUNT_CAP = 10_000
LIST_PAGE_SIZE = 20
EXPORT_MAX_ROWS = 50_000
PUBLICITY = {"licenses": "admin_license", "penalties": "admin_penalty"}
PUBLICITY_TITLES = {"licenses": "行政许可", "penalties": "行政处罚"}
#: Code-like field types shown as they are (never run through the ID-shaped masking).
_CODE_TYPES = frozenset({"uscc", "org_code", "reg_no"})


def catalogue():
    return load_catalogue()


def portal_today() -> date:
    """The platform's calendar day (the workflows' clock when installed)."""
    try:
        from xinyong.workflows.clock import today
    except ImportError:  # pragma: no cover - the portal also runs without workflows
        return date.today()
    return today()


# --- small caches ---------------------------------------------------------------------------------


class TTLCache:
    """Per-process cache for figures that are expensive to count and fine a minute old."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._data: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any, compute):
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
        if hit and now - hit[0] < self.seconds:
            return hit[1]
        value = compute()
        with self._lock:
            self._data[key] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


home_cache = TTLCache(60)
#: List totals ("共 N 条"): counting is most of a list page's cost; a minute old is fine.
count_cache = TTLCache(60)
_departments_cache = TTLCache(300)


def clear_caches() -> None:
    home_cache.clear()
    count_cache.clear()
    _departments_cache.clear()


def _db_key(session: Session) -> str:
    return session.get_bind().url.render_as_string(hide_password=True)


def departments(session: Session) -> dict[int, Department]:
    def load():
        rows = session.scalars(select(Department).order_by(Department.id)).all()
        for d in rows:
            session.expunge(d)
        return {d.id: d for d in rows}

    return _departments_cache.get(_db_key(session), load)


def departments_for(session: Session, res: Resource) -> list[Department]:
    """Source departments of a resource that are registered, for filter drop-downs."""
    wanted = set(res.source_departments)
    return [d for d in departments(session).values() if d.code in wanted]


def search_regions(session: Session) -> list[tuple[str, str]]:
    """(code, name) of the districts the platform's departments cover, for the region filter."""
    seen: dict[str, str] = {}
    for d in departments(session).values():
        code = getattr(d, "region", None)
        if code and code[4:] != "00" and code not in seen:
            seen[code] = region_name(code) or code
    return sorted(seen.items())


# --- presenting one record ------------------------------------------------------------------------


def _display(field: Field, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)):
        value = "；".join(str(v) for v in value)
    text = str(value)
    if field.open_ended_value and text == field.open_ended_value:
        return "长期"
    if field.enum and not field.multiple:
        text = field.enum_label(text)
    if field.unit:
        text = f"{text} {field.unit}"
    if field.type == "citizen_id":
        return mask_citizen_id(text)
    if field.type == "phone":
        return mask_phone(text)
    if field.type in _CODE_TYPES:
        return text
    return mask_personal_data(text)


def _subject_field_codes(res: Resource) -> set[str]:
    return set(res.subject_fields.referenced().values())


def record_fields(res: Resource, data: dict[str, Any], *, include_subject: bool = False,
                  only: Collection[str] | None = None) -> list[tuple[str, str]]:
    """(label, display value) of a record's public fields, catalogue order, empty ones left out;
    ``only``: just these field codes. Personal fields are never shown here (their values are not
    stored in ``data``)."""
    skip = set() if include_subject else _subject_field_codes(res)
    out = []
    for f in res.public_fields:
        if f.code in skip or f.personal or (only is not None and f.code not in only):
            continue
        shown = _display(f, data.get(f.code))
        if shown is not None:
            out.append((f.label, shown))
    return out


def _record_title(res: Resource, data: dict[str, Any]) -> str:
    for code in ("decision_no", "case_no", "decision_title", "license_no", "certificate_name", "honour_name"):
        if res.has_field(code) and data.get(code):
            return str(data[code])
    return res.name


def present_record(record: Record, res: Resource, depts: dict[int, Department], *,
                   today: date | None = None, fields: Collection[str] | None = None) -> dict[str, Any]:
    dept = depts.get(record.department_id)
    data = record.data or {}
    return {
        "id": record.id,
        "resource": res.code,
        "resource_name": res.name,
        "polarity": res.polarity,
        "polarity_label": POLARITIES[res.polarity],
        "list_kind": res.list_kind,
        "title": mask_personal_data(_record_title(res, data)),
        "department": dept.name if dept else None,
        "date": record.main_date.isoformat() if record.main_date else None,
        "date_label": res.field(res.date_field).label if res.has_field(res.date_field) else "日期",
        "valid_until": (None if record.valid_until is None else
                        "长期" if record.valid_until.year >= 2099 else record.valid_until.isoformat()),
        "public_until": _public_until(record),
        "status": record_status_label(record, today) if today else record_status_label(record),
        "fields": record_fields(res, data, only=fields),
    }


def _public_until(record: Record) -> str | None:
    value = getattr(record, "public_until", None)
    return value.isoformat() if value else None


# --- subject profile ------------------------------------------------------------------------------


def find_public_subject(session: Session, identifier: str, *, today: date | None = None) -> Subject:
    """A subject by any code (or the ``s-<id>`` key of subjects without one) that the public may
    see: organisations, and natural persons only while a record about them is public."""
    sid = parse_subject_key(identifier)
    try:
        subject = session.get(Subject, sid) if sid is not None else resolve_subject(session, identifier)
    except NotFound:
        subject = None
    except Exception as exc:  # malformed code → 400 on the page
        from xinyong.errors import InvalidInput

        if isinstance(exc, InvalidInput):
            raise BadQuery(exc.message, code=exc.code) from None
        raise
    if subject is None:
        raise NotFound("未找到该信用主体。请核对统一社会信用代码或其他代码，或通过名称查询。", code="subject_not_found")
    if subject.kind == "natural_person":
        visible = session.scalar(select(func.count()).select_from(
            select(Record.id).where(Record.subject_id == subject.id, public_record_clause(today)).limit(1).subquery()))
        if not visible or sid is None:
            # Looked up by ID number, or nothing public: the person's presence is not disclosed.
            raise NotFound("未找到该信用主体。请核对统一社会信用代码或其他代码，或通过名称查询。",
                           code="subject_not_found")
    return subject


def subject_basic(session: Session, subject: Subject) -> dict[str, Any]:
    if subject.kind == "natural_person":
        return {"name": subject.name, "kind": subject.kind, "kind_label": KINDS[subject.kind],
                "id_masked": subject.citizen_id_masked, "region": subject.region,
                "region_name": region_name(subject.region), "key": f"s-{subject.id}", "identifiers": [],
                "former_names": []}
    out = public_profile(subject, codes_and_former_names(session, [subject.id])[subject.id])
    out["key"] = subject_key(subject)
    return out


def _group_sections(records: list[dict[str, Any]], cat) -> list[dict[str, Any]]:
    by_resource: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_resource.setdefault(r["resource"], []).append(r)
    sections = []
    for category in CATEGORIES:
        resources = [res for res in cat.by_category().get(category, []) if res.code in by_resource]
        if resources:
            sections.append({"category": category, "resources": [
                {"code": res.code, "name": res.name, "polarity": res.polarity, "list_kind": res.list_kind,
                 "records": by_resource[res.code]} for res in resources]})
    return sections


_PROFILE_COLUMNS = (Record.id, Record.resource, Record.subject_id, Record.department_id, Record.status,
                    Record.main_date, Record.valid_until, Record.public_until, Record.repaired_at,
                    Record.objection_open, Record.published, Record.data)


def _profile_records(today: date | None) -> Any:
    """A subject's public records, newest first: plain rows of the columns a profile shows (no
    ORM objects to build for a page that only reads them)."""
    return built_on_public_clause("portal.profile_records", today, lambda clause: (
        select(*_PROFILE_COLUMNS).where(Record.subject_id == bindparam("subject_id"), clause)
        .order_by(Record.main_date.desc(), Record.id.desc())))


def subject_profile(session: Session, identifier: str, *, today: date | None = None) -> dict[str, Any]:
    """The public credit file (主体信用档案) of a subject: basic facts, then one section per
    catalogue category with the records the public may see now."""
    subject = find_public_subject(session, identifier, today=today)
    cat = catalogue()
    depts = departments(session)
    rows = session.connection().execute(_profile_records(today), {"subject_id": subject.id}).all()
    records = [present_record(r, cat.get(r.resource), depts) for r in rows if r.resource in cat]
    badges = badges_from_records([subject.id], rows)[subject.id]
    return {"subject": subject_basic(session, subject), "subject_id": subject.id, "badges": badges,
            "sections": _group_sections(records, cat), "record_count": len(records)}


def subject_full_file(session: Session, subject_id: int, *, keyring=None) -> dict[str, Any]:
    """A subject's own complete file (my file): every record about it of every disclosure class,
    withdrawn and expired ones labelled. Personal fields are decrypted for the subject only and
    still shown masked where they are ID or phone numbers."""
    from xinyong.identity.crypto import get_keyring

    subject = session.get(Subject, subject_id)
    if subject is None:
        raise NotFound("您的账户尚未关联已登记的信用主体。", code="subject_not_found")
    keyring = keyring or get_keyring()
    cat = catalogue()
    depts = departments(session)
    rows = session.scalars(select(Record).where(Record.subject_id == subject.id)
                           .order_by(Record.main_date.desc(), Record.id.desc())).all()
    records = []
    for r in rows:
        if r.resource not in cat:
            continue
        res = cat.get(r.resource)
        item = present_record(r, res, depts)
        item["disclosure"] = res.disclosure
        item["fields"] = _own_fields(res, r, keyring)
        records.append(item)
    basic = (subject_basic(session, subject) if subject.kind == "natural_person" else
             public_profile(subject, codes_and_former_names(session, [subject.id])[subject.id]))
    basic.setdefault("id_masked", subject.citizen_id_masked)
    return {"subject": basic, "sections": _group_sections(records, cat), "record_count": len(records)}


def _own_fields(res: Resource, record: Record, keyring) -> list[tuple[str, str]]:
    import json

    data = dict(record.data or {})
    if record.personal_enc:
        try:
            data.update(json.loads(keyring.decrypt(record.personal_enc)))
        except Exception:  # noqa: BLE001 - a key problem must not hide the rest of the file
            pass
    skip = _subject_field_codes(res) - {res.subject_fields.citizen_id or ""}
    out = []
    for f in res.fields:
        if f.code in skip:
            continue
        shown = _display(f, data.get(f.code))
        if shown is not None:
            out.append((f.label, shown))
    return out


# --- double publicity and lists -------------------------------------------------------------------


@dataclass
class ListFilter:
    department: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    category: str | None = None
    keyword: str | None = None

    def as_query(self) -> dict[str, str]:
        out = {}
        for k in ("department", "category", "keyword"):
            if getattr(self, k):
                out[k] = getattr(self, k)
        if self.date_from:
            out["date_from"] = self.date_from.isoformat()
        if self.date_to:
            out["date_to"] = self.date_to.isoformat()
        return out


def category_field(res: Resource) -> Field | None:
    """The resource's own category (处罚类别, 许可类别): its first enum field named *_category."""
    for f in res.fields:
        if f.enum and f.code.endswith("_category") and f.code != res.subject_fields.category:
            return f
    return None


def _filtered(session: Session, res: Resource, flt: ListFilter, today: date | None) -> Select:
    stmt = select(Record).where(Record.resource == res.code, public_record_clause(today))
    if flt.department:
        dept = next((d for d in departments(session).values() if d.code == flt.department), None)
        if dept is None:
            raise BadQuery(f"未知的部门：{flt.department}。请从列表中选择部门。", code="invalid_department")
        stmt = stmt.where(Record.department_id == dept.id)
    if flt.date_from and flt.date_to and flt.date_from > flt.date_to:
        raise BadQuery("开始日期不能晚于结束日期。", code="invalid_date_range")
    if flt.date_from:
        stmt = stmt.where(Record.main_date >= flt.date_from)
    if flt.date_to:
        stmt = stmt.where(Record.main_date <= flt.date_to)
    if flt.category:
        f = category_field(res)
        if f is None or flt.category not in f.enum_values:
            allowed = "、".join(f.enum_values) if f else "（该类信息不分类别）"
            raise BadQuery(f"未知的类别：{flt.category}。可选：{allowed}。", code="invalid_category")
        column = Record.data[f.code].as_string()
        stmt = stmt.where(column.like(f"%{flt.category}%") if f.multiple else column == flt.category)
    if flt.keyword:
        ids, _ = matching_subject_ids(session, parse_query(flt.keyword), today=today)
        stmt = stmt.where(Record.subject_id.in_(ids or [-1]))
    return stmt


def _count_capped(session: Session, stmt: Select, cap: int) -> tuple[int, bool]:
    inner = stmt.with_only_columns(Record.id).order_by(None).limit(cap + 1).subquery()
    n = session.scalar(select(func.count()).select_from(inner)) or 0
    return min(n, cap), n <= cap


def count_capped(session: Session, stmt: Select, cap: int = LIST_COUNT_CAP) -> tuple[int, bool]:
    """Rows of a records query, counted up to ``cap``: (count, exact)."""
    return _count_capped(session, stmt, cap)


def _subjects_of(session: Session, records: list[Record]) -> dict[int, Subject]:
    ids = {r.subject_id for r in records}
    if not ids:
        return {}
    subjects = {s.id: s for s in session.scalars(SUBJECTS_BY_ID, {"ids": sorted(ids)})}
    # Identifiers only where ``subject_key`` needs them: an organisation without a USCC.
    need = [sid for sid, s in subjects.items() if not s.uscc and s.kind != "natural_person"]
    if need:
        session.scalars(SUBJECTS_BY_ID.options(selectinload(Subject.identifiers)), {"ids": need}).all()
    return subjects


def _row_subject(s: Subject | None, data: dict[str, Any], res: Resource) -> dict[str, Any]:
    name_code = res.subject_fields.name
    if s is None:
        return {"name": data.get(name_code), "key": None, "uscc": None, "id_masked": None, "kind": None}
    person = s.kind == "natural_person"
    return {"name": data.get(name_code) or s.name, "key": f"s-{s.id}" if person else subject_key(s),
            "uscc": s.uscc, "id_masked": s.citizen_id_masked if person else None, "kind": s.kind}


def record_page(session: Session, res: Resource, flt: ListFilter, *, page: int = 1, size: int = LIST_PAGE_SIZE,
                today: date | None = None, fields: Collection[str] | None = None) -> dict[str, Any]:
    """One page of a public list (double publicity or red/black list), newest first. ``fields``:
    the codes of the fields the page shows (default all public ones)."""
    if page < 1 or not 1 <= size <= 100:
        raise BadQuery("页码从1开始，每页1至100条。", code="invalid_page")
    if (page - 1) * size >= LIST_COUNT_CAP:
        raise BadQuery(f"最多可翻阅前 {LIST_COUNT_CAP} 条，请用日期、部门等条件缩小范围。", code="page_out_of_range")
    stmt = _filtered(session, res, flt, today)
    key = (_db_key(session), res.code, tuple(sorted(flt.as_query().items())), today or portal_today())
    total, exact = count_cache.get(key, lambda: _count_capped(session, stmt, LIST_COUNT_CAP))
    order = (Record.main_date.desc(), Record.id.desc())
    # The page's ids first, from the covering index alone (0014), then only those rows: the rows
    # skipped by the offset are never read.
    ids = stmt.with_only_columns(Record.id).order_by(*order).offset((page - 1) * size).limit(size)
    rows = session.scalars(select(Record).where(Record.id.in_(ids.scalar_subquery())).order_by(*order)).all()
    subjects = _subjects_of(session, rows)
    depts = departments(session)
    items = []
    for r in rows:
        item = present_record(r, res, depts, today=today, fields=fields)
        item["subject"] = _row_subject(subjects.get(r.subject_id), r.data or {}, res)
        items.append(item)
    return {"resource": res.code, "resource_name": res.name, "total": total, "total_exact": exact,
            "page": page, "size": size, "pages": max(1, -(-total // size)), "items": items}


def export_rows(session: Session, res: Resource, flt: ListFilter, *, today: date | None = None
                ) -> tuple[list[str], Iterator[list[str]]]:
    """Header and rows of a filtered public list for CSV/XLSX export (at most EXPORT_MAX_ROWS).
    Only public fields; personal ones masked; the caller makes cells formula-safe."""
    stmt = _filtered(session, res, flt, today).order_by(Record.main_date.desc(), Record.id.desc())
    fields = [f for f in res.public_fields]
    header = [f.label for f in fields] + ["数据来源单位", "状态"]
    depts = departments(session)

    def rows() -> Iterator[list[str]]:
        done = 0
        last: tuple | None = None
        while done < EXPORT_MAX_ROWS:
            page = stmt
            if last is not None:
                # Keyset paging: stable and cheap however deep the export goes.
                page = page.where((Record.main_date < last[0]) | ((Record.main_date == last[0]) & (Record.id < last[1]))
                                  if last[0] is not None else (Record.main_date.is_(None) & (Record.id < last[1])))
            chunk = session.scalars(page.limit(min(2000, EXPORT_MAX_ROWS - done))).all()
            if not chunk:
                return
            subjects = _subjects_of(session, chunk)
            for r in chunk:
                data = r.data or {}
                s = subjects.get(r.subject_id)
                out = []
                for f in fields:
                    if f.personal:
                        masked = s.citizen_id_masked if (s is not None and f.type == "citizen_id") else None
                        out.append(masked or "")
                    else:
                        out.append(_display(f, data.get(f.code)) or "")
                dept = depts.get(r.department_id)
                out.append(dept.name if dept else "")
                out.append(record_status_label(r) or "")
                yield out
            done += len(chunk)
            last = (chunk[-1].main_date, chunk[-1].id)

    return header, rows()


def list_resources() -> list[Resource]:
    """Red, black and watch lists of the catalogue that the public may see."""
    order = {"red": 0, "black": 1, "watch": 2}
    return sorted((r for r in catalogue() if r.list_kind and r.is_public), key=lambda r: (order[r.list_kind], r.code))


def list_resource(code: str) -> Resource:
    cat = catalogue()
    res = cat.resources.get(code)
    if res is None or not res.list_kind or not res.is_public:
        raise NotFound(f"没有名为 {code} 的公开名单。", code="list_not_found")
    return res


def publicity_resource(kind: str) -> Resource:
    return catalogue().get(PUBLICITY[kind])


def list_basis_fields(res: Resource) -> list[str]:
    """Fields of a list entry that state its basis (认定依据, 列入事由 …)."""
    return [f.code for f in res.public_fields if any(w in f.label for w in ("依据", "事由", "原因", "情形"))]


# --- home -----------------------------------------------------------------------------------------


def home_figures(session: Session, today: date | None = None) -> dict[str, Any]:
    """Headline counts and the latest items; cached for a minute per database."""
    day = today or portal_today()

    def compute() -> dict[str, Any]:
        cat = catalogue()
        month_start = day.replace(day=1)
        n_subjects = session.scalar(select(func.count()).select_from(Subject).where(Subject.kind != "natural_person"))
        n_records = session.scalar(select(func.count()).select_from(Record).where(public_record_clause(today)))
        dp = [r.code for r in cat.double_publicity()]
        n_month = session.scalar(select(func.count()).select_from(Record).where(
            Record.resource.in_(dp), Record.main_date >= month_start, Record.main_date <= day,
            public_record_clause(today))) if dp else 0
        latest = {}
        for kind, code in PUBLICITY.items():
            if code in cat:
                latest[kind] = record_page(session, cat.get(code), ListFilter(), size=5, today=today,
                                           fields=())["items"]
        changes = []
        for res in list_resources():
            for item in record_page(session, res, ListFilter(), size=3, today=today, fields=())["items"]:
                item["list_label"] = LIST_KINDS[res.list_kind]
                changes.append(item)
        changes.sort(key=lambda i: (i["date"] or "", i["id"]), reverse=True)
        return {"subjects": n_subjects or 0, "records": n_records or 0, "month_publicity": n_month or 0,
                "month": f"{month_start.year}年{month_start.month}月", "latest": latest, "list_changes": changes[:6]}

    return home_cache.get((_db_key(session), day, today), compute)


__all__ = [
    "EXPORT_MAX_ROWS",
    "LIST_COUNT_CAP",
    "PUBLICITY",
    "PUBLICITY_TITLES",
    "RESULT_CAP",
    "ListFilter",
    "catalogue",
    "category_field",
    "clear_caches",
    "export_rows",
    "home_figures",
    "list_resource",
    "list_resources",
    "portal_today",
    "publicity_resource",
    "record_page",
    "subject_full_file",
    "subject_profile",
]
