"""Indicators fed by the workflows (objections, repairs) and the department report API.

Cases are created through the workflow service functions and reports through the real API, then
counted by hand. As of 2026-12-31 (answer deadline 20 days, repair review 15 days, default policy):

objections  O1 record 1 filed 11-01 (due 11-21), corrected 11-10        on time, upheld
            O2 record 2 filed 11-01, record maintained 11-25             late
            O3 record 3 filed 11-01, record withdrawn 11-21 (last day)   on time, upheld
            O4 basic information filed 11-02, credit office keeps 11-05  on time (department credit_office)
            O5 record 4 filed 11-03, cancelled by the applicant 11-04    not decided
            O6 record 5 filed 11-05, still open                          not decided
            O7 record 6 filed 12-01, decided 2027-01-05 (after as-of)    not decided yet
repairs     R1 record 7 filed 11-01 (due 11-16), approved 11-10          on time
            R2 record 8 filed 11-01, rejected 11-20                      late
            R3 record 9 filed 11-02, cancelled 11-03                     not decided
            R4 record 10 filed 12-20, still open                         not decided
reports     tax and market_regulation obtained a report through the API; transport's request was
            refused (full report not allowed), the others never asked; 28 source departments.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from xinyong.accounts.actor import Actor
from xinyong.db.engine import session_scope

AS_OF = date(2026, 12, 31)
AUTHORITY = {"authority": "佛山市市场监督管理局", "authority_uscc": "11440600862729575F",
             "source_department": "佛山市市场监督管理局", "source_department_uscc": "11440600862729575F"}
PASSWORD = "Correct-Horse-42"


def _penalty(n: int, uscc: str) -> dict:
    return {"subject_name": "佛山市恒泰五金制品有限公司", "subject_category": "法人及非法人组织", "uscc": uscc,
            "legal_rep": "李四", "decision_no": f"佛市监罚〔2026〕{n}号", "violation_type": "无证经营",
            "violation_facts": "经查，当事人无证经营。", "legal_basis": "《无证无照经营查处办法》第十三条",
            "penalty_category": "罚款", "fine_amount": "5000", "penalty_content": "罚款五千元",
            "decision_date": "2026-01-10", "valid_until": "2029-01-10", **AUTHORITY}


def _actor(url: str, username: str, role: str, *, dept: str | None = None, subject: str | None = None) -> Actor:
    from xinyong.accounts.models import User
    from xinyong.accounts.service import _actor_for_user, create_user

    with session_scope(url) as s:
        create_user(s, Actor.cli("pytest"), username=username, role=role, department=dept, subject=subject,
                    password=PASSWORD)
    with session_scope(url) as s:
        return _actor_for_user(s.scalar(select(User).where(User.username == username)))


def _d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


@pytest.fixture
def cases_url(db_url) -> str:
    """One company with ten penalties from market_regulation, and the cases above."""
    from xinyong.departments.service import seed_departments
    from xinyong.identity.codes import generate_uscc
    from xinyong.intake.models import Record
    from xinyong.intake.service import ingest_rows
    from xinyong.subjects.models import Subject
    from xinyong.workflows import objections as obj
    from xinyong.workflows import repair

    url = db_url
    uscc = generate_uscc(random.Random(7), region="440604")
    with session_scope(url) as s:
        seed_departments(s)
    with session_scope(url) as s:
        ingest_rows(s, [_penalty(n, uscc) for n in range(1, 11)], "admin_penalty", "market_regulation",
                    today=_d(2, 1))
    with session_scope(url) as s:
        rec = {int(r.natural_key.split("〕")[1].split("号")[0]): r.id for r in s.scalars(select(Record))}
        subject_id = s.scalar(select(Subject.id).where(Subject.uscc == uscc))
    subj = _actor(url, "hengtai", "subject", subject=uscc)
    dept = _actor(url, "scjg", "dept_submitter", dept="market_regulation")
    office = _actor(url, "xyb", "reviewer")

    def file(record_no: int | None, day: date) -> int:
        with session_scope(url) as s:
            if record_no is None:
                return obj.file_objection(s, subj, subject_id=subject_id, reason="注册地址已变更，请更新。", today=day)["id"]
            return obj.file_objection(s, subj, record_id=rec[record_no], reason="处罚决定书内容有误。", today=day)["id"]

    def handle(case: int, actor: Actor, decision: str, day: date, **kw) -> None:
        with session_scope(url) as s:
            obj.handle_objection(s, actor, case, decision=decision, reply="经核查，答复如下。", today=day, **kw)

    o1, o2, o3 = file(1, _d(11, 1)), file(2, _d(11, 1)), file(3, _d(11, 1))
    o4, o5, o6, o7 = file(None, _d(11, 2)), file(4, _d(11, 3)), file(5, _d(11, 5)), file(6, _d(12, 1))
    handle(o1, dept, "correct", _d(11, 10), changes={"violation_facts": "经查，当事人无证经营三个月。"})
    handle(o2, dept, "uphold", _d(11, 25))
    handle(o3, dept, "withdraw", _d(11, 21))
    handle(o4, office, "uphold", _d(11, 5))
    with session_scope(url) as s:
        obj.cancel_objection(s, subj, o5, today=_d(11, 4))
    handle(o7, dept, "uphold", _d(1, 5, 2027))
    assert o6  # left open

    def apply(record_no: int, day: date) -> int:
        with session_scope(url) as s:
            return repair.apply_for_repair(s, subj, record_id=rec[record_no], fulfilment="罚款已于当日缴清。",
                                           commitment_signed_by="李四", accept_commitment=True, today=day)["id"]

    r1, r2, r3, _r4 = apply(7, _d(11, 1)), apply(8, _d(11, 1)), apply(9, _d(11, 2)), apply(10, _d(12, 20))
    with session_scope(url) as s:
        repair.review_repair(s, dept, r1, decision="approve", reason="已履行处罚决定。", today=_d(11, 10))
    with session_scope(url) as s:
        repair.review_repair(s, dept, r2, decision="reject", reason="未提供缴款凭证。", today=_d(11, 20))
    with session_scope(url) as s:
        repair.cancel_repair(s, subj, r3, today=_d(11, 3))
    return url


def _snapshot(url: str) -> dict:
    from xinyong.indicators.service import dashboard, refresh

    refresh(url, as_of=AS_OF)
    with session_scope(url) as s:
        return dashboard(s)


def _by(card, dim):
    return {it["key"]: (it["numerator"], it["denominator"], it["value"]) for it in card["breakdowns"][dim]}


def _month(card, month):
    return next((it["numerator"], it["denominator"], it["value"]) for it in card["trend"] if it["key"] == month)


def test_objection_on_time_rate(cases_url):
    c = _snapshot(cases_url)["indicators"]["objection_on_time_rate"]
    # O1, O3 (on the last day), O4 of the four decided by 12-31; O5 cancelled, O6 open, O7 decided in 2027
    assert (c["numerator"], c["denominator"], c["value"], c["status"]) == (3, 4, 0.75, "red")
    assert _by(c, "department") == {"market_regulation": (2, 3, pytest.approx(2 / 3)), "credit_office": (1, 1, 1.0)}
    labels = {it["key"]: it["label"] for it in c["breakdowns"]["department"]}
    assert labels["credit_office"] == "信用办"
    assert _month(c, "2026-11") == (3, 4, 0.75)  # by the month of the decision
    assert _month(c, "2026-12") == (0, 0, None)


def test_objection_upheld_rate_and_league_column(cases_url):
    snap = _snapshot(cases_url)
    c = snap["indicators"]["objection_upheld_rate"]
    # O1 corrected and O3 withdrawn of the four decided; O2 and O4 kept the record
    assert (c["numerator"], c["denominator"], c["value"]) == (2, 4, 0.5)
    assert _by(c, "department") == {"market_regulation": (2, 3, pytest.approx(2 / 3)), "credit_office": (0, 1, 0.0)}
    league = snap["league"]
    col = [x["code"] for x in league["columns"]].index("objection_upheld_rate")
    assert league["columns"][col]["available"] is True
    rows = {r["department"]: r["cells"][col] for r in league["rows"]}
    assert rows["market_regulation"]["value"] == pytest.approx(2 / 3)


def test_decision_after_as_of_counts_later(cases_url):
    from xinyong.indicators.service import dashboard, refresh

    refresh(cases_url, as_of=date(2027, 1, 5))
    with session_scope(cases_url) as s:
        c = dashboard(s)["indicators"]["objection_on_time_rate"]
    # O7 (filed 12-01, due 12-21) decided 2027-01-05: late, counted in January
    assert (c["numerator"], c["denominator"]) == (3, 5)
    assert _month(c, "2027-01") == (0, 1, 0.0)


def test_repair_on_time_rate(cases_url):
    c = _snapshot(cases_url)["indicators"]["repair_on_time_rate"]
    # R1 approved within 15 days, R2 rejected after; R3 cancelled and R4 open are not decided
    assert (c["numerator"], c["denominator"], c["value"], c["status"]) == (1, 2, 0.5, "red")
    assert _by(c, "department") == {"market_regulation": (1, 2, 0.5)}
    assert _month(c, "2026-11") == (1, 2, 0.5)


def test_departments_using_credit_reports(db_url):
    from fastapi.testclient import TestClient

    from xinyong.accounts.clients import create_client
    from xinyong.app import create_app
    from xinyong.departments.service import seed_departments
    from xinyong.identity.codes import generate_uscc
    from xinyong.indicators.service import dashboard, refresh
    from xinyong.intake.service import ingest_rows

    uscc = generate_uscc(random.Random(11), region="440604")
    with session_scope(db_url) as s:
        seed_departments(s)
    with session_scope(db_url) as s:
        ingest_rows(s, [_penalty(1, uscc)], "admin_penalty", "market_regulation", today=_d(2, 1))
    keys = {}
    for dept in ("tax", "market_regulation", "transport"):
        with session_scope(db_url) as s:
            keys[dept] = create_client(s, Actor.cli("pytest"), department=dept, name=f"{dept}-system").key
    headers = {"X-Purpose": "routine_supervision"}
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        for dept, kind, expected in [("tax", "public", 200), ("tax", "scenario", 200),
                                     ("market_regulation", "public", 200), ("transport", "full", 403)]:
            body = {"subject": uscc, "kind": kind, **({"scenario": "procurement"} if kind == "scenario" else {})}
            r = client.post("/api/v1/reports", json=body,
                            headers={**headers, "Authorization": f"Bearer {keys[dept]}"})
            assert r.status_code == expected, r.text
    today = datetime.now(UTC).date()  # the audit log stamps requests with the real time
    refresh(db_url, as_of=today)
    with session_scope(db_url) as s:
        c = dashboard(s)["indicators"]["departments_using_credit_reports"]
    # tax (twice) and market_regulation; transport's refused request is not a use
    assert (c["numerator"], c["denominator"]) == (2, 28)
    assert c["value"] == pytest.approx(2 / 28) and c["status"] == "red"
    assert {k for k, v in _by(c, "department").items() if v[0] == 1} == {"tax", "market_regulation"}
    # Before the requests were made, nobody had used a report.
    refresh(db_url, as_of=today - timedelta(days=1))
    with session_scope(db_url) as s:
        assert dashboard(s)["indicators"]["departments_using_credit_reports"]["numerator"] == 0
