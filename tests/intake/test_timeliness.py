"""Double publicity timeliness: working days on the official calendar (调休 included), a
fallback for unknown years, an operator's holiday file, and per-department rates."""

from __future__ import annotations

import logging
import os
from datetime import date

import pytest
from sqlalchemy.orm import Session

from xinyong.config import reset_settings
from xinyong.errors import ConfigurationError
from xinyong.intake.service import ingest_rows, timeliness_by_department
from xinyong.intake.workdays import WorkdayCalendar, default_calendar

from .test_records import penalty


def test_official_calendar_with_adjusted_workdays():
    cal = WorkdayCalendar(holiday_file=None)
    assert cal.is_workday(date(2024, 2, 4))  # a Sunday worked (调休) before the Spring Festival
    assert not cal.is_workday(date(2024, 2, 12))  # a Monday of the Spring Festival holiday
    assert not cal.is_workday(date(2024, 10, 1))
    # Decided Thursday 8 Feb 2024: Fri 9, Sun 18 (调休), Mon 19 are the working days to 19 Feb.
    assert cal.workdays_between(date(2024, 2, 8), date(2024, 2, 19)) == 3
    assert cal.workdays_between(date(2023, 12, 29), date(2024, 1, 2)) == 1  # across a year and New Year's Day
    assert cal.workdays_between(date(2024, 3, 5), date(2024, 3, 5)) == 0


def test_unknown_year_falls_back_to_weekdays_with_one_warning(caplog, monkeypatch, settings_env):
    monkeypatch.delenv("XINYONG_HOLIDAY_FILE", raising=False)
    reset_settings()
    cal = WorkdayCalendar()
    with caplog.at_level(logging.WARNING, logger="xinyong.intake.workdays"):
        assert cal.workdays_between(date(2031, 1, 1), date(2031, 1, 15)) == 10
        assert cal.workdays_between(date(2031, 2, 1), date(2031, 2, 3)) == 1
    assert len([r for r in caplog.records if "2031" in r.getMessage()]) == 1


@pytest.fixture
def holiday_file(tmp_path, monkeypatch, settings_env):
    """An operator's holiday file, configured (write its content in the test)."""
    path = tmp_path / "holidays.txt"
    path.write_text("", encoding="utf-8")
    monkeypatch.setenv("XINYONG_HOLIDAY_FILE", str(path))
    reset_settings()
    return path


def test_operator_holiday_file(holiday_file):
    path = holiday_file
    path.write_text("# 2031 年放假安排（示例）\n2031-01-01,holiday\n2031-01-02,休\n2031-01-04,workday\n", encoding="utf-8")
    cal = WorkdayCalendar()
    assert not cal.is_workday(date(2031, 1, 2)) and cal.is_workday(date(2031, 1, 4))  # 4 Jan 2031 is a Saturday
    assert cal.workdays_between(date(2030, 12, 31), date(2031, 1, 6)) == 3  # 3 (Fri), 4 (Sat, worked), 6 (Mon)
    path.write_text("2031-13-01,holiday\n", encoding="utf-8")
    with pytest.raises(ConfigurationError) as exc:
        WorkdayCalendar()
    assert "第1行" in exc.value.message


def test_batches_share_one_calendar_that_follows_the_holiday_file(holiday_file, monkeypatch):
    path = holiday_file
    path.write_text("2031-01-02,holiday\n", encoding="utf-8")
    os.utime(path, (0, 0))
    cal = default_calendar()
    assert default_calendar() is cal and not cal.is_workday(date(2031, 1, 2))
    path.write_text("2031-01-03,holiday\n", encoding="utf-8")  # the operator corrects the file
    os.utime(path, (1, 1))  # a different modification time, however fast the test runs
    fresh = default_calendar()
    assert fresh is not cal and fresh.is_workday(date(2031, 1, 2)) and not fresh.is_workday(date(2031, 1, 3))
    monkeypatch.delenv("XINYONG_HOLIDAY_FILE")
    reset_settings()
    assert default_calendar().is_workday(date(2031, 1, 2))  # back to the built-in calendar


def test_rates_per_department(engine):
    # Submitted Friday 1 Nov 2024. Working days back: 31 Oct = 1 … 22 Oct = 8 (1–7 Oct were holidays).
    today = date(2024, 11, 1)
    rows = [penalty(1, uscc="", category="个体工商户", decision_date="2024-10-31", valid_until="2025-10-31"),
            penalty(2, uscc="", category="个体工商户", decision_date="2024-10-23", valid_until="2025-10-23"),
            penalty(3, uscc="", category="个体工商户", decision_date="2024-10-22", valid_until="2025-10-22"),
            penalty(4, uscc="", category="个体工商户", decision_date="2024-09-27", valid_until="2025-09-27")]
    r1 = ingest_rows(engine, rows[:2], "admin_penalty", "market_regulation", today=today)
    assert r1.timeliness == {"deadline_workdays": 7, "new_records": 2, "on_time": 2, "late": 0, "on_time_rate": 1.0}
    r2 = ingest_rows(engine, rows[2:], "admin_penalty", "tax", today=today)
    assert (r2.timeliness["on_time"], r2.timeliness["late"]) == (0, 2)
    # A later correction keeps the first submission's timeliness.
    ingest_rows(engine, [{**rows[0], "violation_facts": "更正后的事实"}], "admin_penalty", "market_regulation",
                today=date(2025, 1, 2))
    with Session(engine) as s:
        by_dept = {d["department"]: d for d in timeliness_by_department(s)}
        assert by_dept["market_regulation"]["on_time_rate"] == 1.0
        assert by_dept["tax"]["late"] == 2 and by_dept["tax"]["resources"]["admin_penalty"]["avg_delay_workdays"] > 7
        only = timeliness_by_department(s, department="tax")
        assert [d["department"] for d in only] == ["tax"]
