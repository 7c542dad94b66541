"""Disclosure windows set at intake, the publication rule, and the idempotent tick."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from xinyong.audit.models import AuditEvent
from xinyong.db.engine import session_scope
from xinyong.intake.models import Record
from xinyong.intake.service import withdraw_record
from xinyong.publication import built_on_public_clause, public_record_clause, record_status_label
from xinyong.workflows.tick import run_tick, tick
from xinyong.workflows.windows import add_months

from .conftest import penalty


def public_ids(url: str, today: date) -> set[int]:
    with session_scope(url) as s:
        return set(s.scalars(select(Record.id).where(public_record_clause(today))))


def test_intake_sets_the_window_from_severity_and_dates(world):
    general, minor = world.record(1), world.record(2)
    # General penalty decided 2026-01-10: published 12 months (to 2027-01-09), repairable after 3.
    assert (general.severity, general.published) == ("general", True)
    assert general.public_until == date(2027, 1, 9) and general.repair_after == date(2026, 4, 10)
    # A warning is minor: never published, but kept.
    assert (minor.severity, minor.published) == ("minor", False)
    assert general.id in public_ids(world.url, date(2026, 11, 1))
    assert minor.id not in public_ids(world.url, date(2026, 11, 1))
    assert record_status_label(minor) == "不予公示"
    # The record's own valid-until date ends it earlier when it is earlier.
    world.add_penalties(penalty(3, world.uscc, category="吊销许可证件", valid_until="2026-06-30"))
    serious = world.record(3)
    assert serious.severity == "serious" and serious.public_until == date(2026, 6, 30)
    assert serious.repair_after == date(2027, 1, 10)


def test_a_changed_row_recomputes_the_window(world):
    world.add_penalties(penalty(1, world.uscc, category="警告"))
    rec = world.record(1)
    assert rec.current_version == 2 and (rec.severity, rec.published) == ("minor", False)


def test_withdrawn_records_leave_the_public(world):
    rec = world.record(1)
    with session_scope(world.url) as s:
        withdraw_record(s, rec.id, reason="处罚决定已被依法撤销")
    assert rec.id not in public_ids(world.url, date(2026, 11, 1))
    assert record_status_label(world.record(1)) == "已撤销"


def test_statements_on_the_public_clause_are_built_once_a_day():
    """A page's statement is built once per day's clause and reused; the next day (whose clause
    admits other records) gets its own."""
    built: list[date] = []

    def build(clause):
        built.append(clause)
        return ("statement", clause)

    day, next_day = date(2026, 11, 1), date(2026, 11, 2)
    first = built_on_public_clause("test.once", day, build)
    assert built_on_public_clause("test.once", day, build) is first and len(built) == 1
    assert first[1] is public_record_clause(day)
    other = built_on_public_clause("test.once", next_day, build)
    assert other is not first and other[1] is public_record_clause(next_day) and len(built) == 2
    assert built_on_public_clause("test.other", day, build) is not first  # keys never share


def test_add_months_clamps_to_month_end():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2026, 11, 15), 14) == date(2028, 1, 15)


def _snapshot(url: str) -> tuple:
    with session_scope(url) as s:
        records = s.execute(select(Record.id, Record.window_closed_on, Record.current_version)
                            .order_by(Record.id)).all()
        events = s.scalar(select(func.count()).select_from(AuditEvent))
    return records, events


def test_tick_closes_ended_windows_once(world):
    rec = world.record(1)
    before_end = date(2027, 1, 9)
    assert rec.id in public_ids(world.url, before_end)
    with session_scope(world.url) as s:
        out = run_tick(s, before_end)
    assert out["windows_closed_total"] == 0
    # The day after the last day: gone from every public surface, even before the tick runs.
    after = date(2027, 1, 10)
    assert rec.id not in public_ids(world.url, after)
    out = tick(world.url, after)
    assert out["windows_closed"] == {"admin_penalty": 1}
    closed = world.record(1)
    assert closed.window_closed_on == after and closed.status == "active"
    assert record_status_label(closed, date(2027, 1, 10)) == "已过公示期"
    with session_scope(world.url) as s:
        ev = s.scalar(select(AuditEvent).where(AuditEvent.action == "disclosure.window_closed"))
        assert ev.details["record_ids"] == [rec.id] and ev.details["records"] == 1
    # A second run (same day or later) changes nothing at all.
    snap = _snapshot(world.url)
    again = tick(world.url, after)
    assert again["windows_closed_total"] == 0 and _snapshot(world.url) == snap
    tick(world.url, date(2027, 2, 1))
    assert _snapshot(world.url) == snap


def test_tick_cli_with_today(world, monkeypatch):
    from typer.testing import CliRunner

    from xinyong.cli import app

    monkeypatch.setenv("XINYONG_DATABASE_URL", world.url)
    runner = CliRunner()
    r = runner.invoke(app, ["tick", "--today", "2027-01-10", "--json"])
    assert r.exit_code == 0, r.output
    assert '"windows_closed_total": 1' in r.output
    r = runner.invoke(app, ["tick", "--today", "2027-01-10"])
    assert r.exit_code == 0 and "关闭公示期 0 条" in r.output
    r = runner.invoke(app, ["tick", "--today", "2027-13-01"])
    assert r.exit_code == 2 and "YYYY-MM-DD" in r.output
