"""Workflow fixtures: a seeded database with one company, its penalties, and the accounts
that act on them (subject, department, credit office)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import select

from xinyong.accounts.actor import Actor
from xinyong.db.engine import session_scope
from xinyong.identity.codes import generate_uscc
from xinyong.intake.models import Record
from xinyong.intake.service import ingest_rows

AUTHORITY = {"authority": "佛山市市场监督管理局", "authority_uscc": "11440600862729575F",
             "source_department": "佛山市市场监督管理局", "source_department_uscc": "11440600862729575F"}
PASSWORD = "Correct-Horse-42"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch):
    monkeypatch.setenv("XINYONG_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("XINYONG_ARGON2_MEMORY_COST", "8")
    monkeypatch.setenv("XINYONG_ARGON2_PARALLELISM", "1")
    from xinyong.accounts.clients import limiter

    limiter.reset()
    yield
    limiter.reset()


def penalty(n: int, uscc: str, *, category: str = "罚款", decided: str = "2026-01-10", valid_until: str = "2029-01-10",
            name: str = "佛山市恒泰五金制品有限公司", **extra) -> dict:
    row = {"subject_name": name, "subject_category": "法人及非法人组织", "uscc": uscc, "legal_rep": "李四",
           "decision_no": f"佛市监罚〔2026〕{n}号", "violation_type": "无证经营", "violation_facts": "经查，当事人无证经营。",
           "legal_basis": "《无证无照经营查处办法》第十三条", "penalty_category": category,
           "penalty_content": "罚款五千元" if "罚款" in category else category, "decision_date": decided,
           "valid_until": valid_until, **AUTHORITY}
    if "罚款" in category:
        row["fine_amount"] = "5000"
    row.update(extra)
    return row


@dataclass
class World:
    url: str
    uscc: str
    subject_id: int
    dept_id: int
    other_dept_id: int

    def record(self, n: int) -> Record:
        with session_scope(self.url) as s:
            rec = s.scalar(select(Record).where(Record.natural_key.like(f"%〕{n}号%")))
            s.expunge(rec)
            return rec

    def add_penalties(self, *rows: dict, today: date = date(2026, 11, 1)):
        with session_scope(self.url) as s:
            return ingest_rows(s, list(rows), "admin_penalty", "market_regulation", today=today)


@pytest.fixture
def world(db_url) -> World:
    from xinyong.departments.models import Department
    from xinyong.departments.service import find_department, seed_departments
    from xinyong.subjects.models import Subject

    with session_scope(db_url) as s:
        seed_departments(s)
    uscc = generate_uscc(random.Random(7), region="440604")
    w = World(db_url, uscc, 0, 0, 0)
    w.add_penalties(penalty(1, uscc), penalty(2, uscc, category="警告"))
    with session_scope(db_url) as s:
        w.subject_id = s.scalar(select(Subject.id).where(Subject.uscc == uscc))
        w.dept_id = find_department(s, "market_regulation").id
        w.other_dept_id = s.scalar(select(Department.id).where(Department.code == "tax"))
    return w


def actor_for(db_url: str, username: str, role: str, *, dept: str | None = None, subject: str | None = None) -> Actor:
    """A user account and the Actor it logs in as."""
    from xinyong.accounts.models import User
    from xinyong.accounts.service import _actor_for_user, create_user

    with session_scope(db_url) as s:
        create_user(s, Actor.cli("pytest"), username=username, role=role, department=dept, subject=subject,
                    password=PASSWORD)
    with session_scope(db_url) as s:
        user = s.scalar(select(User).where(User.username == username))
        return _actor_for_user(user)


def csrf_from(html: str) -> str:
    m = _CSRF.search(html)
    assert m, html[:2000]
    return m.group(1)


def login(client, username: str) -> str:
    """Log in; returns a CSRF token for the session's forms and JSON posts."""
    page = client.get("/login")
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf_from(page.text),
                                    "next": "/me"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_from(client.get("/me").text)
