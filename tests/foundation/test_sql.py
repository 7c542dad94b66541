"""Shared SQL constructs, on both databases."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from xinyong.db.sql import in_bound, in_codes
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


@_ANY
@given(picks=st.lists(st.sampled_from(["finance", "market_regulation", "courts", "tax", "no_such_code"]), max_size=6))
def test_in_codes_selects_the_codes_with_one_sql_text(session, picks):
    """Codes written into the statement: it selects exactly the rows with those codes, and its
    SQL is the same at every execution (no expanding parameter rendered per run)."""
    if not session.scalar(select(Department.id).limit(1)):
        seed_departments(session)
        session.flush()
    depts = {d.code for d in session.scalars(select(Department))}
    stmt = select(Department.code).where(in_codes(Department.code, picks))
    assert sorted(session.scalars(stmt)) == sorted(set(picks) & depts)
    compiled = stmt.compile(dialect=session.bind.dialect)
    assert not compiled.positiontup and not compiled.binds and "POSTCOMPILE" not in str(compiled)


@pytest.mark.parametrize("bad", ["Finance", "a'; DROP TABLE records; --", "", "1abc", "a b"])
def test_in_codes_refuses_anything_but_a_code(bad):
    with pytest.raises(ValueError):
        in_codes(Department.code, ["finance", bad])
