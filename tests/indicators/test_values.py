"""Every default indicator against the hand-built city (conftest.py): exact values, both databases."""

from __future__ import annotations

import pytest


def _card(snapshot, code):
    return snapshot["indicators"][code]


def _by(card, dim):
    return {it["key"]: (it["numerator"], it["denominator"], it["value"]) for it in card["breakdowns"][dim]}


def _month(card, month):
    return next((it["numerator"], it["denominator"], it["value"]) for it in card["trend"] if it["key"] == month)


def test_enterprise_file_coverage(snapshot):
    c = _card(snapshot, "enterprise_file_coverage")
    # E1, E2, E3 of E1–E5 (E4's only record is withdrawn; E6 cancelled and E7 unregistered are not counted)
    assert (c["numerator"], c["denominator"], c["value"]) == (3, 5, 0.6)
    assert c["status"] == "red"
    assert _by(c, "sector") == {"综合": (2, 5, 0.4), "税务": (1, 5, 0.2)}
    assert _by(c, "department") == {"market_regulation": (2, 5, 0.4), "tax": (1, 5, 0.2)}
    assert _by(c, "region") == {"440604": (3, 3, 1.0), "440605": (0, 2, 0.0)}
    # Cumulative: files exist from the month their first record arrived.
    assert _month(c, "2026-07") == (0, 5, 0.0)
    assert _month(c, "2026-08") == (1, 5, 0.2)
    assert _month(c, "2026-09") == (2, 5, 0.4)
    assert _month(c, "2026-10") == (3, 5, 0.6)
    assert _month(c, "2025-12") == (0, 0, None)  # before any subject was registered
    assert [it["key"] for it in c["trend"]][-1] == "2026-10" and len(c["trend"]) == 24
    region_labels = {it["key"]: it["label"] for it in c["breakdowns"]["region"]}
    assert region_labels["440604"].endswith("禅城区")


def test_person_social_org_and_institution_coverage(snapshot):
    p = _card(snapshot, "person_file_coverage")
    assert (p["numerator"], p["denominator"], p["value"], p["status"]) == (2, 4, 0.5, "red")
    s = _card(snapshot, "social_org_file_coverage")
    assert (s["numerator"], s["denominator"], s["value"], s["status"]) == (1, 2, 0.5, "red")
    assert _by(s, "sector") == {"民政": (1, 2, 0.5)}
    i = _card(snapshot, "public_institution_file_coverage")
    assert (i["numerator"], i["denominator"], i["value"], i["status"]) == (0, 2, 0.0, "red")


def test_double_publicity_timeliness(snapshot):
    c = _card(snapshot, "double_publicity_timeliness")
    # E1 E6 N1 I1 on time, E2 late; E4 withdrawn and N2 (no timeliness data) not counted
    assert (c["numerator"], c["denominator"], c["value"], c["status"]) == (4, 5, 0.8, "red")
    assert _month(c, "2026-09") == (1, 1, 1.0)
    assert _month(c, "2026-10") == (3, 4, 0.75)
    assert _month(c, "2026-08") == (0, 0, None)
    assert _by(c, "department") == {"market_regulation": (3, 4, 0.75), "hrss": (1, 1, 1.0)}
    statuses = {it["key"]: it["status"] for it in c["breakdowns"]["department"]}
    assert statuses == {"market_regulation": "red", "hrss": "green"}


def test_penalty_timeliness(snapshot):
    c = _card(snapshot, "penalty_timeliness")
    assert (c["numerator"], c["denominator"], c["value"], c["status"]) == (3, 3, 1.0, "green")


def test_departments_connected_and_submitting(snapshot):
    c = _card(snapshot, "departments_connected")
    # market_regulation, tax, ecology_environment, transport; not hrss (refused), archives (not a source
    # department), finance (after the as-of day); 28 source departments
    assert (c["numerator"], c["denominator"]) == (4, 28)
    assert c["value"] == pytest.approx(4 / 28) and c["status"] == "red"
    assert {k for k, v in _by(c, "department").items() if v[0] == 1} == {
        "market_regulation", "tax", "ecology_environment", "transport"}
    r = _card(snapshot, "departments_submitting_30d")
    # 30 days up to 10-15 inclusive start on 09-16: ecology_environment counts, transport (09-15) does not
    assert (r["numerator"], r["denominator"]) == (2, 28)
    assert _month(r, "2026-09")[:2] == (3, 28)
    assert _month(r, "2026-10")[:2] == (1, 28)
    assert _month(r, "2026-08")[:2] == (1, 28)
    assert _month(r, "2026-07")[:2] == (0, 28)


def test_record_volume(snapshot):
    c = _card(snapshot, "record_volume")
    assert (c["value"], c["status"], c["denominator"]) == (8, "no_target", None)
    assert _by(c, "department")["market_regulation"] == (4, None, 4)
    assert _month(c, "2026-10") == (5, None, 5)  # received in October


def test_rejection_and_match_rates(snapshot):
    r = _card(snapshot, "intake_rejection_rate")
    # committed batches up to the as-of day: 230 rows, 20 rejected (refused hrss and November finance excluded)
    assert (r["numerator"], r["denominator"]) == (20, 230)
    assert r["value"] == pytest.approx(20 / 230) and r["status"] == "amber"
    assert _by(r, "department")["tax"] == (10, 40, 0.25)
    m = _card(snapshot, "subject_match_rate")
    assert (m["numerator"], m["denominator"]) == (190, 210)
    assert m["status"] == "amber"
    assert _by(m, "sector")["税务"] == (15, 30, 0.5)


def test_joint_measure_indicators_are_connected(snapshot):
    # Joint measures (#7) are on the platform; this city has made no check: nobody applies a
    # measure yet (0 of the source departments) and there is no feedback rate to show.
    applying = _card(snapshot, "departments_applying_joint_measures")
    assert applying["numerator"] == 0 and applying["value"] == 0 and applying["status"] == "red"
    rate = _card(snapshot, "joint_measure_feedback_rate")
    assert rate["denominator"] == 0 and rate["value"] is None and rate["status"] == "no_data"


def test_league_table(snapshot):
    league = snapshot["league"]
    labels = [c["label"] for c in league["columns"]]
    assert labels == ["双公示及时率", "有效记录量", "拒收率", "主体匹配率", "异议成立率"]
    rows = {r["department"]: r for r in league["rows"]}
    tax = rows["tax"]["cells"]
    assert tax[1]["value"] == 1 and tax[2]["value"] == 0.25 and tax[2]["status"] == "red"
    assert tax[4]["status"] == "no_data"  # connected; no objection about tax's records
    assert [r["rank"] for r in league["rows"]] == list(range(1, len(league["rows"]) + 1))
    # hrss is on time (green) with no other problem: ranks above tax (red rejection rate)
    assert rows["hrss"]["rank"] < rows["tax"]["rank"]


def test_refresh_is_rerunnable_and_keeps_history(city_url):
    from sqlalchemy import func, select

    from xinyong.db.engine import session_scope
    from xinyong.indicators.models import IndicatorSnapshot
    from xinyong.indicators.service import refresh, summary

    from .conftest import AS_OF

    first = refresh(city_url, as_of=AS_OF)
    second = refresh(city_url, as_of=AS_OF)
    assert second.snapshot_id > first.snapshot_id
    with session_scope(city_url) as s:
        a = summary(s)
    for _ in range(6):
        refresh(city_url, as_of=AS_OF)
    with session_scope(city_url) as s:
        assert summary(s) == a
        # Pruned to the newest few plus one per month
        assert s.scalar(select(func.count()).select_from(IndicatorSnapshot)) <= 6
