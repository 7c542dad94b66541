"""Feedback (反馈) on both databases: per measure applied / not applied with reason, overdue
checks in the department's list, feedback rates per department and per measure, and the two
plan indicators computed from them — with figures counted by hand.

As of 2026-11-20 (checks on 2026-11-01, feedback due in 15 days: 2026-11-16):
C1 finance            debtor  procurement  jd_procurement_ban                     applied 11-05
C2 finance            mixed   procurement  abnormal_procurement_strict            not applied (reason) 11-06
                                           red_list_procurement_simplified        no feedback → overdue
C3 development_reform debtor  bidding      jd_bidding_restrict                    no feedback → overdue
C4 finance            clean   procurement  (nothing applies: needs no feedback, not counted)
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from xinyong.accounts.actor import Actor
from xinyong.db.engine import session_scope
from xinyong.errors import Forbidden, InvalidInput
from xinyong.measures.service import check_subject, feedback_rates, list_checks, record_feedback

from .conftest import TODAY, staff

AS_OF = date(2026, 11, 20)


@pytest.fixture
def fed(city):
    cli = Actor.cli("pytest")
    ids = {}
    with session_scope(city.url) as s:
        for name, who, scenario, dept in [("C1", "debtor", "government_procurement", "finance"),
                                          ("C2", "mixed", "government_procurement", "finance"),
                                          ("C3", "debtor", "bidding", "development_reform"),
                                          ("C4", "clean", "government_procurement", "finance")]:
            ids[name] = check_subject(s, cli, city.codes[who], scenario, dept, today=TODAY)["check_id"]
    finance = staff(city.url, "fin", "dept_querier", "finance")
    with session_scope(city.url) as s:
        record_feedback(s, finance, ids["C1"], [{"measure": "jd_procurement_ban", "outcome": "applied"}],
                        today=date(2026, 11, 5))
        record_feedback(s, finance, ids["C2"], [{"measure": "abnormal_procurement_strict", "outcome": "not_applied",
                                                 "reason": "已补报年报，移出经营异常名录手续办理中，经集体研究暂不限制"}],
                        today=date(2026, 11, 6))
    return city, ids, finance


def test_feedback_rates_per_department_and_measure(fed):
    city, ids, _ = fed
    with session_scope(city.url) as s:
        by_dept = feedback_rates(s, by="department", today=AS_OF)
        by_measure = feedback_rates(s, by="measure", today=AS_OF)
    d = {r["code"]: (r["returned"], r["with_feedback"], r["applied"], r["overdue"], r["feedback_rate"])
         for r in by_dept["items"]}
    assert d == {"finance": (3, 2, 1, 1, pytest.approx(2 / 3, abs=1e-4)), "development_reform": (1, 0, 0, 1, 0.0)}
    assert by_dept["total"]["returned"] == 4 and by_dept["total"]["feedback_rate"] == 0.5
    m = {r["code"]: (r["returned"], r["with_feedback"], r["applied"]) for r in by_measure["items"]}
    assert m == {"jd_procurement_ban": (1, 1, 1), "abnormal_procurement_strict": (1, 1, 0),
                 "red_list_procurement_simplified": (1, 0, 0), "jd_bidding_restrict": (1, 0, 0)}


def test_overdue_checks_are_listed_for_their_department(fed):
    city, ids, finance = fed
    dev = staff(city.url, "dev", "dept_querier", "development_reform")
    with session_scope(city.url) as s:
        assert [c["check_id"] for c in list_checks(s, dev, overdue=True, today=AS_OF)["items"]] == [ids["C3"]]
        assert [c["check_id"] for c in list_checks(s, finance, overdue=True, today=AS_OF)["items"]] == [ids["C2"]]
        # Not yet overdue on the due day itself.
        assert list_checks(s, dev, overdue=True, today=date(2026, 11, 16))["total"] == 0
        pending = {c["check_id"] for c in list_checks(s, finance, pending=True, today=AS_OF)["items"]}
        assert pending == {ids["C2"]}


def test_feedback_rules(fed):
    from xinyong.audit.models import AuditEvent

    city, ids, finance = fed
    with session_scope(city.url) as s:
        with pytest.raises(InvalidInput) as e:
            record_feedback(s, finance, ids["C2"], [{"measure": "red_list_procurement_simplified",
                                                     "outcome": "not_applied"}])
        assert e.value.code == "reason_required" and "理由" in e.value.message
        with pytest.raises(InvalidInput):
            record_feedback(s, finance, ids["C2"], [{"measure": "jd_bidding_restrict", "outcome": "applied"}])
        with pytest.raises(InvalidInput):
            record_feedback(s, finance, ids["C2"], [{"measure": "abnormal_procurement_strict", "outcome": "maybe"}])
    dev = staff(city.url, "dev2", "dept_querier", "development_reform")
    with session_scope(city.url) as s, pytest.raises((Forbidden, Exception)) as e:
        record_feedback(s, dev, ids["C1"], [{"measure": "jd_procurement_ban", "outcome": "applied"}])
    assert getattr(e.value, "status_code", 0) in (403, 404)
    # The same feedback again changes nothing (no new audit event).
    with session_scope(city.url) as s:
        before = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "measures.feedback"))
        r = record_feedback(s, finance, ids["C1"], [{"measure": "jd_procurement_ban", "outcome": "applied"}])
        after = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "measures.feedback"))
    assert before == after == 2 and r["feedback_complete"] is True


def test_indicators_count_checks_and_departments_applying(fed):
    from xinyong.indicators.service import dashboard, refresh

    city, ids, finance = fed
    refresh(city.url, as_of=AS_OF)
    with session_scope(city.url) as s:
        cards = dashboard(s)["indicators"]
    rate = cards["joint_measure_feedback_rate"]
    assert (rate["numerator"], rate["denominator"]) == (1, 3)
    assert rate["value"] == pytest.approx(1 / 3) and rate["status"] == "red"
    by = {it["key"]: (it["numerator"], it["denominator"]) for it in rate["breakdowns"]["department"]}
    assert by["finance"] == (1, 2) and by["development_reform"] == (0, 1)
    applying = cards["departments_applying_joint_measures"]
    assert (applying["numerator"], applying["denominator"]) == (1, 28)
    assert {it["key"] for it in applying["breakdowns"]["department"] if it["numerator"] == 1} == {"finance"}
    # Completing C2 makes it count on the day its last measure is fed back, not before.
    with session_scope(city.url) as s:
        record_feedback(s, finance, ids["C2"], [{"measure": "red_list_procurement_simplified", "outcome": "applied",
                                                 "reason": "免于提交纳税证明"}], today=date(2026, 11, 21))
    refresh(city.url, as_of=AS_OF)
    with session_scope(city.url) as s:
        assert dashboard(s)["indicators"]["joint_measure_feedback_rate"]["numerator"] == 1
    refresh(city.url, as_of=date(2026, 11, 21))
    with session_scope(city.url) as s:
        assert dashboard(s)["indicators"]["joint_measure_feedback_rate"]["numerator"] == 2


def test_tick_tells_the_department_inbox_once(fed):
    from xinyong.notifications.models import Notification
    from xinyong.workflows.tick import run_tick

    city, ids, _ = fed
    with session_scope(city.url) as s:
        assert run_tick(s, date(2026, 11, 16))["measure_feedback_reminders"] == 0  # due today: not late yet
    with session_scope(city.url) as s:
        assert run_tick(s, AS_OF)["measure_feedback_reminders"] == 2
    with session_scope(city.url) as s:
        assert run_tick(s, AS_OF)["measure_feedback_reminders"] == 0
        notes = s.scalars(select(Notification).where(Notification.workflow == "measures")).all()
        assert {(n.audience_id, n.title) for n in notes} == {
            (city.finance, "联合奖惩核查逾期未反馈（1 次）"),
            (s.scalar(select(func.min(Notification.audience_id)).where(Notification.title.like("%逾期未反馈%"),
                                                                        Notification.audience_id != city.finance)),
             "联合奖惩核查逾期未反馈（1 次）")}
        assert all(n.urgent and n.link == "/console/checks?view=overdue" for n in notes)
        assert any(f"核查 {ids['C3']}" in n.body for n in notes)
