"""What each kind of report contains. SQLite and PostgreSQL."""

from __future__ import annotations

import json

from sqlalchemy import select

from xinyong.db.engine import session_scope
from xinyong.reports.content import iter_records
from xinyong.reports.models import Report

from .conftest import COMPANY, PERSON, issue, penalty


def _decision_numbers(content) -> list[str]:
    out = []
    for _, _, rec in iter_records(content):
        out += [f["value"] for f in rec["fields"] if f["code"] in ("decision_no", "document_no")]
    return out


def test_public_report_only_public_records(city):
    rep = issue(city, city.uscc)
    c = rep.content
    assert c["subject"]["name"] == COMPANY and c["kind"] == "public"
    assert sorted(_decision_numbers(c)) == sorted(city.public_decisions)
    text = json.dumps(c, ensure_ascii=False)
    assert city.withdrawn_decision not in text and city.private_document not in text
    assert "扣押" not in text  # content of the non-public enforcement record
    assert city.rep_id not in text and city.rep_id[-4:] + '"' not in text  # personal field: not even masked
    assert all(f["code"] != "legal_rep_id_no" for _, _, r in iter_records(c) for f in r["fields"])
    assert c["summary"] == {"total": 3, "negative": 3, "positive": 0, "neutral": 0,
                            "categories": [{"category": "行政管理信息", "count": 3}]}
    assert c["sources"] == ["佛山市市场监督管理局"]
    assert {r["title"] for r in c["rights"]} >= {"异议申请", "信用修复"}
    assert c["data_cutoff"] == c["issued_at"] and c["verify_url"].endswith(f"/verify/{rep.number}")
    assert "access_history" not in c


def test_public_report_never_shows_personal_data(city):
    rep = issue(city, city.person_id)  # a natural person, found by citizen ID (CLI / API staff)
    text = json.dumps(rep.content, ensure_ascii=False)
    assert rep.content["subject"]["name"] == PERSON
    assert city.person_id not in text
    assert rep.content["subject"]["citizen_id"] == city.person_id[:4] + "*" * 10 + city.person_id[-4:]
    # The personal field (证件号码) is not a public field: not even masked in a public report.
    assert all(f["code"] != "id_no" for _, _, r in iter_records(rep.content) for f in r["fields"])


def test_full_report_has_everything_masked_and_the_access_history(city):
    from xinyong.accounts.actor import Actor
    from xinyong.accounts.purposes import Purpose
    from xinyong.audit.service import record_event
    from xinyong.subjects.service import resolve_subject

    with session_scope(city.url) as s:
        subject = resolve_subject(s, city.uscc)
        querier = Actor(kind="client", role="dept_querier", id=1, name="tax-system", department_code="tax",
                        purpose=Purpose("routine_supervision", "日常监管", "专项检查 2026-11"))
        record_event(s, "admin_enforcement.read", actor=querier, subject_id=subject.id,
                     resources=["admin_enforcement"])
    rep = issue(city, city.uscc, "full")
    c = rep.content
    numbers = _decision_numbers(c)
    assert set(numbers) == {*city.public_decisions, city.withdrawn_decision, city.private_document}
    by_no = {n: rec for _, _, rec in iter_records(c)
             for n in [f["value"] for f in rec["fields"] if f["code"] in ("decision_no", "document_no")]}
    assert by_no[city.withdrawn_decision]["status"] == "已撤销"
    assert by_no[city.withdrawn_decision]["publicly_shown"] is False
    assert by_no[city.private_document]["publicly_shown"] is False
    assert all(by_no[n]["publicly_shown"] for n in city.public_decisions)
    history = c["access_history"]
    assert history["total"] == 1
    item = history["items"][0]
    assert item["department"] and item["department"] != "tax"  # the department's name from the registry
    assert item["purpose"] == "日常监管" and "专项检查" in item["purpose_text"]
    assert item["resources"] == "行政强制信息"

    # Personal fields are decrypted, then masked: the full report shows which ID, never the ID.
    assert city.rep_id not in json.dumps(c, ensure_ascii=False)
    ids = [f["value"] for _, _, r in iter_records(c) for f in r["fields"] if f["code"] == "legal_rep_id_no"]
    assert ids == [city.rep_id[:4] + "*" * 10 + city.rep_id[-4:]]
    person = issue(city, city.person_id, "full")
    assert city.person_id not in json.dumps(person.content, ensure_ascii=False)


def test_same_data_same_report_changed_data_supersedes(city):
    from xinyong.db.engine import get_engine
    from xinyong.intake.service import ingest_rows
    from xinyong.reports.service import report_status

    first = issue(city, city.uscc)
    again = issue(city, city.uscc)
    assert again.reused and again.number == first.number and again.signature == first.signature
    assert again.render("pdf") == first.render("pdf")  # deterministic bytes for the same report
    ingest_rows(get_engine(city.url), [penalty(77, uscc=city.uscc)], "admin_penalty", "market_regulation")
    newer = issue(city, city.uscc)
    assert newer.number != first.number and not newer.reused
    assert "佛市监罚〔2026〕77号" in _decision_numbers(newer.content)
    with session_scope(city.url) as s:
        old = report_status(s, first.number)
        assert old["authentic"] and not old["current"] and old["superseded_by"] == newer.number
        assert report_status(s, newer.number)["current"]
        # Other kinds are separate series: a full report does not supersede the public one.
        issue(city, city.uscc, "full")
        assert report_status(s, newer.number)["current"]
        assert len(s.scalars(select(Report)).all()) == 3


def test_scenario_report_only_named_categories(city):
    from xinyong.db.engine import get_engine
    from xinyong.intake.service import ingest_rows

    # A public record in a category the bidding scenario does not name (诚实守信相关荣誉).
    honour = {"subject_name": COMPANY, "subject_category": "法人及非法人组织", "uscc": city.uscc,
              "honour_name": "守合同重信用企业", "honour_level": "市级", "awarding_authority": "佛山市人民政府",
              "document_no": "佛府〔2026〕12号", "award_date": "2026-09-01"}
    result = ingest_rows(get_engine(city.url), [honour], "honours", "market_regulation")
    assert result.records_created == 1, result
    public = issue(city, city.uscc)
    assert "诚实守信相关荣誉" in [s["category"] for s in public.content["sections"]]
    bidding = issue(city, city.uscc, "scenario", scenario="bidding")
    assert [s["category"] for s in bidding.content["sections"]] == ["行政管理信息"]
    assert bidding.content["scenario"]["code"] == "bidding"
    assert bidding.content["kind_label"] == "专项信用信息报告"
    assert any("招标投标" in n for n in bidding.content["notes"])
    commendation = issue(city, city.uscc, "scenario", scenario="commendation")
    assert [s["category"] for s in commendation.content["sections"]] == ["行政管理信息", "诚实守信相关荣誉"]


def test_rating_section_full_explanation_in_own_report_grade_only_when_published(city, monkeypatch):
    from xinyong.rating.service import explain, run_scoring
    from xinyong.subjects.service import resolve_subject

    before = issue(city, city.uscc, "full").content
    assert before["rating"] == {"scored": False, "message": before["rating"]["message"]}
    assert "尚未参与评价" in before["rating"]["message"]
    with session_scope(city.url) as s:
        run_scoring(s, full=True)
        sid = resolve_subject(s, city.uscc).id
        ex = explain(s, sid, detail=False)
    full = issue(city, city.uscc, "full").content["rating"]
    assert full["score"] == ex["score"] and full["grade"] == ex["grade"] and full["scored"]
    # The explanation in the report adds up to the score exactly.
    assert full["base"] + sum(f["points"] for f in full["factors"]) == full["score"]
    assert [f["name"] for f in full["factors"]] == [f["name"] for f in ex["factors"]]
    # The public report shows no grade unless the deployment publishes grades, and then no factors.
    assert "rating" not in issue(city, city.uscc).content
    monkeypatch.setenv("XINYONG_RATING_PUBLISH_GRADES", "1")
    public = issue(city, city.uscc).content["rating"]
    assert public["grade"] == ex["grade"] and "factors" not in public
    assert "rating" not in issue(city, city.person_id).content  # never a natural person's grade
