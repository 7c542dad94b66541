"""Checks on both databases: every trigger kind, scenario filtering, suppression by objection
and repair, expiry of list entries, rewards and punishments together, storage and audit."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from xinyong.accounts.actor import Actor
from xinyong.db.engine import session_scope
from xinyong.errors import Forbidden, InvalidInput, NotFound
from xinyong.measures.service import check_subject

from .conftest import TODAY, add_record


def check(city, who: str, scenario: str, dept: str = "finance", today: date = TODAY, actor: Actor | None = None):
    with session_scope(city.url) as s:
        return check_subject(s, actor or Actor.cli("pytest"), city.codes[who], scenario, dept, today=today)


def codes(result) -> set[str]:
    return {m["code"] for m in result["measures"]}


def test_list_membership_triggers_punishments_with_basis_and_trigger(city):
    r = check(city, "debtor", "government_procurement")
    assert "jd_procurement_ban" in codes(r)
    m = next(m for m in r["measures"] if m["code"] == "jd_procurement_ban")
    assert m["kind"] == "punishment" and m["strength"] == "禁止"
    assert any("中办发〔2016〕64号" in b for b in m["basis"])
    (t,) = m["triggers"]
    assert t["type"] == "list" and t["resource"] == "dishonest_judgment_debtors" and t["until"] == "2029-03-01"
    assert r["punishments"] >= 1 and r["rewards"] == 0 and not r["both"]
    assert "失信惩戒措施" in r["summary"] and r["check_id"] > 0


def test_scenario_filters_measures(city):
    procurement = codes(check(city, "debtor", "government_procurement"))
    appointment = codes(check(city, "debtor", "staff_appointment"))
    bidding = codes(check(city, "debtor", "bidding"))
    assert "jd_bidding_restrict" in bidding and "jd_bidding_restrict" not in procurement
    # 公职任用 measures apply to natural persons only: an enterprise gets none there.
    assert appointment == set()


def test_clean_subject_gets_nothing_and_minor_penalty_does_not_count(city):
    r = check(city, "clean", "honours_selection")
    assert r["measures"] == [] and r["summary"] == "未发现该场景下适用的联合奖惩措施。"
    assert r["feedback_due"] is None


def test_record_trigger_by_severity_and_age(city):
    assert "serious_penalty_procurement_strict" in codes(check(city, "penalised", "government_procurement"))
    # 36 months after the decision the record no longer triggers the measure.
    later = codes(check(city, "penalised", "government_procurement", today=date(2028, 6, 2)))
    assert "serious_penalty_procurement_strict" not in later
    # within_months 12: a 2025-06 penalty no longer delays honours in 2026-11.
    assert "penalty_honours_restrict" not in codes(check(city, "penalised", "honours_selection"))
    assert "penalty_honours_restrict" in codes(check(city, "penalised", "honours_selection", today=date(2026, 1, 1)))


def test_commitment_breach_triggers_and_a_kept_commitment_does_not(city):
    r = check(city, "breacher", "admin_licensing", dept="market_regulation")
    m = next(m for m in r["measures"] if m["code"] == "commitment_breach_no_notification")
    assert m["triggers"][0]["type"] == "commitment_breach" and m["triggers"][0]["domain"] == "行政许可"
    assert codes(check(city, "clean", "admin_licensing", dept="market_regulation")) == set()
    # Breach verified 2026-07-01: 36 months later it no longer triggers.
    assert "commitment_breach_no_notification" not in codes(
        check(city, "breacher", "admin_licensing", dept="market_regulation", today=date(2029, 7, 2)))


def test_rewards_and_punishments_together_are_said_plainly(city):
    r = check(city, "mixed", "government_procurement")
    kinds = {m["code"]: m["kind"] for m in r["measures"]}
    assert kinds["red_list_procurement_simplified"] == "reward"
    assert kinds["abnormal_procurement_strict"] == "punishment"
    assert r["both"] is True and r["rewards"] == 1 and r["punishments"] == 1
    assert "同时适用守信激励措施 1 项和失信惩戒措施 1 项" in r["summary"]
    # Punishments are listed first.
    assert r["measures"][0]["kind"] == "punishment"


def test_expired_list_entry_does_not_trigger(city):
    with session_scope(city.url) as s:
        add_record(s, "market_serious_dishonesty", city.subjects["clean"], main_date=date(2023, 1, 1),
                   public_until=date(2026, 1, 1), severity="general")
    assert codes(check(city, "clean", "routine_supervision", dept="market_regulation")) == set()
    assert "market_blacklist_supervision" in codes(
        check(city, "clean", "routine_supervision", dept="market_regulation", today=date(2025, 12, 31)))
    # A red-list entry past its own valid-until date no longer rewards either.
    assert "tax_a_fiscal_priority" not in codes(check(city, "mixed", "fiscal_support", today=date(2027, 4, 1)))
    assert "tax_a_fiscal_priority" in codes(check(city, "mixed", "fiscal_support"))


def test_record_under_objection_does_not_trigger_punishment(city):
    """Through the objection workflow: a public list record objected to stops punishing until decided."""
    from xinyong.intake.models import Record
    from xinyong.workflows.objections import file_objection

    with session_scope(city.url) as s:
        rec_id = s.scalar(select(Record.id).where(Record.subject_id == city.subjects["debtor"]))
        file_objection(s, Actor.anonymous(), record_id=rec_id, reason="该判决已全部履行完毕，名单信息有误。",
                       applicant_name="张三", contact_email="zhang@example.com", today=TODAY)
    r = check(city, "debtor", "government_procurement")
    assert "jd_procurement_ban" not in codes(r)
    assert [x["measure"] for x in r["suppressed"]] == ["jd_procurement_ban"]
    assert r["suppressed"][0]["triggers"][0]["reason"] == "记录异议处理中，暂不触发惩戒"


def test_repaired_and_withdrawn_records_do_not_trigger(city):
    from xinyong.intake.models import Record

    with session_scope(city.url) as s:
        rec = s.scalar(select(Record).where(Record.subject_id == city.subjects["debtor"]))
        rec.repaired_at = datetime(2026, 10, 1, tzinfo=UTC)
        pen = s.scalar(select(Record).where(Record.subject_id == city.subjects["penalised"]))
        pen.status = "withdrawn"
    assert codes(check(city, "debtor", "government_procurement")) == set()
    assert codes(check(city, "penalised", "government_procurement")) == set()


def test_grade_triggers_follow_the_real_rating(city):
    """Grades come from a real scoring run (xinyong.rating); each grade-triggered measure applies
    exactly to the subjects whose stored grade it names, and names that grade as its trigger."""
    from xinyong.rating.service import grades_for, run_scoring

    with session_scope(city.url) as s:
        run_scoring(s, full=True, as_of=TODAY)
    with session_scope(city.url) as s:
        grades = grades_for(s, list(city.subjects.values()))
    assert set(grades) == set(city.subjects.values())
    assert len(set(grades.values())) >= 2  # the city spreads over more than one grade
    for who, sid in city.subjects.items():
        grade = grades[sid]
        r = check(city, who, "routine_supervision", dept="market_regulation")
        assert ("grade_a_reduced_inspection" in codes(r)) == (grade == "A"), (who, grade)
        assert ("grade_d_supervision" in codes(r)) == (grade == "D"), (who, grade)
        fiscal = check(city, who, "fiscal_support")
        assert ("grade_cd_fiscal_strict" in codes(fiscal)) == (grade in ("C", "D")), (who, grade)
        for m in r["measures"] + fiscal["measures"]:
            if m["code"].startswith("grade_"):
                assert m["triggers"] == [{"type": "grade", "type_label": "信用评价等级", "grade": grade}]


def test_checks_are_stored_and_audited(city):
    from xinyong.audit.models import AuditEvent
    from xinyong.measures.models import MeasureCheck, MeasureCheckItem

    r = check(city, "debtor", "bidding", dept="development_reform")
    with session_scope(city.url) as s:
        c = s.get(MeasureCheck, r["check_id"])
        assert c.subject_id == city.subjects["debtor"] and c.scenario == "bidding"
        assert c.feedback_due == date(2026, 11, 16)
        assert (c.measures_total, c.punishments, c.summary) == (len(r["measures"]), r["punishments"], r["summary"])
        items = s.scalars(select(MeasureCheckItem).where(MeasureCheckItem.check_id == c.id)).all()
        assert {i.measure for i in items} == codes(r) and codes(r)
        # Stored as answered: what the department is told is what its feedback will be about.
        answered = {m["code"]: m for m in r["measures"]}
        for i in items:
            assert (i.kind, i.strength, i.triggers) == (answered[i.measure]["kind"], answered[i.measure]["strength"],
                                                        answered[i.measure]["triggers"])
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "measures_check.read")).all()[-1]
        assert ev.subject_id == city.subjects["debtor"] and ev.details["check_id"] == c.id
        assert ev.purpose_code == "bidding" and "联合奖惩核查" in (ev.purpose_text or "")


def test_a_check_whose_audit_event_fails_keeps_nothing(city, monkeypatch):
    """The check, its measures and its audit event commit together or not at all; the next
    check is stored as usual and the chain verifies."""
    from sqlalchemy.exc import DBAPIError

    import xinyong.audit.service as audit
    from xinyong.audit.service import verify_chain
    from xinyong.measures.models import MeasureCheck, MeasureCheckItem

    with session_scope(city.url) as s:
        before = (s.scalar(select(func.count()).select_from(MeasureCheck)),
                  s.scalar(select(func.count()).select_from(MeasureCheckItem)))
    if city.url.startswith("postgresql"):
        monkeypatch.setattr(audit, "_PG_APPEND_RAW", audit._PG_APPEND_RAW.replace("%(lock)s", "%(lock)s / 0"))
    else:
        monkeypatch.setattr(audit, "_SQLITE_LOCK", audit.text("UPDATE audit_events SET seq = seq WHERE no_such = 1"))
    with pytest.raises(DBAPIError):
        check(city, "debtor", "bidding", dept="development_reform")
    monkeypatch.undo()
    with session_scope(city.url) as s:
        assert (s.scalar(select(func.count()).select_from(MeasureCheck)),
                s.scalar(select(func.count()).select_from(MeasureCheckItem))) == before
    r = check(city, "debtor", "bidding", dept="development_reform")
    with session_scope(city.url) as s:
        assert s.get(MeasureCheck, r["check_id"]) is not None
        assert verify_chain(s).ok


def test_errors_are_4xx_with_chinese_messages(city):
    import random

    from xinyong.identity.codes import generate_uscc

    with pytest.raises(NotFound) as e:
        check_subject_raw(city, generate_uscc(random.Random(999), region="440604"), "bidding")
    assert e.value.status_code == 404 and "未找到" in e.value.message
    with pytest.raises(InvalidInput) as e:
        check_subject_raw(city, "ABC@@", "bidding")
    assert "代码" in e.value.message
    with pytest.raises(InvalidInput) as e:
        check_subject_raw(city, city.codes["debtor"], "lottery")
    assert e.value.code == "unknown_scenario" and "未知的应用场景" in e.value.message
    with pytest.raises(Forbidden):
        with session_scope(city.url) as s:
            check_subject(s, Actor.anonymous(), city.codes["debtor"], "bidding", "finance", today=TODAY)


def test_errors_keep_their_order_and_people_are_checked_by_citizen_id(city):
    """The subject's error comes before the scenario's and the department's, as before the
    one-statement read; a natural person is found by citizen ID (no identifier row holds it)."""
    import random

    from xinyong.identity.codes import generate_citizen_id, generate_uscc
    from xinyong.subjects.service import SubjectIn, upsert_subjects

    unknown = generate_uscc(random.Random(998), region="440604")
    for scenario, dept in (("lottery", "finance"), ("bidding", "no_such_department"), ("lottery", "nowhere")):
        with pytest.raises(NotFound) as e, session_scope(city.url) as s:
            check_subject(s, Actor.cli("pytest"), unknown, scenario, dept, today=TODAY)
        assert e.value.code == "subject_not_found"
    with pytest.raises(InvalidInput) as e, session_scope(city.url) as s:
        check_subject(s, Actor.cli("pytest"), city.codes["debtor"], "bidding", "", today=TODAY)
    assert e.value.code == "department_required"

    cid = generate_citizen_id(random.Random(5))
    with session_scope(city.url) as s:
        upsert_subjects(s, [SubjectIn(kind="natural_person", name="欧阳明远", citizen_id=cid)])
        from xinyong.subjects.service import resolve_subject

        pid = resolve_subject(s, cid).id
        add_record(s, "dishonest_judgment_debtors", pid, main_date=date(2026, 3, 1), public_until=date(2029, 3, 1))
    with session_scope(city.url) as s:
        r = check_subject(s, Actor.cli("pytest"), cid, "staff_appointment", "finance", today=TODAY)
    assert "jd_staff_appointment_ban" in codes(r)
    assert r["subject"]["id"] == pid and r["subject"]["code"] == cid[:4] + "*" * 10 + cid[-4:]


def check_subject_raw(city, code: str, scenario: str):
    with session_scope(city.url) as s:
        return check_subject(s, Actor.cli("pytest"), code, scenario, "finance", today=TODAY)
