"""Test fixtures: every storage test runs on SQLite and on PostgreSQL.

Set XINYONG_REQUIRE_PG=1 (``make test`` does) to turn an unreachable PostgreSQL into a failure
and to fail the run when no PostgreSQL test passed.
"""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from xinyong.config import reset_settings
from xinyong.db.engine import dispose_all

REQUIRE_PG = os.environ.get("XINYONG_REQUIRE_PG") == "1"
PG_ADMIN_URL = os.environ.get("XINYONG_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TEST_SECRET = base64.urlsafe_b64encode(b"x" * 32).decode()
_pg_passed = 0


def _pg_available() -> str | None:
    try:
        eng = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:  # noqa: BLE001
        return str(exc).splitlines()[0]


@pytest.fixture(scope="session")
def pg_template_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, migrated once, dropped at the end."""
    problem = _pg_available()
    if problem:
        msg = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {problem}"
        if REQUIRE_PG:
            pytest.fail(msg)
        pytest.skip(msg)
    name = f"xinyong_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    from xinyong.db.migrate import upgrade

    upgrade(url)
    try:
        yield url
    finally:
        dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    from xinyong.db.migrate import upgrade

    upgrade(f"sqlite:///{path}")
    dispose_all()
    return path


@pytest.fixture
def settings_env(tmp_path, monkeypatch) -> Path:
    """Isolated settings: var dir in tmp, a fixed test secret (never a real key)."""
    var = tmp_path / "var"
    var.mkdir()
    monkeypatch.setenv("XINYONG_VAR_DIR", str(var))
    monkeypatch.setenv("XINYONG_SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("XINYONG_DATABASE_URL", raising=False)
    reset_settings()
    yield var
    reset_settings()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, settings_env, monkeypatch, tmp_path) -> Iterator[str]:
    """A migrated, empty database on each backend, exported as XINYONG_DATABASE_URL."""
    if request.param == "sqlite":
        path = tmp_path / "test.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("pg_template_url")
        _truncate_pg(url)
    monkeypatch.setenv("XINYONG_DATABASE_URL", url)
    reset_settings()
    yield url
    if request.param == "sqlite":
        dispose_all()


def _truncate_pg(url: str) -> None:
    from xinyong.db.engine import get_engine
    from xinyong.db.models import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def session(db_url):
    from xinyong.db.engine import get_sessionmaker

    s = get_sessionmaker(db_url)()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


@pytest.fixture
def client(db_url):
    from fastapi.testclient import TestClient

    from xinyong.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def pytest_runtest_logreport(report) -> None:
    global _pg_passed
    if report.when == "call" and report.passed and "postgresql" in report.nodeid:
        _pg_passed += 1


def pytest_terminal_summary(terminalreporter) -> None:
    terminalreporter.write_line(f"PostgreSQL tests passed: {_pg_passed}")
    if REQUIRE_PG and _pg_passed == 0:
        terminalreporter.write_line("FAILED: XINYONG_REQUIRE_PG=1 but no PostgreSQL test passed", red=True)


def pytest_sessionfinish(session, exitstatus) -> None:
    if REQUIRE_PG and _pg_passed == 0 and exitstatus == 0 and session.testscollected:
        # A green run that never touched PostgreSQL is not a pass on this project.
        session.exitstatus = 1
