"""Shared intake fixtures: one synthetic city per test session, seeded databases."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from xinyong.catalogue import load_catalogue

AS_OF = date(2026, 11, 1)
CITY_SUBJECTS = 1500
CITY_SEED = 21


@pytest.fixture(scope="session")
def city(tmp_path_factory) -> Path:
    from xinyong.synthetic.generator import generate_city

    out = tmp_path_factory.mktemp("intake-city")
    generate_city(out, n_subjects=CITY_SUBJECTS, seed=CITY_SEED, as_of=AS_OF)
    return out


@pytest.fixture
def engine(db_url):
    """A migrated database with the default departments."""
    from xinyong.db.engine import get_engine, session_scope
    from xinyong.departments.service import seed_departments

    with session_scope(db_url) as s:
        seed_departments(s)
    return get_engine(db_url)


@pytest.fixture
def registered(engine, city, db_url):
    """The city's subject registry loaded (what the market regulator and civil affairs hold)."""
    from xinyong.synthetic.load import load_city

    load_city(city, url=db_url)
    return engine


def penalty_labels() -> list[str]:
    return [f.label for f in load_catalogue().get("admin_penalty").fields]


def write_csv(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8",
              delimiter: str = ",", title: str | None = None) -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        if title:
            w.writerow([title])
        w.writerow(header)
        w.writerows(rows)
    return path
