"""Report fixtures: a small synthetic file of records built through intake (no mocked storage)."""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from datetime import date

import pytest

from xinyong.identity.codes import generate_citizen_id, generate_uscc

DECIDED = date(2026, 10, 20)
INTAKE_DAY = date(2026, 11, 1)
AUTHORITY = {"authority": "佛山市市场监督管理局", "authority_uscc": "11440600862729575F",
             "source_department": "佛山市市场监督管理局", "source_department_uscc": "11440600862729575F"}
COMPANY = "佛山市恒泰五金制品有限公司"
PERSON = "张三丰"

requires_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                      reason="poppler-utils not installed (scripts/system-packages.txt)")


def penalty(n: int, *, name: str = COMPANY, uscc: str = "", category: str = "法人及非法人组织", **extra) -> dict:
    row = {"subject_name": name, "subject_category": category, "uscc": uscc,
           "legal_rep": "李四" if category == "法人及非法人组织" else "",
           "decision_no": f"佛市监罚〔2026〕{n}号", "violation_type": "无证经营",
           "violation_facts": "经查，当事人未取得营业执照从事经营活动。",
           "legal_basis": "《无证无照经营查处办法》第十三条", "penalty_category": "罚款", "fine_amount": "1.5",
           "penalty_content": "罚款一万五千元", "decision_date": DECIDED.isoformat(),
           "valid_until": "2027-10-20", **AUTHORITY}
    row.update(extra)
    return row


def enforcement(n: int, *, name: str = COMPANY, uscc: str = "") -> dict:
    """A record of a non-public (government-shared) resource."""
    return {"subject_name": name, "subject_category": "法人及非法人组织", "uscc": uscc, "legal_rep": "李四",
            "document_no": f"佛市监强〔2026〕{n}号", "enforcement_kind": "扣押财物", "reason": "涉嫌无证经营",
            "content": "扣押经营工具一批", "decision_date": DECIDED.isoformat(), "authority": AUTHORITY["authority"],
            "authority_uscc": AUTHORITY["authority_uscc"]}


@dataclass
class City:
    url: str
    uscc: str
    person_id: str
    rep_id: str
    public_decisions: list[str]
    withdrawn_decision: str
    private_document: str


def build_city(db_url: str, *, n_penalties: int = 3, seed: int = 9) -> City:
    from xinyong.db.engine import get_engine, session_scope
    from xinyong.departments.service import seed_departments
    from xinyong.intake.service import find_record, ingest_rows, withdraw_record

    with session_scope(db_url) as s:
        seed_departments(s)
    engine = get_engine(db_url)
    rng = random.Random(seed)
    uscc = generate_uscc(rng)
    person_id = generate_citizen_id(rng)
    rep_id = generate_citizen_id(rng)
    rows = [penalty(i, uscc=uscc) for i in range(1, n_penalties + 2)]
    rows[0].update(legal_rep_id_type="身份证", legal_rep_id_no=rep_id)  # personal, never public
    ingest_rows(engine, rows, "admin_penalty", "market_regulation", today=INTAKE_DAY)
    ingest_rows(engine, [penalty(900, name=PERSON, category="自然人", id_type="身份证", id_no=person_id)],
                "admin_penalty", "market_regulation", today=INTAKE_DAY)
    ingest_rows(engine, [enforcement(7, uscc=uscc)], "admin_enforcement", "market_regulation", today=INTAKE_DAY)
    withdrawn = f"佛市监罚〔2026〕{n_penalties + 1}号"
    from xinyong.accounts.actor import Actor

    with session_scope(db_url) as s:
        rec = find_record(s, "admin_penalty", {"decision_no": withdrawn, "authority": AUTHORITY["authority"]})
        withdraw_record(s, rec.id, reason="决定被依法撤销", actor=Actor.cli("pytest"))
    return City(db_url, uscc, person_id, rep_id, [f"佛市监罚〔2026〕{i}号" for i in range(1, n_penalties + 1)],
                withdrawn, "佛市监强〔2026〕7号")


@pytest.fixture
def city(db_url) -> City:
    return build_city(db_url)


def issue(city: City, code: str, kind: str = "public", scenario: str | None = None):
    from xinyong.db.engine import session_scope
    from xinyong.reports.service import issue_report
    from xinyong.subjects.service import resolve_subject

    with session_scope(city.url) as s:
        return issue_report(s, resolve_subject(s, code), kind, scenario=scenario)
