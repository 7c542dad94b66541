"""Shared SQL constructs, on both databases."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from xinyong.db.sql import in_bound
from xinyong.departments.models import Department
from xinyong.departments.service import seed_departments

_ANY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_ANY
@given(picks=st.lists(st.integers(min_value=-5, max_value=60), max_size=40))
def test_in_bound_selects_exactly_the_bound_values(session, picks):
    """The same statement, run with lists of any length (none, duplicates, unknown ids), selects
    exactly the rows whose id or code is in the list (one array parameter on PostgreSQL)."""
    if not session.scalar(select(Department.id).limit(1)):
        seed_departments(session)
        session.flush()
    depts = {d.id: d.code for d in session.scalars(select(Department))}
    by_id = select(Department.id).where(in_bound(Department.id, "ids")).order_by(Department.id)
    assert session.scalars(by_id, {"ids": picks}).all() == sorted(set(picks) & set(depts))
    codes = [depts[i] for i in picks if i in depts] + ["no-such-code"]
    by_code = select(Department.id).where(in_bound(Department.code, "codes", strings=True), Department.id > 3)
    assert sorted(session.scalars(by_code, {"codes": codes})) == sorted({i for i in picks if i in depts and i > 3})
