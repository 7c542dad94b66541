"""Direct statements (xinyong.db.direct): on PostgreSQL they read and write exactly what the
Core statements they are built from read and write, inside the session's transaction, and fail
as SQLAlchemy fails; on any other driver they run through SQLAlchemy."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import exc, func, select, text

from xinyong.db.direct import Direct
from xinyong.measures.models import MeasureCheck, MeasureCheckItem
from xinyong.measures.service import evaluator_for, load_measures

from .conftest import TODAY

CHECKS = MeasureCheck.__table__
ITEMS = MeasureCheckItem.__table__


def _pg_only(url: str) -> None:
    if not url.startswith("postgresql"):
        pytest.skip("the driver connection is PostgreSQL's (SQLite: the last test)")


def _check_row(subject_id: int, dept: int, **extra) -> dict:
    return {"subject_id": subject_id, "department_id": dept, "scenario": "bidding", "actor_kind": "user",
            "checked_on": TODAY, "catalogue_version": "t", "summary": "测试", **extra}


def test_a_read_returns_what_the_core_statement_returns(city, session):
    _pg_only(city.url)
    ev = evaluator_for("admin_licensing", today=TODAY, catalogue=load_measures())  # reads commitments
    direct = Direct(ev._one)
    conn = session.connection()
    for code in [*city.codes.values(), "91440604MA00000000"]:
        core = conn.execute(ev._one, {"value": code}).all()
        mine = direct.all(conn, {"value": code})
        assert [tuple(r) for r in mine] == [tuple(r) for r in core]
        if core:
            assert mine[0]._fields == tuple(core[0]._fields)
    rows = direct.all(conn, {"value": city.codes["breacher"]})
    assert rows[0].s_id == city.subjects["breacher"]
    assert rows[0].data["fulfilment_status"] == "未履行"  # JSON read back as Python values
    assert isinstance(rows[0].main_date, date)


def test_writes_store_what_core_stores_in_the_sessions_transaction(city, session):
    _pg_only(city.url)
    conn = session.connection()
    triggers = [{"type": "list", "resource_name": "失信被执行人名单", "date": "2026-03-01", "until": None}]
    sid = city.subjects["debtor"]
    core_id = conn.execute(CHECKS.insert().returning(CHECKS.c.id), _check_row(sid, city.finance)).scalar_one()
    conn.execute(ITEMS.insert(), [{"check_id": core_id, "measure": "m1", "kind": "punishment", "strength": "禁止",
                                   "triggers": triggers}])
    before = datetime.now(UTC)
    direct_id = Direct(CHECKS.insert().returning(CHECKS.c.id)).returning(conn, _check_row(sid, city.finance))
    Direct(ITEMS.insert()).many(conn, [{"check_id": direct_id, "measure": "m1", "kind": "punishment",
                                        "strength": "禁止", "triggers": triggers}])
    assert direct_id == core_id + 1
    got = {r.id: r for r in conn.execute(select(CHECKS).where(CHECKS.c.id.in_([core_id, direct_id])))}
    # Python-side column defaults filled in as an INSERT fills them
    assert got[direct_id].checked_at >= before and got[direct_id].measures_total == 0
    assert got[direct_id].feedback_complete is False
    skip = {"id", "checked_at"}
    assert ({k: v for k, v in got[direct_id]._mapping.items() if k not in skip}
            == {k: v for k, v in got[core_id]._mapping.items() if k not in skip})
    # JSON: the same text on the server as SQLAlchemy sends, not only the same value
    stored = dict(conn.execute(text("SELECT check_id, triggers::text FROM measure_check_items")).all())
    assert stored[direct_id] == stored[core_id]
    session.rollback()  # the session's transaction: nothing of either is kept
    assert session.scalar(select(func.count()).select_from(CHECKS)) == 0


def test_a_driver_error_is_raised_as_sqlalchemys_and_the_session_recovers(city, session):
    _pg_only(city.url)
    conn = session.connection()
    with pytest.raises(exc.IntegrityError) as err:  # no such check: the foreign key refuses the item
        Direct(ITEMS.insert()).many(conn, [{"check_id": 10**12, "measure": "m1", "kind": "reward",
                                            "strength": "优先办理", "triggers": []}])
    assert err.value.hide_parameters and "SQL parameters hidden" in str(err.value)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ITEMS)) == 0


def test_a_lost_connection_is_invalidated(city, session):
    """As a server restart would: SQLAlchemy's DBAPIError with the connection invalidated (the
    web layer answers 503 and the pool opens a new one)."""
    _pg_only(city.url)
    from xinyong.db.engine import get_engine

    conn = session.connection()
    pid = conn.scalar(text("SELECT pg_backend_pid()"))
    with get_engine(city.url).connect() as admin:
        assert admin.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    with pytest.raises(exc.DBAPIError) as lost:
        Direct(select(CHECKS.c.id)).all(conn, {})
    assert lost.value.connection_invalidated
    session.rollback()
    assert session.scalar(text("SELECT pg_backend_pid()")) != pid


def test_an_insert_whose_default_cannot_be_filled_is_refused(db_url, session):
    from sqlalchemy import Column, Integer, MetaData, Sequence, Table

    _pg_only(db_url)
    t = Table("t_direct", MetaData(), Column("id", Integer, primary_key=True),
              Column("n", Integer, Sequence("t_direct_n")))
    with pytest.raises(RuntimeError, match="t_direct.n"):
        Direct(t.insert()).returning(session.connection(), {"id": 1})


def test_other_drivers_run_the_statements_through_sqlalchemy():
    """On SQLite the same calls go through Core: the caller needs no branch of its own."""
    from sqlalchemy import JSON, Column, Integer, MetaData, String, Table, create_engine

    t = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(20)),
              Column("doc", JSON))
    with create_engine("sqlite://").begin() as conn:
        t.create(conn)
        first = Direct(t.insert().returning(t.c.id)).returning(conn, {"name": "甲", "doc": {"k": "值"}})
        Direct(t.insert()).many(conn, [{"name": "乙", "doc": []}, {"name": "丙", "doc": None}])
        Direct(t.insert()).many(conn, [])
        rows = Direct(select(t).order_by(t.c.id)).all(conn, {})
        assert first == 1 and rows == conn.execute(select(t).order_by(t.c.id)).all()
        assert [(r.name, r.doc) for r in rows] == [("甲", {"k": "值"}), ("乙", []), ("丙", None)]
