"""A hand-built city small enough to count by hand: every default indicator has an exact value.

As of 2026-10-15. Subjects, records and batches are written directly (not through intake) so
each figure below is chosen, not produced by the generator:

enterprises  E1–E5 counted (E6 cancelled 注销, E7 not in the registry); records: E1 penalty
             (market_regulation, on time, decided 09-03, received 09-10), E2 licence (late,
             10-02/10-12), E3 tax rating (08-05), E4 penalty withdrawn, E6 penalty (on time, 10-01)
regions      E1–E3 in 440604 (禅城), E4–E5 in 440605 (南海)
social orgs  S1 (record) S2 — public institutions P1 P2 (none) — persons N1 N2 (records) N3 N4
individual   I1 licence (on time, 10-08)
batches      market_regulation 09-10 (100 rows, 5 rejected, 90 matched) and 10-12 (50/0/50),
             tax 08-05 (40/10, 15 matched), ecology_environment 09-16 (10/0/10),
             transport 09-15 (20/5, 15 matched), hrss refused, archives (not a source) 10-01 (10/0/10),
             finance 11-01 (after the as-of day)
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

AS_OF = date(2026, 10, 15)
_seq = itertools.count(1)


def _dt(day: str) -> datetime:
    return datetime.fromisoformat(day + "T08:00:00").replace(tzinfo=UTC)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch):
    monkeypatch.setenv("XINYONG_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("XINYONG_ARGON2_MEMORY_COST", "8")
    monkeypatch.setenv("XINYONG_ARGON2_PARALLELISM", "1")
    monkeypatch.setenv("XINYONG_TODAY", AS_OF.isoformat())


def build_city(url: str) -> dict[str, int]:
    from sqlalchemy import select

    from xinyong.db.engine import session_scope
    from xinyong.departments.models import Department
    from xinyong.departments.service import seed_departments
    from xinyong.intake.models import IntakeBatch, Record
    from xinyong.subjects.models import Subject

    with session_scope(url) as s:
        seed_departments(s)
        s.add(Department(code="archives", name="佛山市档案馆", uscc="12440600MB2C00000X", region="440600",
                         level="city"))
        s.flush()
        dept = {d.code: d.id for d in s.scalars(select(Department))}
        subjects: dict[str, int] = {}

        def subject(key, kind, org_type=None, region="440604", verified=True, reg_status="存续"):
            sub = Subject(kind=kind, org_type=org_type, name=f"测试主体{key}", name_norm=f"测试主体{key}",
                          region=region, verified=verified, reg_status=reg_status if kind != "natural_person" else None,
                          created_at=_dt("2026-01-01"), updated_at=_dt("2026-01-01"))
            s.add(sub)
            s.flush()
            subjects[key] = sub.id

        for k in ("E1", "E2", "E3"):
            subject(k, "legal_entity", "enterprise")
        for k in ("E4", "E5"):
            subject(k, "legal_entity", "enterprise", region="440605")
        subject("E6", "legal_entity", "enterprise", reg_status="注销")
        subject("E7", "legal_entity", "enterprise", verified=False)
        for k in ("S1", "S2"):
            subject(k, "legal_entity", "social_org")
        for k in ("P1", "P2"):
            subject(k, "legal_entity", "public_institution")
        for k in ("N1", "N2", "N3", "N4"):
            subject(k, "natural_person")
        subject("I1", "individual_business")

        def record(key, resource, department, *, on_time=None, decided=None, received, status="active"):
            n = next(_seq)
            s.add(Record(resource=resource, natural_key_hash=f"{n:032x}", natural_key=f"测试-{n}",
                         subject_id=subjects[key], department_id=dept[department], status=status,
                         main_date=date.fromisoformat(decided) if decided else None,
                         content_hash=f"{n:032x}", data={}, submitted_on=date.fromisoformat(received),
                         on_time=on_time, delay_workdays=None if on_time is None else (2 if on_time else 12),
                         created_at=_dt(received), updated_at=_dt(received)))

        record("E1", "admin_penalty", "market_regulation", on_time=True, decided="2026-09-03", received="2026-09-10")
        record("E2", "admin_license", "market_regulation", on_time=False, decided="2026-10-02", received="2026-10-12")
        record("E3", "tax_credit_ratings", "tax", decided="2026-07-30", received="2026-08-05")
        record("E4", "admin_penalty", "market_regulation", on_time=True, decided="2026-09-01", received="2026-09-02",
               status="withdrawn")
        record("E6", "admin_penalty", "market_regulation", on_time=True, decided="2026-10-01", received="2026-10-12")
        record("S1", "social_organization_registration", "civil_affairs", decided="2020-05-01",
               received="2026-09-10")
        record("N1", "admin_penalty", "hrss", on_time=True, decided="2026-10-05", received="2026-10-12")
        record("N2", "admin_penalty", "hrss", on_time=None, decided="2026-10-06", received="2026-10-12")
        record("I1", "admin_license", "market_regulation", on_time=True, decided="2026-10-08", received="2026-10-12")

        def batch(department, resource, day, total, rejected, matched, status="committed"):
            s.add(IntakeBatch(department_id=dept[department], resource=resource, status=status, submitted_on=date.fromisoformat(day),
                              rows_total=total, rows_rejected=rejected, rows_accepted=total - rejected,
                              rows_matched=matched, started_at=_dt(day)))

        batch("market_regulation", "admin_penalty", "2026-09-10", 100, 5, 90)
        batch("market_regulation", "admin_license", "2026-10-12", 50, 0, 50)
        batch("tax", "tax_credit_ratings", "2026-08-05", 40, 10, 15)
        batch("ecology_environment", "admin_penalty", "2026-09-16", 10, 0, 10)
        batch("transport", "admin_penalty", "2026-09-15", 20, 5, 15)
        batch("hrss", "admin_penalty", "2026-10-12", 30, 30, 0, status="refused")
        batch("archives", "admin_penalty", "2026-10-01", 10, 0, 10)
        batch("finance", "admin_penalty", "2026-11-01", 10, 0, 10)
    return subjects


@pytest.fixture
def city_url(db_url) -> str:
    build_city(db_url)
    return db_url


@pytest.fixture
def snapshot(city_url):
    from xinyong.db.engine import session_scope
    from xinyong.indicators.service import dashboard, refresh

    refresh(city_url, as_of=AS_OF)
    with session_scope(city_url) as s:
        return dashboard(s)
