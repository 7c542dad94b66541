"""Joint rewards and punishments: which measures apply to a subject in a scenario, and the
department's feedback on what it did.

``check_subject`` is the one function the API (``POST /api/v1/checks``), the console form and
``xinyong check`` call. Evaluation is set-based (``Evaluator.evaluate`` takes any number of
subjects and reads their triggering records in a few queries), so a batch of 100,000 subjects
costs the same queries as one, per chunk.

What counts as a triggering record is the publication rule (``xinyong.publication.
in_force_clause``: in force, not repaired, not withdrawn, within its window and valid period),
applied to every resource the measures name, public or shared inside government. On top of it,
a record under objection (异议处理中) does not trigger a punishment: it is reported as suppressed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, bindparam, case, func, select
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.accounts.purposes import Purpose, load_purposes
from xinyong.catalogue import load_catalogue
from xinyong.db.base import utcnow
from xinyong.db.direct import Direct
from xinyong.db.engine import take_write_turn
from xinyong.db.sql import in_codes
from xinyong.departments.models import Department
from xinyong.departments.service import find_department
from xinyong.errors import Forbidden, InvalidInput, NotFound, XinyongError
from xinyong.intake.models import Record
from xinyong.publication import in_force_clause
from xinyong.rating.models import RatingScore
from xinyong.rating.service import grades_for
from xinyong.subjects.models import Subject, SubjectIdentifier
from xinyong.subjects.service import SubjectBrief, lookup_value, resolve_subject_brief
from xinyong.workflows import clock
from xinyong.workflows.windows import add_months

from .loader import load_measures
from .models import MeasureCheck, MeasureCheckItem
from .schemas import (
    BREACH_VALUE,
    COMMITMENT_RESOURCE,
    KIND_LABELS,
    STRENGTHS,
    TRIGGER_TYPES,
    MeasureDef,
    MeasuresCatalogue,
    Scenario,
    Trigger,
)

CHUNK = 5000
OUTCOMES = {"applied": "已实施", "not_applied": "未实施"}
CHECK_ACTION = "measures_check.read"  # ".read": shown in the subject's access history
FEEDBACK_ACTION = "measures.feedback"


# --- evaluation ----------------------------------------------------------------------------------


@dataclass
class Applied:
    measure: MeasureDef
    triggers: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Outcome:
    """What applies to one subject: measures (with triggers) and punishments held back."""

    applied: list[Applied] = field(default_factory=list)
    suppressed: list[dict[str, Any]] = field(default_factory=list)

    @cached_property
    def rewards(self) -> int:
        return sum(1 for a in self.applied if a.measure.kind == "reward")

    @cached_property
    def punishments(self) -> int:
        return sum(1 for a in self.applied if a.measure.kind == "punishment")


def in_values(session: Session, column: Any, values: list[Any]) -> Any:
    """``column IN values`` — on PostgreSQL as ``= ANY(array)``, one bound parameter, which
    compiles and plans in constant time however many thousand values a batch holds."""
    if session.get_bind().dialect.name == "postgresql" and len(values) > 50:
        from sqlalchemy import BigInteger, String, any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        item = String() if values and isinstance(values[0], str) else BigInteger()
        return column == any_(bindparam(None, list(values), type_=ARRAY(item)))
    return column.in_(values)


def _grades(session: Session, subject_ids: list[int]) -> dict[int, str]:
    """Current rating grades (xinyong.rating), for grade triggers."""
    return grades_for(session, subject_ids)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _as_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


_ROW_COLUMNS = (Record.id, Record.subject_id, Record.resource, Record.natural_key, Record.main_date,
                Record.valid_until, Record.public_until, Record.severity, Record.objection_open)


class Evaluator:
    """The measures of one scenario, compiled for set-based evaluation. Immutable once built:
    ``evaluator_for`` shares one per scenario and day between requests."""

    def __init__(self, scenario: str, *, today: date, catalogue: MeasuresCatalogue | None = None) -> None:
        self.mc = catalogue or load_measures()
        self.scenario = self.mc.scenario(scenario)
        self.today = today
        self.measures = self.mc.for_scenario(self.scenario.code)
        self.by_resource: dict[str, list[tuple[MeasureDef, Trigger]]] = defaultdict(list)
        self.grade_triggers: list[tuple[MeasureDef, Trigger]] = []
        self.needs_data: set[str] = set()
        for m in self.measures:
            for t in m.triggers:
                if t.grade is not None:
                    self.grade_triggers.append((m, t))
                    continue
                res = t.resource
                assert res is not None
                self.by_resource[res].append((m, t))
                if t.when or t.commitment_breach is not None:
                    self.needs_data.add(res)
        self.by_resource = dict(self.by_resource)  # shared between threads: no default-insert on a miss
        self.catalogue = cat = load_catalogue()
        self.names = {code: cat.get(code).name for code in self.by_resource if code in cat}
        self.order = {code: i for i, code in enumerate(self.mc.measures)}
        # A single check's one query, built once (building it cost more than running it). Plain
        # table columns: the compiled form is shared by every scenario's statement, and mapping
        # its result columns onto another statement's ORM-annotated ones cost ~0.1 ms a check.
        # The resource codes are written into the SQL (catalogue codes, [a-z0-9_]): as bound
        # values SQLAlchemy would expand the IN list again on every execution.
        t = Record.__table__.c
        codes = sorted(self.by_resource)
        self._single = select(*(t[c.key] for c in _ROW_COLUMNS), t.data).where(
            t.subject_id == bindparam("subject_id"), in_codes(t.resource, codes),
            in_force_clause(self.today))
        # A single check by code: the subject, its grade and its triggering records in one
        # statement (one round trip instead of three), the subject found as resolve_subject does.
        st = Subject.__table__
        first = (select(SubjectIdentifier.__table__.c.subject_id)
                 .where(SubjectIdentifier.__table__.c.value == bindparam("value")).limit(1).scalar_subquery())
        cols: list[Any] = [st.c.id.label("s_id"), st.c.kind.label("s_kind"), st.c.name.label("s_name"),
                           st.c.uscc.label("s_uscc"), st.c.citizen_id_masked.label("s_masked")]
        joined: Any = st
        if self.grade_triggers:
            gt = RatingScore.__table__
            joined = joined.outerjoin(gt, gt.c.subject_id == st.c.id)
            cols.append(gt.c.grade.label("s_grade"))
        if codes:
            joined = joined.outerjoin(Record.__table__, and_(
                t.subject_id == st.c.id, in_codes(t.resource, codes),
                in_force_clause(self.today)))
            cols += [*(t[c.key] for c in _ROW_COLUMNS), t.data]
        self._one = select(*cols).select_from(joined).where(st.c.id == first)
        self._one_direct = Direct(self._one)  # on PostgreSQL, on the driver connection

    # -- reading --

    def _rows(self, session: Session, subject_ids: list[int]) -> dict[int, list[Any]]:
        out: dict[int, list[Any]] = defaultdict(list)
        if not self.by_resource or not subject_ids:
            return out
        if len(subject_ids) == 1:  # a single check: one round trip; the few rows' data cost nothing
            # On the connection: plain rows need none of the ORM's per-statement work.
            (sid,) = subject_ids
            out[sid] = list(session.connection().execute(self._single, {"subject_id": sid}))
            return out
        plain = sorted(set(self.by_resource) - self.needs_data)
        rich = sorted(self.needs_data)
        clause = in_force_clause(self.today)
        cols = _ROW_COLUMNS
        for i in range(0, len(subject_ids), CHUNK):
            chunk = subject_ids[i:i + CHUNK]
            for codes, with_data in ((plain, False), (rich, True)):
                if not codes:
                    continue
                stmt = select(*cols, *((Record.data,) if with_data else ())).where(
                    in_values(session, Record.subject_id, chunk), Record.resource.in_(codes), clause)
                for row in session.execute(stmt):
                    out[row.subject_id].append(row)
        return out

    # -- matching --

    def _match(self, m: MeasureDef, t: Trigger, row: Any) -> bool:
        if t.within_months is not None and (row.main_date is None
                                            or row.main_date < add_months(self.today, -t.within_months)):
            return False
        if t.severity and row.severity not in t.severity:
            return False
        if t.when:
            res = self.catalogue.get(row.resource)
            if not res.matches(t.when, row.data or {}):
                return False
        if t.commitment_breach is not None:
            data = row.data or {}
            if data.get("fulfilment_status") != BREACH_VALUE:
                return False
            cb = t.commitment_breach
            if cb.domains and data.get("commitment_domain") not in cb.domains:
                return False
            if cb.within_months is not None:
                day = _as_date(data.get("verification_date")) or row.main_date
                if day is None or day < add_months(self.today, -cb.within_months):
                    return False
        return True

    def _trigger_dict(self, t: Trigger, row: Any) -> dict[str, Any]:
        kind = t.type
        out: dict[str, Any] = {"type": kind, "type_label": TRIGGER_TYPES[kind], "resource": row.resource,
                               "resource_name": self.names.get(row.resource, row.resource), "record_id": row.id,
                               "natural_key": row.natural_key, "date": _iso(row.main_date)}
        if kind == "list":
            ends = [d for d in (row.valid_until, row.public_until) if d is not None]
            out["until"] = _iso(min(ends)) if ends else None
        if kind == "record" and row.severity:
            out["severity"] = row.severity
        if kind == "commitment_breach":
            out["domain"] = (row.data or {}).get("commitment_domain")
        return out

    def evaluate(self, session: Session, subjects: dict[int, str]) -> dict[int, Outcome]:
        """``subjects``: id → kind. Returns an Outcome for every subject (empty if nothing applies)."""
        ids = sorted(subjects)
        rows = self._rows(session, ids)
        grades = _grades(session, ids) if self.grade_triggers else {}
        return self._outcomes(ids, subjects, rows, grades)

    def check_one(self, session: Session, value: str) -> tuple[SubjectBrief, Outcome] | None:
        """The subject holding identifier ``value`` (normalised) and what applies to it, read in
        one statement; None when no identifier row holds it (``resolve_subject_brief`` then
        looks further, or says why not)."""
        rows = self._one_direct.all(session.connection(), {"value": value})
        if not rows:
            return None
        r0 = rows[0]
        subj = SubjectBrief(r0.s_id, r0.s_kind, r0.s_name, r0.s_uscc, r0.s_masked)
        found = [r for r in rows if r.id is not None] if self.by_resource else []
        grade = r0.s_grade if self.grade_triggers else None
        grades = {subj.id: grade} if grade is not None else {}
        return subj, self._outcomes([subj.id], {subj.id: subj.kind}, {subj.id: found}, grades)[subj.id]

    def _outcomes(self, ids: list[int], subjects: dict[int, str], rows: dict[int, list[Any]],
                  grades: dict[int, str]) -> dict[int, Outcome]:
        results: dict[int, Outcome] = {}
        for sid in ids:
            kind = subjects[sid]
            found: dict[str, Applied] = {}
            held: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for row in rows.get(sid, ()):
                for m, t in self.by_resource.get(row.resource, ()):
                    if m.subject_kinds and kind not in m.subject_kinds:
                        continue
                    if not self._match(m, t, row):
                        continue
                    trig = self._trigger_dict(t, row)
                    if m.kind == "punishment" and row.objection_open:
                        held[m.code].append({**trig, "reason": "记录异议处理中，暂不触发惩戒"})
                        continue
                    found.setdefault(m.code, Applied(m)).triggers.append(trig)
            grade = grades.get(sid)
            if grade is not None:
                for m, t in self.grade_triggers:
                    if (not m.subject_kinds or kind in m.subject_kinds) and grade in (t.grade or ()):
                        found.setdefault(m.code, Applied(m)).triggers.append(
                            {"type": "grade", "type_label": TRIGGER_TYPES["grade"], "grade": grade})
            applied = sorted(found.values(), key=lambda a: (a.measure.kind != "punishment",
                                                            STRENGTHS[a.measure.kind].index(a.measure.strength),
                                                            self.order[a.measure.code]))
            suppressed = [{"measure": code, "name": self.mc.measures[code].name, "triggers": trig}
                          for code, trig in held.items() if code not in found]
            results[sid] = Outcome(applied, suppressed)
        return results


_EVALUATORS: dict[tuple[int, int, str, date], Evaluator] = {}


def evaluator_for(scenario: str, *, today: date, catalogue: MeasuresCatalogue) -> Evaluator:
    """The scenario's Evaluator for the day, built once per catalogue pair (a single check
    otherwise spent a tenth of its time compiling the scenario and its query)."""
    cat = load_catalogue()
    key = (id(catalogue), id(cat), scenario, today)
    ev = _EVALUATORS.get(key)
    if ev is None or ev.mc is not catalogue or ev.catalogue is not cat:  # ids of reloaded catalogues
        if len(_EVALUATORS) > 512:
            _EVALUATORS.clear()
        ev = _EVALUATORS[key] = Evaluator(scenario, today=today, catalogue=catalogue)
    return ev


# --- presenting ----------------------------------------------------------------------------------


def measure_dict(m: MeasureDef, triggers: list[dict[str, Any]] | None = None, *,
                 department_code: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": m.code, "name": m.name, "kind": m.kind, "kind_label": KIND_LABELS[m.kind],
        "strength": m.strength, "category": m.category, "text": m.text, "basis": list(m.legal_basis),
        "departments": list(m.departments),
    }
    if department_code is not None:
        out["implemented_by_department"] = department_code in m.departments
    if triggers is not None:
        out["triggers"] = triggers
    return out


def summarize(rewards: int, punishments: int, due: date | None) -> str:
    due_text = f"，并于 {due.isoformat()} 前逐项反馈实施情况" if due else ""
    if rewards and punishments:
        return (f"该主体同时适用守信激励措施 {rewards} 项和失信惩戒措施 {punishments} 项：激励与惩戒并存，"
                f"请分别依法实施{due_text}。")
    if punishments:
        return f"该主体适用失信惩戒措施 {punishments} 项，请依法实施{due_text}。"
    if rewards:
        return f"该主体适用守信激励措施 {rewards} 项，请依法实施{due_text}。"
    return "未发现该场景下适用的联合奖惩措施。"


def _purpose(scenario: Scenario) -> Purpose:
    defs = load_purposes()
    d = defs.get(scenario.purpose)
    return Purpose(code=d.code if d else "other", name=d.name if d else "其他",
                   text=f"联合奖惩核查：{scenario.name}")


@dataclass(frozen=True)
class OwnDepartment:
    """A department account's own department as its actor carries it (read with the account in
    this request): what a check needs of it, without reading the row again."""

    id: int
    code: str
    name: str


def _department(session: Session, actor: Actor, department: str | None) -> Department | OwnDepartment:
    if actor.is_subject or actor.is_anonymous:
        raise Forbidden(f"{actor.role_label}不能发起联合奖惩核查：核查由实施措施的部门发起。", code="role_forbidden")
    if actor.is_department:
        if actor.department_id is None:
            raise Forbidden("该账户未关联部门，不能发起核查。", code="no_department")
        asked = (department or "").strip()
        if actor.department_code and actor.department_name and asked in ("", actor.department_code,
                                                                         actor.department_name):
            return OwnDepartment(actor.department_id, actor.department_code, actor.department_name)
        own = session.get(Department, actor.department_id)
        if department and department.strip() not in (own.code, own.name, own.uscc):
            raise Forbidden("部门账户只能以本部门名义发起核查。", code="not_own_department")
        return own
    if not (department or "").strip():
        raise InvalidInput("请指定发起核查的部门（部门编码，如 finance）。", code="department_required")
    return find_department(session, department or "")


def _subject_code(s: Subject | SubjectBrief) -> str | None:
    return s.uscc or s.citizen_id_masked


def check_subject(session: Session, actor: Actor, subject: str, scenario: str, department: str | None = None,
                  *, today: date | None = None) -> dict[str, Any]:
    """Check one subject (any identifier) in a scenario for the asking department: the measures
    that apply, each with its triggers, basis and strength; stored (check id), audited and
    committed (the audit event ends the unit of work)."""
    today = clock.today(today)
    mc = load_measures()
    value = lookup_value(subject)
    # Errors as ever: the subject's first, then the scenario's, then the department's; the
    # caller is authorised (department) before any record is read.
    try:
        sc = mc.scenario((scenario or "").strip())
        dept = _department(session, actor, department)
    except XinyongError:
        resolve_subject_brief(session, subject)
        raise
    ev = evaluator_for(sc.code, today=today, catalogue=mc)
    hit = ev.check_one(session, value)
    if hit is None:  # not an identifier we hold: a citizen ID, or the reason it is not found
        subj = resolve_subject_brief(session, subject)
        outcome = ev.evaluate(session, {subj.id: subj.kind})[subj.id]
    else:
        subj, outcome = hit
    take_write_turn(session)  # SQLite: queue for the write lock here rather than in its busy handler
    check, items = _store(session, actor, mc, sc, dept, subj.id, outcome, today)
    from xinyong.audit.service import record_event

    # The answer first: the audit append holds the chain's lock until the commit, so nothing
    # else should run between them.
    answer = redact_for(actor, check_to_dict(session, check, mc=mc, subject=subj, department=dept, outcome=outcome,
                                             items=items))
    resources = sorted({t["resource"] for a in outcome.applied for t in a.triggers if "resource" in t})
    # The event ends the check's unit of work: committed with it (on PostgreSQL in the same round
    # trip, so the chain's lock is not held while this thread waits its turn to run again).
    record_event(session, CHECK_ACTION, actor=actor.with_(purpose=_purpose(sc)), subject_id=subj.id,
                 resources=resources, details={"check_id": check.id, "scenario": sc.code, "department": dept.code,
                                               "measures": [a.measure.code for a in outcome.applied]}, commit=True)
    return answer


# On PostgreSQL run on the driver connection (xinyong.db.direct)
_CHECK_INSERT = Direct(MeasureCheck.__table__.insert().returning(MeasureCheck.__table__.c.id))
_ITEM_INSERT = Direct(MeasureCheckItem.__table__.insert())


def _store(session: Session, actor: Actor, mc: MeasuresCatalogue, sc: Scenario, dept: Department | OwnDepartment,
           subject_id: int, out: Outcome, today: date) -> tuple[SimpleNamespace, list[SimpleNamespace]]:
    """Write one check and the measures it returned. Plain INSERTs on the session's connection:
    the rows are new and only read back by id, so the unit of work has nothing to track (its
    flushes, and building ORM objects, cost more than the writes). Returns the rows as written,
    as plain objects with the attributes ``check_to_dict`` reads."""
    due = today + timedelta(days=mc.feedback_days)
    has = bool(out.applied)
    row = dict(
        subject_id=subject_id, department_id=dept.id, scenario=sc.code, batch_id=None, actor_kind=actor.kind,
        actor_name=(actor.name or None), actor_role=actor.role, checked_at=utcnow(), checked_on=today,
        feedback_due=due if has else None, measures_total=len(out.applied), rewards=out.rewards,
        punishments=out.punishments, feedback_done=0, feedback_complete=False, feedback_completed_on=None,
        feedback_reminded_on=None, catalogue_version=mc.version,
        summary=summarize(out.rewards, out.punishments, due if has else None))
    conn = session.connection()
    check = SimpleNamespace(id=_CHECK_INSERT.returning(conn, row), **row)
    items = [SimpleNamespace(check_id=check.id, measure=a.measure.code, kind=a.measure.kind,
                             strength=a.measure.strength, triggers=a.triggers, outcome=None, reason=None,
                             feedback_on=None, feedback_by=None) for a in out.applied]
    _ITEM_INSERT.many(conn, [{"check_id": it.check_id, "measure": it.measure, "kind": it.kind,
                              "strength": it.strength, "triggers": it.triggers} for it in items])
    return check, items


def check_to_dict(session: Session, check: MeasureCheck | SimpleNamespace, *, mc: MeasuresCatalogue | None = None,
                  subject: Subject | SubjectBrief | None = None,
                  department: Department | OwnDepartment | None = None, outcome: Outcome | None = None,
                  items: list[MeasureCheckItem] | list[SimpleNamespace] | None = None) -> dict[str, Any]:
    mc = mc or load_measures()
    subject = subject or session.get(Subject, check.subject_id)
    department = department or session.get(Department, check.department_id)
    if items is None:
        items = list(session.scalars(select(MeasureCheckItem).where(MeasureCheckItem.check_id == check.id)
                                     .order_by(MeasureCheckItem.id)))
    measures = []
    for it in items:
        m = mc.measures.get(it.measure)
        base = measure_dict(m, it.triggers, department_code=department.code) if m else {
            "code": it.measure, "name": it.measure, "kind": it.kind, "kind_label": KIND_LABELS.get(it.kind, it.kind),
            "strength": it.strength, "basis": [], "triggers": it.triggers, "text": "（该措施已不在现行清单中）"}
        base["feedback"] = {"outcome": it.outcome, "outcome_label": OUTCOMES.get(it.outcome or "", "待反馈"),
                            "reason": it.reason, "on": _iso(it.feedback_on), "by": it.feedback_by}
        measures.append(base)
    sc = mc.scenarios.get(check.scenario)
    out: dict[str, Any] = {
        "check_id": check.id,
        "subject": {"id": subject.id, "name": subject.name, "kind": subject.kind, "code": _subject_code(subject)},
        "scenario": {"code": check.scenario, "name": sc.name if sc else check.scenario},
        "department": {"code": department.code, "name": department.name},
        "checked_at": check.checked_at.isoformat() if check.checked_at else None,
        "checked_on": _iso(check.checked_on), "feedback_due": _iso(check.feedback_due),
        "rewards": check.rewards, "punishments": check.punishments,
        "both": bool(check.rewards and check.punishments),
        "summary": check.summary, "measures": measures,
        "feedback_complete": check.feedback_complete, "catalogue_version": check.catalogue_version,
    }
    if outcome is not None:
        out["suppressed"] = outcome.suppressed
    return out


def redact_for(actor: Actor, result: dict[str, Any]) -> dict[str, Any]:
    """Trigger details (record, key) only for resources the viewer may read: an API key scoped to
    some resources still learns which measures apply, not the records behind them."""
    if actor.kind == "cli" or (actor.is_subject and actor.subject_id == result["subject"]["id"]):
        return result
    cat = load_catalogue()
    for m in [*result.get("measures", []), *result.get("suppressed", [])]:
        for t in m.get("triggers", []):
            res = t.get("resource")
            if res and res in cat and not actor.can_read(res, cat.get(res).disclosure):
                for key in ("record_id", "natural_key", "date", "until", "severity", "domain"):
                    t.pop(key, None)
                t["redacted"] = True
    return result


# --- reading checks -------------------------------------------------------------------------------


def _can_see(actor: Actor, check: MeasureCheck) -> bool:
    if actor.role in ("admin", "reviewer") or actor.kind == "cli":
        return True
    if actor.is_department:
        return actor.department_id == check.department_id
    return actor.is_subject and actor.subject_id == check.subject_id


def get_check(session: Session, actor: Actor, check_id: int) -> dict[str, Any]:
    check = session.get(MeasureCheck, check_id)
    if check is None or not _can_see(actor, check):
        raise NotFound(f"未找到编号为 {check_id} 的联合奖惩核查。", code="check_not_found")
    return redact_for(actor, check_to_dict(session, check))


def list_checks(session: Session, actor: Actor, *, overdue: bool = False, pending: bool = False,
                department: str | None = None, page: int = 1, size: int = 20, today: date | None = None
                ) -> dict[str, Any]:
    """A department's checks (its inbox of feedback to give); the credit office sees all."""
    today = clock.today(today)
    if page < 1 or not 1 <= size <= 100:
        raise InvalidInput("页码从 1 开始，每页 1–100 条。", code="invalid_page")
    q = select(MeasureCheck)
    if actor.is_department:
        q = q.where(MeasureCheck.department_id == actor.department_id)
    elif actor.role in ("admin", "reviewer") or actor.kind == "cli":
        if department:
            q = q.where(MeasureCheck.department_id == find_department(session, department).id)
    else:
        raise Forbidden(f"{actor.role_label}无权查看核查记录。", code="role_forbidden")
    if overdue:
        q = q.where(MeasureCheck.feedback_due < today, MeasureCheck.feedback_complete.is_(False))
    elif pending:
        q = q.where(MeasureCheck.feedback_due.is_not(None), MeasureCheck.feedback_complete.is_(False))
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(MeasureCheck.id.desc()).offset((page - 1) * size).limit(size)).all()
    subjects = {s.id: s for s in session.scalars(select(Subject).where(Subject.id.in_({r.subject_id for r in rows})))}
    depts = {d.id: d for d in session.scalars(select(Department))}
    mc = load_measures()
    items = []
    for c in rows:
        s = subjects.get(c.subject_id)
        sc = mc.scenarios.get(c.scenario)
        items.append({"check_id": c.id, "subject": {"id": c.subject_id, "name": s.name if s else "",
                                                     "code": _subject_code(s) if s else None},
                      "scenario": {"code": c.scenario, "name": sc.name if sc else c.scenario},
                      "department": depts[c.department_id].name if c.department_id in depts else "",
                      "checked_on": _iso(c.checked_on), "feedback_due": _iso(c.feedback_due),
                      "rewards": c.rewards, "punishments": c.punishments, "feedback_done": c.feedback_done,
                      "measures_total": c.measures_total, "feedback_complete": c.feedback_complete,
                      "overdue": bool(c.feedback_due and c.feedback_due < today and not c.feedback_complete),
                      "summary": c.summary})
    return {"total": total, "page": page, "size": size, "items": items}


def overdue_count(session: Session, department_id: int | None, today: date | None = None) -> int:
    today = clock.today(today)
    q = select(func.count()).select_from(MeasureCheck).where(MeasureCheck.feedback_due < today,
                                                              MeasureCheck.feedback_complete.is_(False))
    if department_id is not None:
        q = q.where(MeasureCheck.department_id == department_id)
    return session.scalar(q) or 0


def remind_overdue_feedback(session: Session, today: date | None = None) -> int:
    """Daily (``xinyong tick``): tell each department's inbox, once per check, which checks' feedback
    is overdue. Returns the number of checks newly reminded; a second run the same day adds nothing."""
    from sqlalchemy import update

    from xinyong.notifications.service import notify

    today = clock.today(today)
    cond = (MeasureCheck.feedback_due < today, MeasureCheck.feedback_complete.is_(False),
            MeasureCheck.feedback_reminded_on.is_(None))
    rows = session.execute(select(MeasureCheck.id, MeasureCheck.department_id, MeasureCheck.feedback_due,
                                  Subject.name).join(Subject, Subject.id == MeasureCheck.subject_id)
                           .where(*cond).order_by(MeasureCheck.department_id, MeasureCheck.id)).all()
    by_dept: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        by_dept[r.department_id].append(r)
    for dept_id, items in by_dept.items():
        lines = "\n".join(f"· 核查 {r.id}：{r.name}（应于 {r.feedback_due} 前反馈）" for r in items[:20])
        more = f"\n…… 另有 {len(items) - 20} 次" if len(items) > 20 else ""
        notify(session, "department", dept_id, f"联合奖惩核查逾期未反馈（{len(items)} 次）",
               f"以下联合奖惩核查已超过反馈期限，请尽快登记各项措施的实施情况：\n{lines}{more}",
               link="/console/checks?view=overdue", workflow="measures", urgent=True)
    if rows:
        session.execute(update(MeasureCheck).where(MeasureCheck.id.in_([r.id for r in rows]))
                        .values(feedback_reminded_on=today).execution_options(synchronize_session=False))
    return len(rows)


# --- feedback -------------------------------------------------------------------------------------


def record_feedback(session: Session, actor: Actor, check_id: int, entries: Iterable[dict[str, Any]], *,
                    today: date | None = None) -> dict[str, Any]:
    """The checking department reports, per measure, whether it applied it (``applied``) or not
    (``not_applied``, with the reason). The same feedback again changes nothing."""
    today = clock.today(today)
    check = session.get(MeasureCheck, check_id)
    if check is None or not _can_see(actor, check) or actor.is_subject:
        raise NotFound(f"未找到编号为 {check_id} 的联合奖惩核查。", code="check_not_found")
    if actor.is_department and actor.department_id != check.department_id:
        raise Forbidden("只有发起核查的部门可以反馈实施情况。", code="not_own_department")
    if actor.role not in ("admin", "dept_submitter", "dept_querier") and actor.kind != "cli":
        raise Forbidden(f"{actor.role_label}不能代部门反馈实施情况。", code="role_forbidden")
    items = {it.measure: it for it in session.scalars(select(MeasureCheckItem)
                                                       .where(MeasureCheckItem.check_id == check.id))}
    entries = list(entries)
    if not entries:
        raise InvalidInput("请至少反馈一项措施的实施情况。", code="feedback_empty")
    changed = []
    for e in entries:
        code = str(e.get("measure") or "").strip()
        item = items.get(code)
        if item is None:
            raise InvalidInput(f"核查 {check.id} 没有返回措施“{code[:64]}”；可反馈的措施："
                               + ("、".join(items) or "（无）"), code="unknown_measure")
        outcome = str(e.get("outcome") or "").strip()
        if outcome not in OUTCOMES:
            raise InvalidInput(f"措施 {code} 的实施情况只能是 applied（已实施）或 not_applied（未实施）。",
                               code="invalid_outcome")
        reason = (e.get("reason") or "").strip() or None
        if outcome == "not_applied":
            if not reason or len(reason) < 4:
                raise InvalidInput(f"措施 {code} 未实施：请说明理由（至少 4 个字），例如“主体已履行完毕，经核实已移出名单”。",
                                   code="reason_required")
        if reason and len(reason) > 2000:
            raise InvalidInput(f"措施 {code} 的说明过长，请控制在 2000 字以内。", code="reason_too_long")
        if item.outcome == outcome and (item.reason or None) == reason:
            continue
        item.outcome, item.reason = outcome, reason
        item.feedback_on, item.feedback_at = today, clock.now()
        item.feedback_by = actor.name or actor.department_name or actor.kind
        changed.append({"measure": code, "outcome": outcome})
    if changed:
        session.flush()
        done = sum(1 for it in items.values() if it.outcome)
        check.feedback_done = done
        complete = bool(items) and done == len(items)
        if complete and not check.feedback_complete:
            check.feedback_completed_on = today
        check.feedback_complete = complete
        from xinyong.audit.service import record_event

        record_event(session, FEEDBACK_ACTION, actor=actor, subject_id=check.subject_id,
                     details={"check_id": check.id, "feedback": changed})
    return check_to_dict(session, check)


def feedback_rates(session: Session, *, by: str = "department", department: str | None = None,
                   since: date | None = None, until: date | None = None, today: date | None = None
                   ) -> dict[str, Any]:
    """Feedback rate (反馈率) per department or per measure: returned measures with feedback ÷
    returned measures; also applied ÷ returned, and measures overdue without feedback."""
    today = clock.today(today)
    if by not in ("department", "measure"):
        raise InvalidInput("统计维度 by 只能是 department（按部门）或 measure（按措施）。", code="invalid_grouping")
    key = MeasureCheck.department_id if by == "department" else MeasureCheckItem.measure
    where = []
    if department:
        where.append(MeasureCheck.department_id == find_department(session, department).id)
    if since:
        where.append(MeasureCheck.checked_on >= since)
    if until:
        where.append(MeasureCheck.checked_on <= until)
    one = 1
    stmt = (select(key, func.count(),
                   func.sum(case((MeasureCheckItem.outcome.is_not(None), one), else_=0)),
                   func.sum(case((MeasureCheckItem.outcome == "applied", one), else_=0)),
                   func.sum(case((and_(MeasureCheckItem.outcome.is_(None), MeasureCheck.feedback_due < today), one),
                                 else_=0)))
            .select_from(MeasureCheckItem).join(MeasureCheck, MeasureCheck.id == MeasureCheckItem.check_id)
            .where(*where).group_by(key))
    mc = load_measures()
    depts = {d.id: d for d in session.scalars(select(Department))}
    rows = []
    totals = [0, 0, 0, 0]
    for k, n, fed, applied, overdue in session.execute(stmt):
        fed, applied, overdue = int(fed or 0), int(applied or 0), int(overdue or 0)
        for i, v in enumerate((n, fed, applied, overdue)):
            totals[i] += v
        if by == "department":
            d = depts.get(k)
            label, code = (d.name, d.code) if d else (str(k), str(k))
        else:
            m = mc.measures.get(k)
            label, code = (m.name if m else k), k
        rows.append({"code": code, "name": label, "returned": n, "with_feedback": fed, "applied": applied,
                     "overdue": overdue, "feedback_rate": round(fed / n, 4) if n else None,
                     "applied_rate": round(applied / n, 4) if n else None})
    rows.sort(key=lambda r: (-(r["returned"]), r["code"]))
    n, fed, applied, overdue = totals
    return {"by": by, "since": _iso(since), "until": _iso(until), "items": rows,
            "total": {"returned": n, "with_feedback": fed, "applied": applied, "overdue": overdue,
                      "feedback_rate": round(fed / n, 4) if n else None,
                      "applied_rate": round(applied / n, 4) if n else None}}


# --- the subject's own view -----------------------------------------------------------------------


def checks_about(session: Session, subject_id: int, *, limit: int = 100) -> list[dict[str, Any]]:
    """For the subject's own file: checks made about it and what each department did."""
    mc = load_measures()
    checks = session.scalars(select(MeasureCheck).where(MeasureCheck.subject_id == subject_id)
                             .order_by(MeasureCheck.id.desc()).limit(limit)).all()
    if not checks:
        return []
    depts = {d.id: d for d in session.scalars(select(Department))}
    items: dict[int, list[MeasureCheckItem]] = defaultdict(list)
    for it in session.scalars(select(MeasureCheckItem).where(MeasureCheckItem.check_id.in_([c.id for c in checks]))
                              .order_by(MeasureCheckItem.id)):
        items[it.check_id].append(it)
    out = []
    for c in checks:
        sc = mc.scenarios.get(c.scenario)
        d = depts.get(c.department_id)
        out.append({"check_id": c.id, "checked_on": _iso(c.checked_on), "scenario": sc.name if sc else c.scenario,
                    "department": d.name if d else "", "summary": c.summary,
                    "measures": [{"code": it.measure, "name": mc.measures[it.measure].name
                                  if it.measure in mc.measures else it.measure,
                                  "kind_label": KIND_LABELS.get(it.kind, it.kind), "strength": it.strength,
                                  "basis": list(mc.measures[it.measure].legal_basis) if it.measure in mc.measures
                                  else [],
                                  "outcome_label": OUTCOMES.get(it.outcome or "", "待部门反馈"), "reason": it.reason}
                                 for it in items.get(c.id, [])]})
    return out


def catalogue_dict(mc: MeasuresCatalogue | None = None, *, scenario: str | None = None) -> dict[str, Any]:
    mc = mc or load_measures()
    measures = mc.for_scenario(mc.scenario(scenario).code) if scenario else list(mc.measures.values())
    return {"name": mc.name, "version": mc.version, "feedback_days": mc.feedback_days, "grades": mc.grades,
            "scenarios": [s.model_dump() for s in mc.scenarios.values()],
            "measures": [{**measure_dict(m), "scenarios": m.scenarios, "subject_kinds": m.subject_kinds,
                          "triggers": [t.model_dump(mode="json", by_alias=True, exclude_defaults=True)
                                       for t in m.triggers]} for m in measures]}
