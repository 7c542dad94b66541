"""The vocabulary indicator definitions may use: named measures, their filters and groupings.

An indicator's numerator and denominator are each a *measure* (a count over platform data)
with *filters*. Only what is declared here can be written in the YAML, every value is checked
by ``definitions.py`` before anything runs, and every query is built with SQLAlchemy and bound
parameters: a definition file can never inject SQL.

Each measure states how it splits by the four groupings:
- ``split``: counted separately for each department / sector / region / month;
- ``constant``: the same figure for every group (e.g. the number of registered enterprises is
  the denominator of every sector's coverage);
- absent: the grouping is not meaningful for that measure, and the loader refuses it.

Month semantics: ``event`` counts what happened in each month; ``cumulative`` is the state at
the end of each month (coverage grows as records arrive).

Workflow cases (objections, repair applications) are counted from their own tables; the use of
credit reports by departments from the audit log, the only place the department that requested a
report is recorded. Measures whose source tables belong to features not built yet (joint
measures, #7) are declared ``pending``: an indicator using one reports "未接入" with the reason,
never a made-up number.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import String, case, cast, distinct, func, inspect, or_, select
from sqlalchemy.orm import Session

from xinyong.catalogue import load_catalogue
from xinyong.catalogue.schemas import CATEGORIES, POLARITIES, SUBJECT_KINDS
from xinyong.departments.models import Department
from xinyong.intake.models import IntakeBatch, Record
from xinyong.subjects.models import Subject

DIMENSIONS: dict[str, str] = {"department": "部门", "sector": "领域", "region": "地区", "month": "月份"}
ORG_TYPES: dict[str, str] = {"enterprise": "企业", "public_institution": "事业单位", "social_org": "社会组织",
                             "government": "机关", "other": "其他组织"}
BATCH_COLUMNS: dict[str, str] = {"rows_total": "报送行数", "rows_accepted": "接收行数",
                                 "rows_rejected": "拒收行数", "rows_matched": "匹配主体行数"}


class NotConnected(Exception):
    """The data a measure needs is not (yet) on the platform."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FilterSpec:
    label: str
    #: str_list | bool | int | choice
    kind: str
    #: fixed allowed values (choice, str_list)
    choices: tuple[str, ...] | None = None
    #: values checked against live vocabularies: resource | category | sector | department
    vocab: str | None = None
    minimum: int | None = None


@dataclass(frozen=True)
class Measure:
    name: str
    label: str
    filters: dict[str, FilterSpec]
    dims: dict[str, str]
    #: event | cumulative | constant (how "month" behaves)
    month_mode: str = "event"
    pending: str | None = None  # the issue that will provide the data
    tables: tuple[str, ...] = ()
    compute: Callable[..., Counts] | None = field(default=None, compare=False)

    def describe(self, filters: dict[str, Any]) -> str:
        parts = []
        for key, value in filters.items():
            spec = self.filters[key]
            if isinstance(value, bool):
                shown = "是" if value else "否"
            elif isinstance(value, list):
                shown = "、".join(str(v) for v in value)
            else:
                shown = str(value)
            parts.append(f"{spec.label}：{shown}")
        return self.label + (f"（{'；'.join(parts)}）" if parts else "")


# --- results -------------------------------------------------------------------------------------


@dataclass
class Counts:
    """A measure's figures: overall, and per group for each grouping it was asked for."""

    total: float = 0
    groups: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Context:
    session: Session
    as_of: date
    months: list[str]  # the trend window, oldest first ("2025-01")
    dims: set[str]
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name


# --- filter vocabularies ---------------------------------------------------------------------------

_RESOURCE_FILTERS: dict[str, FilterSpec] = {
    "resource": FilterSpec("信息资源", "str_list", vocab="resource"),
    "exclude_resource": FilterSpec("排除信息资源", "str_list", vocab="resource"),
    "category": FilterSpec("目录类别", "str_list", choices=CATEGORIES),
    "exclude_category": FilterSpec("排除目录类别", "str_list", choices=CATEGORIES),
    "sector": FilterSpec("领域", "str_list", vocab="sector"),
    "polarity": FilterSpec("信息性质", "str_list", choices=tuple(POLARITIES)),
    "double_publicity": FilterSpec("双公示", "bool"),
}
_SUBJECT_FILTERS: dict[str, FilterSpec] = {
    "kind": FilterSpec("主体类别", "str_list", choices=tuple(SUBJECT_KINDS)),
    "org_type": FilterSpec("机构类型", "str_list", choices=tuple(ORG_TYPES)),
    "verified": FilterSpec("已在登记库登记", "bool"),
    "reg_status_not": FilterSpec("排除登记状态", "str_list"),
    "region": FilterSpec("地区（行政区划代码）", "str_list"),
}
_DEPARTMENT_FILTERS: dict[str, FilterSpec] = {
    "level": FilterSpec("部门层级", "str_list", choices=("city", "district")),
    "source_only": FilterSpec("仅目录中的数据来源单位", "bool"),
}
_RECORD_DEPT = {"department": FilterSpec("数据来源单位", "str_list", vocab="department")}


def resource_codes(filters: dict[str, Any]) -> list[str] | None:
    """The resources the catalogue-level filters select; None when none of them is set."""
    keys = set(_RESOURCE_FILTERS) & set(filters)
    if not keys:
        return None
    out = []
    for r in load_catalogue():
        if "resource" in filters and r.code not in filters["resource"]:
            continue
        if r.code in filters.get("exclude_resource", ()):
            continue
        if "category" in filters and r.category not in filters["category"]:
            continue
        if r.category in filters.get("exclude_category", ()):
            continue
        if "sector" in filters and r.sector not in filters["sector"]:
            continue
        if "polarity" in filters and r.polarity not in filters["polarity"]:
            continue
        if "double_publicity" in filters and bool(r.double_publicity) != filters["double_publicity"]:
            continue
        out.append(r.code)
    return out


def sector_of_resource() -> dict[str, str]:
    return {r.code: r.sector for r in load_catalogue()}


def month_expr(col, dialect: str):
    """'YYYY-MM' of a date or timestamp column, on either database."""
    if dialect == "postgresql":
        return func.to_char(col, "YYYY-MM")
    return func.substr(cast(col, String), 1, 7)


def _department_ids(session: Session, codes: Iterable[str]) -> list[int]:
    return list(session.scalars(select(Department.id).where(Department.code.in_(list(codes)))))


def _departments(ctx: Context) -> dict[int, Department]:
    if "departments" not in ctx.cache:
        ctx.cache["departments"] = {d.id: d for d in ctx.session.scalars(select(Department))}
    return ctx.cache["departments"]


def _subject_clauses(filters: dict[str, Any]) -> list:
    out = []
    if "kind" in filters:
        out.append(Subject.kind.in_(filters["kind"]))
    if "org_type" in filters:
        out.append(Subject.org_type.in_(filters["org_type"]))
    if "verified" in filters:
        out.append(Subject.verified == filters["verified"])
    if "reg_status_not" in filters:
        out.append(or_(Subject.reg_status.is_(None), Subject.reg_status.not_in(filters["reg_status_not"])))
    if "region" in filters:
        out.append(Subject.region.in_(filters["region"]))
    return out


def _cumulate(per_month: dict[str, float], months: list[str]) -> dict[str, float]:
    """Running totals at the end of each window month (earlier months count towards the first)."""
    out, running, items = {}, 0.0, sorted((k, v) for k, v in per_month.items() if k)
    i = 0
    for m in months:
        while i < len(items) and items[i][0] <= m:
            running += items[i][1]
            i += 1
        out[m] = running
    return out


# --- subjects ------------------------------------------------------------------------------------


def _compute_subjects(ctx: Context, filters: dict[str, Any]) -> Counts:
    where = _subject_clauses(filters)
    s = ctx.session
    c = Counts(total=s.scalar(select(func.count()).select_from(Subject).where(*where)) or 0)
    if "region" in ctx.dims:
        rows = s.execute(select(Subject.region, func.count()).where(*where).group_by(Subject.region))
        c.groups["region"] = {k or "": n for k, n in rows}
    if "month" in ctx.dims:
        m = month_expr(Subject.created_at, ctx.dialect)
        rows = s.execute(select(m, func.count()).where(*where).group_by(m))
        c.groups["month"] = _cumulate({k: n for k, n in rows}, ctx.months)
    return c


# --- subjects with at least one active record (credit file coverage) ------------------------------


_CLASS = (Subject.kind, Subject.org_type, Subject.verified, Subject.reg_status, Subject.region)


def _class_matches(filters: dict[str, Any], kind, org_type, verified, reg_status, region) -> bool:
    """The Python twin of ``_subject_clauses`` for one subject class row."""
    if "kind" in filters and kind not in filters["kind"]:
        return False
    if "org_type" in filters and org_type not in filters["org_type"]:
        return False
    if "verified" in filters and bool(verified) != filters["verified"]:
        return False
    if reg_status is not None and reg_status in filters.get("reg_status_not", ()):
        return False
    return not ("region" in filters and region not in filters["region"])


def _covered_by_class(ctx: Context, filters: dict[str, Any], dim: str | None) -> list[tuple]:
    """Distinct covered subjects per (subject class, group): one scan serves every coverage indicator.

    A subject has exactly one class (kind, org type, registry flag, status, region), so distinct
    counts per class add up: enterprises, social organisations and persons are all read from the
    same grouped query instead of one scan each.
    """
    codes = resource_codes(filters)
    depts = tuple(filters.get("department", ()))
    key = ("covered", tuple(codes) if codes is not None else None, depts, dim)
    if key in ctx.cache:
        return ctx.cache[key]
    where = [Record.status == "active"]
    if codes is not None:
        where.append(Record.resource.in_(codes))
    if depts:
        where.append(Record.department_id.in_(_department_ids(ctx.session, depts)))
    if dim == "month":
        # A subject's file exists from the month its first record reached the platform.
        first = (select(Record.subject_id.label("sid"), func.min(Record.created_at).label("first"))
                 .where(*where).group_by(Record.subject_id).subquery())
        m = month_expr(first.c.first, ctx.dialect)
        stmt = (select(*_CLASS, m, func.count()).select_from(first).join(Subject, Subject.id == first.c.sid)
                .group_by(*_CLASS, m))
    else:
        group = {None: None, "department": Record.department_id,
                 "sector": case(sector_of_resource(), value=Record.resource, else_="其他")}[dim]
        cols = [*_CLASS] + ([group] if group is not None else [])
        stmt = (select(*cols, func.count(distinct(Record.subject_id))).select_from(Record)
                .join(Subject, Subject.id == Record.subject_id).where(*where).group_by(*cols))
    rows = [tuple(r) for r in ctx.session.execute(stmt)]
    ctx.cache[key] = rows
    return rows


def _compute_subjects_with_records(ctx: Context, filters: dict[str, Any]) -> Counts:
    c = Counts()
    regions: dict[str, float] = defaultdict(float)
    for *cls, n in _covered_by_class(ctx, filters, None):
        if _class_matches(filters, *cls):
            c.total += n
            regions[cls[4] or ""] += n
    if "region" in ctx.dims:
        c.groups["region"] = dict(regions)
    depts = _departments(ctx)
    for dim in ("department", "sector", "month"):
        if dim not in ctx.dims:
            continue
        out: dict[str, float] = defaultdict(float)
        for *cls, k, n in _covered_by_class(ctx, filters, dim):
            if _class_matches(filters, *cls):
                if dim == "department":
                    k = depts[k].code if k in depts else str(k)
                out[k or ""] += n
        c.groups[dim] = _cumulate(out, ctx.months) if dim == "month" else dict(out)
    return c


# --- records (one aggregate "cube" shared by every records measure) --------------------------------


def _window_month(col, ctx: Context, *, timestamp: bool):
    """'YYYY-MM' inside the trend window, NULL before it: keeps the cube to ~25 months."""
    first = date.fromisoformat(ctx.months[0] + "-01")
    bound = datetime.combine(first, datetime.min.time(), tzinfo=UTC) if timestamp else first
    return case((col >= bound, month_expr(col, ctx.dialect)), else_=None)


def _record_cube(ctx: Context, month_by: str) -> list[tuple]:
    """(resource, department_id, region, status, on_time, month, count) of every record.

    One grouped scan per month basis serves every records measure of a refresh: at 10 million
    records that is one pass instead of one per indicator and grouping. Months before the trend
    window are collapsed (only the window is charted), which bounds the cube's size.
    """
    key = ("record_cube", month_by)
    if key not in ctx.cache:
        col = Record.created_at if month_by == "created_at" else Record.main_date
        m = _window_month(col, ctx, timestamp=month_by == "created_at")
        cols = (Record.resource, Record.department_id, Subject.region, Record.status, Record.on_time, m)
        stmt = (select(*cols, func.count()).select_from(Record).outerjoin(Subject, Subject.id == Record.subject_id)
                .group_by(*cols))
        ctx.cache[key] = [tuple(row) for row in ctx.session.execute(stmt)]
    return ctx.cache[key]


def _compute_records(ctx: Context, filters: dict[str, Any]) -> Counts:
    codes = resource_codes(filters)
    codes = set(codes) if codes is not None else None
    dept_ids = set(_department_ids(ctx.session, filters["department"])) if "department" in filters else None
    regions = set(filters["region"]) if "region" in filters else None
    status = filters.get("status", "active")
    on_time = filters.get("on_time")
    known = filters.get("timeliness_known")
    month_by = filters.get("month_by", "main_date")
    sectors = sector_of_resource()
    depts = _departments(ctx)
    c = Counts()
    groups: dict[str, dict[str, float]] = {d: defaultdict(float) for d in ctx.dims}
    for resource, dept_id, region, st, ot, month, n in _record_cube(ctx, month_by):
        if codes is not None and resource not in codes:
            continue
        if dept_ids is not None and dept_id not in dept_ids:
            continue
        if regions is not None and region not in regions:
            continue
        if status != "any" and st != status:
            continue
        if on_time is not None and (ot is None or bool(ot) != on_time):
            continue
        if known is not None and (ot is not None) != known:
            continue
        c.total += n
        if "department" in groups:
            groups["department"][depts[dept_id].code if dept_id in depts else str(dept_id)] += n
        if "sector" in groups:
            groups["sector"][sectors.get(resource, "其他")] += n
        if "region" in groups:
            groups["region"][region or ""] += n
        if "month" in groups and month:
            groups["month"][month] += n
    c.groups = {k: dict(v) for k, v in groups.items()}
    return c


# --- departments -----------------------------------------------------------------------------------


def _department_rows(ctx: Context, filters: dict[str, Any]) -> list[Department]:
    rows = list(_departments(ctx).values())
    if "level" in filters:
        rows = [d for d in rows if d.level in filters["level"]]
    if filters.get("source_only"):
        sources = {code for r in load_catalogue() for code in r.source_departments}
        rows = [d for d in rows if d.code in sources]
    return rows


def department_counts(ctx: Context, allowed: dict[Any, Department], ids: Iterable[Any],
                      monthly: Callable[[], Iterable[tuple[str, Any]]]) -> Counts:
    """Departments counted once each (``ids``, limited to ``allowed``; keyed by id or by code),
    grouped by department and region; by month from ``monthly()``'s (month, department key)
    pairs, each pair once."""
    ids = {i for i in ids if i in allowed}
    c = Counts(total=len(ids))
    if "department" in ctx.dims:
        c.groups["department"] = {allowed[i].code: 1 for i in ids}
    if "region" in ctx.dims:
        regions: dict[str, float] = defaultdict(float)
        for i in ids:
            regions[allowed[i].region or ""] += 1
        c.groups["region"] = dict(regions)
    if "month" in ctx.dims:
        months: dict[str, float] = defaultdict(float)
        for month, dept_id in set(monthly()):
            if dept_id in allowed:
                months[month] += 1
        c.groups["month"] = dict(months)
    return c


def _compute_departments(ctx: Context, filters: dict[str, Any]) -> Counts:
    rows = _department_rows(ctx, filters)
    c = Counts(total=len(rows))
    if "department" in ctx.dims:
        c.groups["department"] = {d.code: 1 for d in rows}
    if "region" in ctx.dims:
        regions: dict[str, float] = defaultdict(float)
        for d in rows:
            regions[d.region or ""] += 1
        c.groups["region"] = dict(regions)
    return c


def _batch_clauses(ctx: Context, filters: dict[str, Any]) -> list:
    where = [IntakeBatch.status == "committed"]
    codes = resource_codes(filters)
    if codes is not None:
        where.append(IntakeBatch.resource.in_(codes))
    if filters.get("within_days"):
        # "In the last N days" includes today: 30 days back from as_of, inclusive.
        where.append(IntakeBatch.submitted_on > ctx.as_of - timedelta(days=int(filters["within_days"])))
    where.append(IntakeBatch.submitted_on <= ctx.as_of)
    if "department" in filters:
        where.append(IntakeBatch.department_id.in_(_department_ids(ctx.session, filters["department"])))
    return where


def _compute_departments_submitting(ctx: Context, filters: dict[str, Any]) -> Counts:
    allowed = {d.id: d for d in _department_rows(ctx, filters)}
    s = ctx.session
    ids = s.scalars(select(IntakeBatch.department_id).where(*_batch_clauses(ctx, filters)).distinct())

    def monthly() -> Iterable[tuple[str, int]]:
        # Departments that submitted in each calendar month (the window filter does not apply).
        unwindowed = {k: v for k, v in filters.items() if k != "within_days"}
        m = month_expr(IntakeBatch.submitted_on, ctx.dialect)
        return s.execute(select(m, IntakeBatch.department_id).where(*_batch_clauses(ctx, unwindowed))
                         .group_by(m, IntakeBatch.department_id)).all()

    return department_counts(ctx, allowed, ids, monthly)


def _compute_batch_rows(ctx: Context, filters: dict[str, Any]) -> Counts:
    col = getattr(IntakeBatch, filters.get("column", "rows_total"))
    where = _batch_clauses(ctx, filters)
    s = ctx.session
    c = Counts(total=s.scalar(select(func.coalesce(func.sum(col), 0)).where(*where)) or 0)
    depts = _departments(ctx)
    if {"department", "region"} & ctx.dims:
        rows = list(s.execute(select(IntakeBatch.department_id, func.sum(col)).where(*where)
                              .group_by(IntakeBatch.department_id)))
        if "department" in ctx.dims:
            c.groups["department"] = {depts[d].code if d in depts else str(d): float(n or 0) for d, n in rows}
        if "region" in ctx.dims:
            regions: dict[str, float] = defaultdict(float)
            for d, n in rows:
                regions[(depts[d].region if d in depts else None) or ""] += float(n or 0)
            c.groups["region"] = dict(regions)
    if "sector" in ctx.dims:
        sectors = sector_of_resource()
        out: dict[str, float] = defaultdict(float)
        for res, n in s.execute(select(IntakeBatch.resource, func.sum(col)).where(*where)
                                .group_by(IntakeBatch.resource)):
            out[sectors.get(res, "其他")] += float(n or 0)
        c.groups["sector"] = dict(out)
    if "month" in ctx.dims:
        m = month_expr(IntakeBatch.submitted_on, ctx.dialect)
        c.groups["month"] = {k: float(n or 0) for k, n in s.execute(select(m, func.sum(col)).where(*where)
                                                                    .group_by(m))}
    return c


# --- workflow cases: objections and repair applications --------------------------------------------

CREDIT_OFFICE = "credit_office"  # group key of cases the credit office handles (no source department)
_CASE_FILTERS: dict[str, FilterSpec] = {
    "department": FilterSpec("办理部门", "str_list", vocab="department"),
    "region": FilterSpec("主体所在地区（行政区划代码）", "str_list"),
    "decided": FilterSpec("已办结（作出处理决定）", "bool"),
    "on_time": FilterSpec("在规定期限内办结", "bool"),
}


def _case_model(workflow: str):
    from xinyong.workflows.models import Objection, RepairApplication

    return Objection if workflow == "objection" else RepairApplication


def _case_states(workflow: str) -> tuple[str, ...]:
    from xinyong.workflows import objections, repair

    return tuple((objections.MACHINE if workflow == "objection" else repair.MACHINE).states)


def _compute_cases(workflow: str, fixed: dict[str, Any]) -> Callable[[Context, dict[str, Any]], Counts]:
    """Count cases filed up to the as-of day. ``decided``: a decision was made by then (a case the
    applicant cancelled is never decided); ``on_time``: decided no later than the deadline the
    applicant was given at filing (``due_on``, from the policy then in force). Months are those of
    the decision when only decided cases count, else of filing, so a rate's two sides line up."""

    def run(ctx: Context, filters: dict[str, Any]) -> Counts:
        f = {**filters, **fixed}
        model = _case_model(workflow)
        decided_col, due = model.decided_on, model.due_on
        where = [model.filed_on <= ctx.as_of]
        is_decided = decided_col <= ctx.as_of  # NULL (undecided) never matches
        decided_only = f.get("decided") is True or "on_time" in f
        if "decided" in f:
            where.append(is_decided if f["decided"] else or_(decided_col.is_(None), decided_col > ctx.as_of))
        if "on_time" in f:
            where.append(is_decided)
            where.append(decided_col <= due if f["on_time"] else decided_col > due)
        if "state" in f:
            where.append(model.state.in_(f["state"]))
        if "department" in f:
            where.append(model.department_id.in_(_department_ids(ctx.session, f["department"])))
        if "region" in f:
            where.append(Subject.region.in_(f["region"]))
        month = month_expr(decided_col if decided_only else model.filed_on, ctx.dialect)
        cols = (model.department_id, Subject.region, month)
        stmt = (select(*cols, func.count()).select_from(model).outerjoin(Subject, Subject.id == model.subject_id)
                .where(*where).group_by(*cols))
        depts = _departments(ctx)
        c = Counts()
        groups: dict[str, dict[str, float]] = {d: defaultdict(float) for d in ctx.dims}
        for dept_id, region, m, n in ctx.session.execute(stmt):
            c.total += n
            if "department" in groups:
                key = CREDIT_OFFICE if dept_id is None else (depts[dept_id].code if dept_id in depts else str(dept_id))
                groups["department"][key] += n
            if "region" in groups:
                groups["region"][region or ""] += n
            if "month" in groups and m:
                groups["month"][m] += n
        c.groups = {k: dict(v) for k, v in groups.items()}
        return c

    return run


# --- departments that obtained credit reports through the department API ---------------------------

#: The audit action the department report API (POST /api/v1/reports) writes for every request,
#: with the requesting actor's department: the only place the requester is recorded (the
#: ``reports`` register is per subject and reused across requesters).
REPORT_REQUEST_ACTION = "report.read"


def _compute_departments_using_reports(ctx: Context, filters: dict[str, Any]) -> Counts:
    from xinyong.audit.models import AuditEvent

    allowed = {d.code: d for d in _department_rows(ctx, filters)}
    end = datetime.combine(ctx.as_of + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    where = [AuditEvent.action == REPORT_REQUEST_ACTION, AuditEvent.department.is_not(None), AuditEvent.time < end]
    monthly = list(where)
    if filters.get("within_days"):
        start = end - timedelta(days=int(filters["within_days"]))
        where.append(AuditEvent.time >= start)
    s = ctx.session
    m = month_expr(AuditEvent.time, ctx.dialect)
    # Keyed by department code here (the audit event records the code): same counting rules.
    return department_counts(ctx, allowed, s.scalars(select(AuditEvent.department).where(*where).distinct()),
                             lambda: s.execute(select(m, AuditEvent.department).where(*monthly).distinct()))


# --- the vocabulary --------------------------------------------------------------------------------

_REC_FILTERS = {
    **_RESOURCE_FILTERS, **_RECORD_DEPT,
    "region": FilterSpec("地区（行政区划代码）", "str_list"),
    "status": FilterSpec("记录状态", "choice", choices=("active", "withdrawn", "any")),
    "on_time": FilterSpec("7个工作日内公示", "bool"),
    "timeliness_known": FilterSpec("有公示时效数据", "bool"),
    "month_by": FilterSpec("按月统计依据", "choice", choices=("main_date", "created_at")),
}
_BATCH_FILTERS = {**_RESOURCE_FILTERS, **_RECORD_DEPT,
                  "within_days": FilterSpec("最近天数", "int", minimum=1)}


_CASE_DIMS = {"department": "split", "region": "split", "month": "split"}
_CASE_SCOPE = {k: _CASE_FILTERS[k] for k in ("department", "region")}


def _pending(name: str, label: str, issue: str, tables: tuple[str, ...]) -> Measure:
    return Measure(name, label, {}, {"department": "split", "sector": "split", "region": "split",
                                     "month": "split"}, pending=issue, tables=tables)


_JOINT_FILTERS: dict[str, FilterSpec] = {
    "department": FilterSpec("核查部门", "str_list", vocab="department"),
    "scenario": FilterSpec("应用场景代码", "str_list"),
}


def _joint(kind: str) -> Callable[[Context, dict[str, Any]], Counts]:
    def run(ctx: Context, filters: dict[str, Any]) -> Counts:
        from xinyong.measures import indicators as joint

        if kind == "departments_applying":
            return joint.compute_departments_applying(ctx, filters)
        return joint.compute_checks(ctx, filters, with_feedback=kind == "checks_with_feedback")

    return run


MEASURES: dict[str, Measure] = {m.name: m for m in [
    Measure("subjects", "信用主体数", _SUBJECT_FILTERS,
            {"region": "split", "department": "constant", "sector": "constant", "month": "split"},
            month_mode="cumulative", compute=_compute_subjects),
    Measure("subjects_with_records", "有信用记录的主体数", {**_SUBJECT_FILTERS, **_RESOURCE_FILTERS, **_RECORD_DEPT},
            {"region": "split", "department": "split", "sector": "split", "month": "split"},
            month_mode="cumulative", compute=_compute_subjects_with_records),
    Measure("records", "信用记录数", _REC_FILTERS,
            {"department": "split", "sector": "split", "region": "split", "month": "split"},
            compute=_compute_records),
    Measure("departments", "部门数", _DEPARTMENT_FILTERS,
            {"department": "split", "region": "split", "month": "constant"},
            month_mode="constant", compute=_compute_departments),
    Measure("departments_submitting", "报送数据的部门数", {**_DEPARTMENT_FILTERS, **_BATCH_FILTERS},
            {"department": "split", "region": "split", "month": "split"}, compute=_compute_departments_submitting),
    Measure("batch_rows", "归集行数", {**_BATCH_FILTERS,
                                        "column": FilterSpec("统计列", "choice", choices=tuple(BATCH_COLUMNS))},
            {"department": "split", "sector": "split", "region": "split", "month": "split"},
            compute=_compute_batch_rows),
    # Workflow cases (#6): objections and repair applications.
    Measure("objections", "异议申请数",
            {**_CASE_FILTERS, "state": FilterSpec("办理状态", "str_list", choices=_case_states("objection"))},
            _CASE_DIMS, compute=_compute_cases("objection", {}), tables=("objections",)),
    Measure("objections_upheld", "异议成立（记录被更正或撤销）数", _CASE_SCOPE, _CASE_DIMS,
            compute=_compute_cases("objection", {"decided": True, "state": ["corrected", "record_withdrawn"]}),
            tables=("objections",)),
    Measure("objections_closed_on_time", "按期办结的异议数", _CASE_SCOPE, _CASE_DIMS,
            compute=_compute_cases("objection", {"on_time": True}), tables=("objections",)),
    Measure("repairs", "信用修复申请数",
            {**_CASE_FILTERS, "state": FilterSpec("办理状态", "str_list", choices=_case_states("repair"))},
            _CASE_DIMS, compute=_compute_cases("repair", {}), tables=("repair_applications",)),
    Measure("repairs_closed_on_time", "按期办结的信用修复数", _CASE_SCOPE, _CASE_DIMS,
            compute=_compute_cases("repair", {"on_time": True}), tables=("repair_applications",)),
    Measure("departments_using_reports", "通过部门接口获取信用报告的部门数",
            {**_DEPARTMENT_FILTERS, "within_days": FilterSpec("最近天数", "int", minimum=1)},
            {"department": "split", "region": "split", "month": "split"},
            compute=_compute_departments_using_reports, tables=("audit_events",)),
    # Joint rewards and punishments (#7): checks that returned measures, their feedback, and the
    # departments that reported applying a measure (figures computed in xinyong.measures.indicators).
    Measure("measure_checks", "联合奖惩核查次数（返回措施的核查）", _JOINT_FILTERS, _CASE_DIMS,
            compute=_joint("checks"), tables=("measure_checks",)),
    Measure("measure_checks_with_feedback", "已反馈全部措施实施情况的联合奖惩核查次数", _JOINT_FILTERS, _CASE_DIMS,
            compute=_joint("checks_with_feedback"), tables=("measure_checks",)),
    Measure("departments_applying_measures", "反馈已实施联合奖惩措施的部门数",
            {**_DEPARTMENT_FILTERS, "within_days": FilterSpec("最近天数", "int", minimum=1)},
            {"department": "split", "region": "split", "month": "split"},
            compute=_joint("departments_applying"), tables=("measure_checks", "measure_check_items")),
]}


def pending_reason(session: Session, measure: Measure) -> str:
    """Why a pending measure has no figure, saying what is missing and which issue brings it."""
    present = set(inspect(session.get_bind()).get_table_names())
    missing = [t for t in measure.tables if t not in present]
    if missing:
        return f"未接入：数据表 {'、'.join(missing)} 尚未建立，待 {measure.pending} 功能上线后统计。"
    return (f"未接入：数据表 {'、'.join(measure.tables)} 已建立，但“{measure.label}”的统计口径"
            f"待 {measure.pending} 功能合入后接入。")


def compute(ctx: Context, measure: Measure, filters: dict[str, Any]) -> Counts:
    if measure.compute is None:
        raise NotConnected(pending_reason(ctx.session, measure))
    return measure.compute(ctx, filters)


__all__ = [
    "BATCH_COLUMNS",
    "CREDIT_OFFICE",
    "DIMENSIONS",
    "MEASURES",
    "ORG_TYPES",
    "Context",
    "Counts",
    "FilterSpec",
    "Measure",
    "NotConnected",
    "compute",
    "month_expr",
    "resource_codes",
    "sector_of_resource",
]
