"""Exchange fixtures: a seeded platform with penalties of a few companies, and API clients."""

from __future__ import annotations

import random
from datetime import date

import pytest

from xinyong.accounts.actor import Actor
from xinyong.accounts.clients import create_client, limiter
from xinyong.db.engine import session_scope
from xinyong.departments.service import seed_departments
from xinyong.identity.codes import generate_uscc
from xinyong.intake.service import ingest_rows

AUTHORITY = {"authority": "佛山市市场监督管理局", "authority_uscc": "11440600862729575F",
             "source_department": "佛山市市场监督管理局", "source_department_uscc": "11440600862729575F"}


@pytest.fixture(autouse=True)
def _reset_limiter(monkeypatch):
    monkeypatch.setenv("XINYONG_TODAY", "2026-11-20")
    limiter.reset()
    yield
    limiter.reset()


def penalty(n: int, uscc: str, *, name: str = "佛山市恒泰五金制品有限公司", category: str = "罚款",
            decided: str = "2026-01-10", valid_until: str = "2029-01-10", **extra) -> dict:
    row = {"subject_name": name, "subject_category": "法人及非法人组织", "uscc": uscc, "legal_rep": "李四",
           "decision_no": f"佛市监罚〔2026〕{n}号", "violation_type": "无证经营", "violation_facts": "经查，当事人无证经营。",
           "legal_basis": "《无证无照经营查处办法》第十三条", "penalty_category": category,
           "penalty_content": "罚款五千元" if "罚款" in category else category, "decision_date": decided,
           "valid_until": valid_until, **AUTHORITY}
    if "罚款" in category:
        row["fine_amount"] = "5000"
    row.update(extra)
    return row


def usccs(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [generate_uscc(rng, region="440604") for _ in range(n)]


def seed_platform(url: str, companies: int = 3, per_company: int = 2) -> list[str]:
    with session_scope(url) as s:
        seed_departments(s)
    codes = usccs(companies)
    rows = [penalty(i * 10 + j, code, name=f"佛山市测试{i}号企业有限公司")
            for i, code in enumerate(codes, start=1) for j in range(per_company)]
    with session_scope(url) as s:
        ingest_rows(s, rows, "admin_penalty", "market_regulation", today=date(2026, 11, 1))
    return codes


def add_client(url: str, *, dept: str = "market_regulation", role: str = "dept_querier", name: str = "系统",
               **kw) -> str:
    with session_scope(url) as s:
        return create_client(s, Actor.cli("pytest"), department=dept, name=name, role=role, **kw).key


def headers(key: str, purpose: str = "routine_supervision") -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-Purpose": purpose}
