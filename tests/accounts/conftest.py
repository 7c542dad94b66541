"""Shared helpers for the accounts tests: cheap argon2, seeded departments, login helpers."""

from __future__ import annotations

import re

import pytest

from xinyong.accounts.actor import Actor
from xinyong.accounts.clients import create_client, limiter
from xinyong.accounts.service import create_user
from xinyong.db.engine import session_scope
from xinyong.departments.service import seed_departments

PASSWORD = "Correct-Horse-42"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch):
    # Production defaults are strong (64 MiB, t=3); tests only need the same code path.
    monkeypatch.setenv("XINYONG_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("XINYONG_ARGON2_MEMORY_COST", "8")
    monkeypatch.setenv("XINYONG_ARGON2_PARALLELISM", "1")
    limiter.reset()
    yield
    limiter.reset()


def seed(db_url: str) -> None:
    with session_scope(db_url) as s:
        seed_departments(s)


def add_user(db_url: str, username: str, role: str, *, dept: str | None = None, subject: str | None = None,
             password: str = PASSWORD, totp: bool = False):
    with session_scope(db_url) as s:
        made = create_user(s, Actor.cli("pytest"), username=username, role=role, department=dept,
                           subject=subject, password=password, totp=totp)
        return made


def add_client(db_url: str, *, dept: str = "market_regulation", role: str = "dept_querier", **kw) -> str:
    with session_scope(db_url) as s:
        return create_client(s, Actor.cli("pytest"), department=dept, name=f"{dept}-system", role=role, **kw).key


def csrf_from(html: str) -> str:
    m = _CSRF.search(html)
    assert m, html
    return m.group(1)


def login(client, username: str, password: str = PASSWORD, totp: str | None = None, next_url: str = "/me"):
    page = client.get("/login")
    assert page.status_code == 200, page.text
    data = {"username": username, "password": password, "csrf_token": csrf_from(page.text), "next": next_url}
    if totp is not None:
        data["totp"] = totp
    return client.post("/login", data=data, follow_redirects=False)
