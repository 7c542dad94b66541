"""Portal fixtures: one small synthetic city per backend and test session, ingested through the
real intake path, and helpers to point the application at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_ADMIN_URL, REQUIRE_PG, TEST_SECRET, _pg_available
from xinyong.config import reset_settings

AS_OF = date(2026, 11, 1)
CITY_SUBJECTS = 300
CITY_SEED = 5


@dataclass
class City:
    backend: str
    url: str
    var: Path
    city_dir: Path

    def env(self) -> dict[str, str]:
        return {"XINYONG_DATABASE_URL": self.url, "XINYONG_VAR_DIR": str(self.var),
                "XINYONG_SECRET_KEY": TEST_SECRET, "XINYONG_TODAY": AS_OF.isoformat(),
                "XINYONG_SITE_NAME": "信用佛山"}


def apply_env(mp: pytest.MonkeyPatch, city: City) -> None:
    for k, v in city.env().items():
        mp.setenv(k, v)
    reset_settings()
    from xinyong.portal.service import clear_caches

    clear_caches()


@pytest.fixture(scope="session")
def city_files(tmp_path_factory) -> Path:
    from xinyong.synthetic.generator import generate_city

    out = tmp_path_factory.mktemp("portal-city")
    generate_city(out, n_subjects=CITY_SUBJECTS, seed=CITY_SEED, as_of=AS_OF)
    return out


def _build(city: City) -> None:
    from xinyong.db.engine import get_engine, session_scope
    from xinyong.db.migrate import upgrade
    from xinyong.departments.service import seed_departments
    from xinyong.intake.service import ingest_city
    from xinyong.synthetic.load import load_city

    upgrade(city.url)
    with session_scope(city.url) as s:
        seed_departments(s)
    load_city(city.city_dir, url=city.url)
    ingest_city(get_engine(city.url), city.city_dir)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def portal_city(request, tmp_path_factory, city_files) -> Iterator[City]:
    """The demo city, ingested, on each backend (built once per session)."""
    var = tmp_path_factory.mktemp(f"portal-var-{request.param}")
    dropdb = None
    if request.param == "sqlite":
        url = f"sqlite:///{var / 'city.sqlite3'}"
    else:
        problem = _pg_available()
        if problem:
            if REQUIRE_PG:
                pytest.fail(f"PostgreSQL unreachable: {problem}")
            pytest.skip(f"PostgreSQL unreachable: {problem}")
        name = f"xinyong_portal_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        dropdb = name
    city = City(request.param, url, var, city_files)
    with pytest.MonkeyPatch.context() as mp:
        apply_env(mp, city)
        _build(city)
    reset_settings()
    yield city
    from xinyong.db.engine import dispose_all

    dispose_all()
    if dropdb:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{dropdb}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def city(portal_city, monkeypatch) -> City:
    """The application's settings point at the city for this test."""
    apply_env(monkeypatch, portal_city)
    yield portal_city
    reset_settings()


@pytest.fixture
def web(city):
    from fastapi.testclient import TestClient

    from xinyong.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c
