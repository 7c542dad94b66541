"""Figures the indicators feature reads from joint rewards and punishments (its measures
``measure_checks``, ``measure_checks_with_feedback`` and ``departments_applying_measures``).

* a check counts when it returned at least one measure (a check with nothing to apply needs no
  feedback), made on or before the as-of day; grouped by the checking department, the subject's
  region and the month of the check;
* with feedback: every returned measure had its feedback by the as-of day;
* a department applies joint measures when it reported at least one measure as applied
  (``applied``) by the as-of day (``within_days``: only recently).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from xinyong.indicators.measures import (
    Context,
    Counts,
    _department_rows,
    _departments,
    department_counts,
    month_expr,
)
from xinyong.subjects.models import Subject

from .models import MeasureCheck, MeasureCheckItem


def compute_checks(ctx: Context, filters: dict[str, Any], *, with_feedback: bool) -> Counts:
    where = [MeasureCheck.checked_on <= ctx.as_of, MeasureCheck.measures_total > 0]
    if with_feedback:
        where += [MeasureCheck.feedback_complete.is_(True), MeasureCheck.feedback_completed_on <= ctx.as_of]
    if "scenario" in filters:
        where.append(MeasureCheck.scenario.in_(filters["scenario"]))
    depts = _departments(ctx)
    if "department" in filters:
        wanted = set(filters["department"])
        where.append(MeasureCheck.department_id.in_([i for i, d in depts.items() if d.code in wanted]))
    month = month_expr(MeasureCheck.checked_on, ctx.dialect)
    cols = (MeasureCheck.department_id, Subject.region, month)
    stmt = (select(*cols, func.count()).select_from(MeasureCheck)
            .outerjoin(Subject, Subject.id == MeasureCheck.subject_id).where(*where).group_by(*cols))
    c = Counts()
    groups: dict[str, dict[str, float]] = {d: defaultdict(float) for d in ctx.dims}
    for dept_id, region, m, n in ctx.session.execute(stmt):
        c.total += n
        if "department" in groups:
            groups["department"][depts[dept_id].code if dept_id in depts else str(dept_id)] += n
        if "region" in groups:
            groups["region"][region or ""] += n
        if "month" in groups and m:
            groups["month"][m] += n
    c.groups = {k: dict(v) for k, v in groups.items()}
    return c


def compute_departments_applying(ctx: Context, filters: dict[str, Any]) -> Counts:
    allowed = {d.id: d for d in _department_rows(ctx, filters)}
    where = [MeasureCheckItem.outcome == "applied", MeasureCheckItem.feedback_on <= ctx.as_of]
    monthly = list(where)
    if filters.get("within_days"):
        where.append(MeasureCheckItem.feedback_on > ctx.as_of - timedelta(days=int(filters["within_days"])))
    s = ctx.session
    base = select(MeasureCheck.department_id).join(MeasureCheckItem, MeasureCheckItem.check_id == MeasureCheck.id)

    def by_month() -> Iterable[tuple[str, int]]:
        m = month_expr(MeasureCheckItem.feedback_on, ctx.dialect)
        return s.execute(select(m, MeasureCheck.department_id).select_from(MeasureCheckItem)
                         .join(MeasureCheck, MeasureCheckItem.check_id == MeasureCheck.id).where(*monthly)
                         .distinct()).all()

    return department_counts(ctx, allowed, s.scalars(base.where(*where).distinct()), by_month)
