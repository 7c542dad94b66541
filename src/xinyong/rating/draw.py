"""双随机 inspection draws: subjects drawn by grade at the department's ratios, inspectors
assigned at random from its roster, all from a seed anyone can recompute.

The algorithm (published on every draw page, version ``ALGORITHM``):

1. The eligible population: every subject of the configured kinds that has a current grade,
   as lines ``"<subject id>,<grade>"`` in ascending id order, joined with ``\\n``. Its SHA-256
   is the population commitment (published).
2. ``seed = SHA-256("<draw date>|<department code>|<commitment>")`` (hex).
3. In each grade with ``n`` subjects, ``ceil(n × ratio / 100)`` are drawn: the subjects with the
   smallest ``ticket = SHA-256("<seed>|<subject id>")`` (hex, compared as text).
4. For each drawn subject, the inspectors are the roster entries with the smallest
   ``SHA-256("<seed>|<subject id>|<inspector id>")``.

The same inputs always give the same draw; a draw is stored once per department and day and
re-running it returns the stored one. ``xinyong inspections verify`` recomputes everything
from the stored population and compares.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, insert, literal, select
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.audit.service import record_event
from xinyong.departments.models import Department
from xinyong.errors import ConfigurationError, Conflict, InvalidInput, NotFound
from xinyong.subjects.models import Subject
from xinyong.workflows import clock

from .models import InspectionDraw, InspectionItem, InspectionPopulation, RatingScore
from .scorecard import load_model

ALGORITHM = "xinyong-draw-1"
DEFAULT_FILE = Path(__file__).with_name("supervision.yaml")


@dataclass(frozen=True)
class DeptSupervision:
    code: str
    ratios: dict[str, Decimal]
    inspectors: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Supervision:
    default_ratios: dict[str, Decimal]
    subject_kinds: tuple[str, ...]
    inspectors_per_subject: int
    departments: dict[str, DeptSupervision]

    def for_department(self, code: str) -> DeptSupervision:
        return self.departments.get(code) or DeptSupervision(code, self.default_ratios, ())


def _ratios(raw: Any, where: str, grades: list[str], issues: list[str]) -> dict[str, Decimal]:
    if not isinstance(raw, dict):
        issues.append(f"{where} 应写作 {{等级: 百分比}}，如 {{A: 3, B: 5, C: 10, D: 20}}。")
        return {}
    out = {}
    for g in grades:
        if g not in raw:
            issues.append(f"{where} 缺少等级 {g} 的抽查比例。")
            continue
        try:
            v = Decimal(str(raw[g]))
        except Exception:  # noqa: BLE001
            issues.append(f"{where} 中等级 {g} 的比例“{raw[g]}”不是数字。")
            continue
        if not Decimal(0) <= v <= Decimal(100):
            issues.append(f"{where} 中等级 {g} 的比例 {v} 应在 0–100 之间。")
        out[g] = v
    for g in raw:
        if str(g) not in grades:
            issues.append(f"{where} 中的等级“{g}”不在评价模型的等级（{'、'.join(grades)}）中。")
    return out


def parse_supervision(text: str, grades: list[str]) -> Supervision:
    issues: list[str] = []
    raw = yaml.safe_load(text) or {}
    if not isinstance(raw, dict):
        raise ConfigurationError("分级分类监管配置应为映射。", code="supervision_invalid")
    default = _ratios(raw.get("default_ratios"), "default_ratios", grades, issues)
    kinds = raw.get("subject_kinds") or ["legal_entity", "individual_business"]
    per = raw.get("inspectors_per_subject", 2)
    if not isinstance(per, int) or per < 1:
        issues.append("inspectors_per_subject 应为正整数。")
    depts = {}
    for code, d in (raw.get("departments") or {}).items():
        d = d or {}
        ratios = _ratios(d.get("ratios", raw.get("default_ratios")), f"部门 {code} 的 ratios", grades, issues)
        roster = []
        for i, p in enumerate(d.get("inspectors") or []):
            if not isinstance(p, dict) or not p.get("id") or not p.get("name"):
                issues.append(f"部门 {code} 的检查人员第 {i + 1} 项应写作 {{id: 执法证号, name: 姓名}}。")
                continue
            roster.append((str(p["id"]), str(p["name"])))
        if len({r[0] for r in roster}) != len(roster):
            issues.append(f"部门 {code} 的检查人员编号有重复。")
        depts[str(code)] = DeptSupervision(str(code), ratios, tuple(roster))
    if issues:
        raise ConfigurationError("分级分类监管配置有误：\n" + "\n".join(f"  {i + 1}. {m}" for i, m in enumerate(issues)),
                                 code="supervision_invalid", details=issues)
    return Supervision(default, tuple(kinds), per if isinstance(per, int) else 2, depts)


@lru_cache(maxsize=4)
def _load(path: str, mtime: float, grades: tuple[str, ...]) -> Supervision:
    return parse_supervision(Path(path).read_text(encoding="utf-8"), list(grades))


def load_supervision() -> Supervision:
    from .settings import get_rating_settings

    p = get_rating_settings().supervision_file or DEFAULT_FILE
    return _load(str(p), p.stat().st_mtime, tuple(load_model().grade_codes))


# --- the deterministic parts (pure functions: the public can run these) ---------------------------


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def population_hash(lines: list[tuple[int, str]]) -> str:
    h = hashlib.sha256()
    for i, (sid, grade) in enumerate(lines):
        h.update(((b"\n" if i else b"") + f"{sid},{grade}".encode()))
    return h.hexdigest()


def seed_for(draw_date: date, dept_code: str, commitment: str) -> str:
    return sha(f"{draw_date.isoformat()}|{dept_code}|{commitment}")


def quota(n: int, percent: Decimal) -> int:
    return int((Decimal(n) * percent / 100).to_integral_value(rounding=ROUND_CEILING))


def select_subjects(population: list[tuple[int, str]], seed: str, ratios: dict[str, Decimal]
                    ) -> list[tuple[int, str, str]]:
    """(subject id, grade, ticket) of the drawn subjects, grade by grade, ticket order."""
    by_grade: dict[str, list[int]] = {}
    for sid, g in population:
        by_grade.setdefault(g, []).append(sid)
    out = []
    for g in sorted(by_grade):
        ids = by_grade[g]
        k = quota(len(ids), ratios.get(g, Decimal(0)))
        tickets = sorted((sha(f"{seed}|{sid}"), sid) for sid in ids)
        out += [(sid, g, t) for t, sid in tickets[:k]]
    return out


def assign_inspectors(seed: str, subject_id: int, roster: tuple[tuple[str, str], ...], k: int) -> list[dict]:
    ranked = sorted(roster, key=lambda p: sha(f"{seed}|{subject_id}|{p[0]}"))
    return [{"id": pid, "name": name} for pid, name in ranked[:k]]


# --- service --------------------------------------------------------------------------------------


def _department(session: Session, code: str) -> Department:
    dept = session.scalar(select(Department).where(Department.code == code))
    if dept is None:
        raise NotFound(f"未找到部门“{code}”：请使用部门代码（xinyong departments list 可查看）。",
                       code="department_not_found")
    return dept


def _population_query(sup: Supervision):
    return (select(RatingScore.subject_id, RatingScore.grade)
            .join(Subject, Subject.id == RatingScore.subject_id)
            .where(Subject.kind.in_(sup.subject_kinds)).order_by(RatingScore.subject_id))


def draw(session: Session, actor: Actor | None, *, dept_code: str, draw_date: date | None = None) -> dict[str, Any]:
    """Draw (or return the stored draw of) this department on this day."""
    draw_date = clock.today(draw_date)
    dept = _department(session, dept_code)
    existing = session.scalar(select(InspectionDraw).where(InspectionDraw.department_id == dept.id,
                                                           InspectionDraw.draw_date == draw_date))
    if existing is not None:
        return {**draw_to_dict(session, existing), "existing": True}
    sup = load_supervision()
    conf = sup.for_department(dept.code)
    population = [(int(a), b) for a, b in session.execute(_population_query(sup)).all()]
    if not population:
        raise Conflict("尚无评价结果：请先运行 `xinyong rating run` 完成信用评价，再进行抽查。", code="no_grades")
    commitment = population_hash(population)
    seed = seed_for(draw_date, dept.code, commitment)
    chosen = select_subjects(population, seed, conf.ratios)
    obj = InspectionDraw(department_id=dept.id, draw_date=draw_date, population_hash=commitment, seed=seed,
                         population_size=len(population), selected_count=len(chosen),
                         params={"algorithm": ALGORITHM, "department_code": dept.code,
                                 "ratios": {g: str(v) for g, v in conf.ratios.items()},
                                 "subject_kinds": list(sup.subject_kinds),
                                 "inspectors_per_subject": sup.inspectors_per_subject,
                                 "roster": [{"id": i, "name": n} for i, n in conf.inspectors],
                                 "population_by_grade": _by_grade(population)},
                         model_version=load_model().version, created_by=actor.name if actor else None)
    session.add(obj)
    session.flush()
    session.execute(insert(InspectionPopulation).from_select(
        ["draw_id", "subject_id", "grade"],
        select(literal(obj.id), RatingScore.subject_id, RatingScore.grade).join(
            Subject, Subject.id == RatingScore.subject_id).where(Subject.kind.in_(sup.subject_kinds))))
    if chosen:
        session.execute(insert(InspectionItem), [
            {"draw_id": obj.id, "subject_id": sid, "grade": g, "rank": i + 1, "ticket": t,
             "inspectors": assign_inspectors(seed, sid, conf.inspectors, sup.inspectors_per_subject)}
            for i, (sid, g, t) in enumerate(chosen)])
    record_event(session, "inspection.draw", actor=actor, details={
        "draw_id": obj.id, "department": dept.code, "date": draw_date.isoformat(), "seed": seed,
        "population": len(population), "selected": len(chosen)})
    return {**draw_to_dict(session, obj), "existing": False}


def _by_grade(population: list[tuple[int, str]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, g in population:
        out[g] = out.get(g, 0) + 1
    return dict(sorted(out.items()))


def verify(session: Session, draw_id: int) -> dict[str, Any]:
    """Recompute a stored draw from its stored population: commitment, seed, subjects and
    inspectors must all match."""
    obj = session.get(InspectionDraw, draw_id)
    if obj is None:
        raise NotFound(f"未找到编号为 {draw_id} 的抽查。", code="draw_not_found")
    population = [(int(a), b) for a, b in session.execute(
        select(InspectionPopulation.subject_id, InspectionPopulation.grade)
        .where(InspectionPopulation.draw_id == draw_id).order_by(InspectionPopulation.subject_id)).all()]
    p = obj.params
    problems = []
    commitment = population_hash(population)
    if commitment != obj.population_hash:
        problems.append("抽查对象库的承诺值与公布值不一致")
    seed = seed_for(obj.draw_date, p["department_code"], obj.population_hash)
    if seed != obj.seed:
        problems.append("随机种子与公布值不一致")
    ratios = {g: Decimal(v) for g, v in p["ratios"].items()}
    expected = select_subjects(population, seed, ratios)
    roster = tuple((r["id"], r["name"]) for r in p["roster"])
    items = session.scalars(select(InspectionItem).where(InspectionItem.draw_id == draw_id)
                            .order_by(InspectionItem.rank)).all()
    if [(i.subject_id, i.grade) for i in items] != [(sid, g) for sid, g, _ in expected]:
        problems.append("抽中名单与重新计算的结果不一致")
    for i in items:
        if i.inspectors != assign_inspectors(seed, i.subject_id, roster, p["inspectors_per_subject"]):
            problems.append(f"主体 {i.subject_id} 的检查人员与重新计算的结果不一致")
            break
    return {"draw_id": draw_id, "ok": not problems, "problems": problems, "seed": seed,
            "population_hash": commitment, "selected": len(expected)}


def _mask_name(subject: Subject) -> str:
    if subject.kind == "natural_person":
        return subject.name[:1] + "*" * max(1, len(subject.name) - 1)
    return subject.name


def draw_to_dict(session: Session, obj: InspectionDraw, *, items: bool = True) -> dict[str, Any]:
    dept = session.get(Department, obj.department_id)
    out: dict[str, Any] = {
        "id": obj.id, "department": dept.name if dept else str(obj.department_id),
        "department_code": obj.params.get("department_code"), "draw_date": obj.draw_date.isoformat(),
        "population_hash": obj.population_hash, "seed": obj.seed, "population_size": obj.population_size,
        "selected_count": obj.selected_count, "ratios": obj.params.get("ratios"),
        "population_by_grade": obj.params.get("population_by_grade"), "algorithm": obj.params.get("algorithm"),
        "model_version": obj.model_version, "link": f"/inspections/draws/{obj.id}"}
    if items:
        rows = session.execute(select(InspectionItem, Subject).join(Subject, Subject.id == InspectionItem.subject_id)
                               .where(InspectionItem.draw_id == obj.id).order_by(InspectionItem.rank)).all()
        out["items"] = [{"rank": i.rank, "subject_id": i.subject_id, "name": _mask_name(s), "uscc": s.uscc,
                         "grade": i.grade, "ticket": i.ticket, "inspectors": i.inspectors} for i, s in rows]
    return out


def list_draws(session: Session, *, page: int = 1, size: int = 20) -> dict[str, Any]:
    if page < 1 or not 1 <= size <= 100:
        raise InvalidInput("页码从 1 开始，每页 1–100 条。", code="invalid_page")
    total = session.scalar(select(func.count()).select_from(InspectionDraw)) or 0
    rows = session.scalars(select(InspectionDraw).order_by(InspectionDraw.draw_date.desc(), InspectionDraw.id.desc())
                           .offset((page - 1) * size).limit(size)).all()
    return {"total": total, "page": page, "size": size, "items": [draw_to_dict(session, d, items=False) for d in rows]}


def get_draw(session: Session, draw_id: int) -> dict[str, Any]:
    obj = session.get(InspectionDraw, draw_id)
    if obj is None:
        raise NotFound(f"未找到编号为 {draw_id} 的抽查。", code="draw_not_found")
    return draw_to_dict(session, obj)
