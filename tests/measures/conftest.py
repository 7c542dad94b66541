"""Measures fixtures: registered subjects and their records (list entries, penalties,
commitments) written as the intake and workflows leave them."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select

from xinyong.accounts.actor import Actor
from xinyong.db.engine import session_scope
from xinyong.identity.codes import generate_uscc
from xinyong.intake.models import Record

TODAY = date(2026, 11, 1)


def add_record(session, resource: str, subject_id: int, *, main_date: date = date(2026, 6, 1),
               valid_until: date | None = None, public_until: date | None = None, severity: str | None = None,
               data: dict | None = None, objection_open: bool = False, dept_id: int = 1) -> Record:
    key = uuid.uuid4().hex
    rec = Record(resource=resource, natural_key_hash=key, natural_key=f"{resource}-{key[:8]}", subject_id=subject_id,
                 department_id=dept_id, status="active", main_date=main_date, valid_until=valid_until,
                 public_until=public_until, severity=severity, content_hash=key, data=data or {},
                 objection_open=objection_open, published=True)
    session.add(rec)
    session.flush()
    return rec


@dataclass
class City:
    url: str
    finance: int
    market: int
    tax_dept: int
    subjects: dict[str, int]
    codes: dict[str, str]


def make_subject(session, name: str, uscc: str) -> int:
    from xinyong.subjects.service import SubjectIn, upsert_subjects

    upsert_subjects(session, [SubjectIn(kind="legal_entity", name=name, uscc=uscc, org_type="enterprise",
                                        region="440604")])
    from xinyong.subjects.models import Subject

    return session.scalar(select(Subject.id).where(Subject.uscc == uscc))


@pytest.fixture
def city(db_url) -> City:
    """Five enterprises: one on the judgment-debtor black list, one A-grade taxpayer that is also
    on the abnormal-operations watch list, one with a serious penalty, one with a breached
    commitment, one clean."""
    from xinyong.departments.service import find_department, seed_departments

    rng = random.Random(11)
    codes = {k: generate_uscc(rng, region="440604") for k in ("debtor", "mixed", "penalised", "breacher", "clean")}
    names = {"debtor": "佛山市失信建材有限公司", "mixed": "佛山市守信兼异常贸易有限公司", "penalised": "佛山市重罚化工有限公司",
             "breacher": "佛山市违诺餐饮有限公司", "clean": "佛山市清白科技有限公司"}
    with session_scope(db_url) as s:
        seed_departments(s)
        ids = {k: make_subject(s, names[k], codes[k]) for k in codes}
        finance = find_department(s, "finance").id
        market = find_department(s, "market_regulation").id
        tax = find_department(s, "tax").id
        add_record(s, "dishonest_judgment_debtors", ids["debtor"], main_date=date(2026, 3, 1),
                   public_until=date(2029, 3, 1), severity="general")
        add_record(s, "tax_a_grade_taxpayers", ids["mixed"], main_date=date(2026, 4, 1), valid_until=date(2027, 3, 31))
        add_record(s, "business_abnormality", ids["mixed"], main_date=date(2026, 5, 1), severity="general")
        add_record(s, "admin_penalty", ids["penalised"], main_date=date(2025, 6, 1), severity="serious",
                   public_until=date(2028, 6, 1))
        add_record(s, "admin_penalty", ids["clean"], main_date=date(2026, 2, 1), severity="minor")
        add_record(s, "credit_commitments", ids["breacher"], main_date=date(2026, 1, 5),
                   data={"fulfilment_status": "未履行", "commitment_domain": "行政许可",
                         "verification_date": "2026-07-01"})
        add_record(s, "credit_commitments", ids["clean"], main_date=date(2026, 1, 5),
                   data={"fulfilment_status": "已履行", "commitment_domain": "行政许可"})
    return City(db_url, finance, market, tax, ids, codes)


def staff(db_url: str, username: str, role: str, dept: str | None = None) -> Actor:
    from xinyong.accounts.models import User
    from xinyong.accounts.service import _actor_for_user, create_user

    with session_scope(db_url) as s:
        create_user(s, Actor.cli("pytest"), username=username, role=role, department=dept, password=PASSWORD)
    with session_scope(db_url) as s:
        return _actor_for_user(s.scalar(select(User).where(User.username == username)))


PASSWORD = "Correct-Horse-42"


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch):
    monkeypatch.setenv("XINYONG_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("XINYONG_ARGON2_MEMORY_COST", "8")
    monkeypatch.setenv("XINYONG_ARGON2_PARALLELISM", "1")
    from xinyong.accounts.clients import limiter

    limiter.reset()
    yield
    limiter.reset()
