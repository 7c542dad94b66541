"""State machines and deadlines at the service level, with a controllable clock."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from xinyong.db.engine import session_scope
from xinyong.errors import Conflict, Forbidden, InvalidInput
from xinyong.notifications.models import Notification
from xinyong.publication import public_record_clause, record_status_label
from xinyong.workflows import commitments, objections, repair
from xinyong.workflows.common import StateMachine, Transition
from xinyong.workflows.tick import run_tick

from .conftest import actor_for, penalty

TODAY = date(2026, 11, 1)


def test_state_machine_refuses_with_chinese_reason():
    m = StateMachine("repair", {"a": "甲", "b": "乙"}, [Transition("go", "前进", ("a",), "b")])
    assert m.target("a", "go") == "b"
    with pytest.raises(Conflict) as err:
        m.target("b", "go")
    assert "当前状态为“乙”" in err.value.message and "已办结" in err.value.message


def test_overdue_objection_is_escalated_once_and_shown_red(world):
    subj = actor_for(world.url, "hengtai", "subject", subject=world.uscc)
    reviewer = actor_for(world.url, "xyb", "reviewer")
    rec = world.record(1)
    with session_scope(world.url) as s:
        case = objections.file_objection(s, subj, record_id=rec.id, reason="处罚决定书文号有误。", today=TODAY)
    assert case["due_on"] == "2026-11-21"
    with session_scope(world.url) as s:
        assert run_tick(s, date(2026, 11, 21))["objections_escalated"] == 0  # the last day is still in time
    with session_scope(world.url) as s:
        assert run_tick(s, date(2026, 11, 22))["objections_escalated"] == 1
    with session_scope(world.url) as s:
        assert run_tick(s, date(2026, 11, 23))["objections_escalated"] == 0
        urgent = s.scalars(select(Notification).where(Notification.urgent.is_(True))).all()
        assert {n.audience for n in urgent} == {"credit_office", "department"}
        listed = objections.list_objections(s, reviewer, overdue=True, today=date(2026, 11, 23))
        assert listed["total"] == 1 and listed["items"][0]["overdue"] is True
        # The credit office may answer an escalated case itself.
        done = objections.handle_objection(s, reviewer, case["id"], decision="uphold", reply="经核查，记录无误，予以维持。",
                                           today=date(2026, 11, 23))
    assert done["state"] == "upheld"
    with session_scope(world.url) as s:
        tl = objections.get_objection(s, subj, case["id"])["timeline"]
    assert [e["action"] for e in tl] == ["file", "escalate", "uphold"]
    assert record_status_label(world.record(1)) is None


def test_objection_rules(world):
    subj = actor_for(world.url, "hengtai", "subject", subject=world.uscc)
    dept = actor_for(world.url, "scjg", "dept_submitter", dept="market_regulation")
    rec = world.record(1)
    with session_scope(world.url) as s:
        with pytest.raises(Forbidden):
            objections.file_objection(s, dept, record_id=rec.id, reason="工作人员自己提异议", today=TODAY)
        with pytest.raises(InvalidInput) as err:
            objections.file_objection(s, subj, record_id=rec.id, reason="短", today=TODAY)
        assert "异议理由过短" in err.value.message
        with pytest.raises(InvalidInput):
            objections.file_objection(s, subj, reason="没有指明对象的异议", today=TODAY)
        # Basic information: routed to the credit office.
        info = objections.file_objection(s, subj, subject_id=world.subject_id, reason="注册地址已变更，请更新。",
                                         today=TODAY)
    assert info["target"] == "subject_info" and info["department"] == "信用办"
    with session_scope(world.url) as s:
        with pytest.raises(Forbidden):
            objections.handle_objection(s, dept, info["id"], decision="uphold", reply="部门无权办理", today=TODAY)
        # Withdrawal: the record leaves the public, the objection closes.
        case = objections.file_objection(s, subj, record_id=rec.id, reason="该处罚已被复议撤销。", today=TODAY)
        objections.handle_objection(s, dept, case["id"], decision="withdraw", reply="复议决定已撤销该处罚，予以撤销。",
                                    today=TODAY)
    fresh = world.record(1)
    assert fresh.status == "withdrawn" and record_status_label(fresh) == "已撤销"
    with session_scope(world.url) as s:
        assert s.scalar(select(fresh.__class__.id).where(fresh.__class__.id == rec.id,
                                                         public_record_clause(TODAY))) is None


def test_repair_rejection_waits_and_limits(world):
    subj = actor_for(world.url, "hengtai", "subject", subject=world.uscc)
    dept = actor_for(world.url, "scjg", "dept_submitter", dept="market_regulation")
    other = actor_for(world.url, "swj", "dept_submitter", dept="tax")
    rec = world.record(1)
    args = {"fulfilment": "罚款已缴清，已整改到位。", "commitment_signed_by": "李四", "accept_commitment": True}
    with session_scope(world.url) as s:
        app = repair.apply_for_repair(s, subj, record_id=rec.id, today=TODAY, **args)
        with pytest.raises(Forbidden):
            repair.review_repair(s, other, app["id"], decision="approve", reason="无权", today=TODAY)
        with pytest.raises(InvalidInput):
            repair.review_repair(s, dept, app["id"], decision="reject", reason="", today=TODAY)
        repair.review_repair(s, dept, app["id"], decision="reject", reason="未提供缴款凭证。", today=TODAY)
        with pytest.raises(Conflict):
            repair.review_repair(s, dept, app["id"], decision="approve", reason="改为同意", today=TODAY)
        check = repair.repair_precheck(s, s.get(rec.__class__, rec.id), date(2026, 11, 20))
        assert check["eligible"] is False and any("2026-12-01 起方可再次申请" in r for r in check["reasons"])
        assert repair.repair_precheck(s, s.get(rec.__class__, rec.id), date(2026, 12, 1))["eligible"] is True
        # Overdue review is escalated by the tick.
        app2 = repair.apply_for_repair(s, subj, record_id=rec.id, today=date(2026, 12, 1), **args)
        assert run_tick(s, date(2026, 12, 17))["repairs_escalated"] == 1
        repair.cancel_repair(s, subj, app2["id"], today=date(2026, 12, 17))
    # Not repairable at all: the court's list.
    with session_scope(world.url) as s:
        from xinyong.intake.models import Record

        fake = Record(id=None, resource="dishonest_judgment_debtors", status="active", repair_after=None,
                      repaired_at=None, published=True, valid_until=None, public_until=None)
        reasons = repair.repair_precheck(s, fake, TODAY)["reasons"]
        assert any("人民法院" in r for r in reasons)
        s.expunge_all()


def test_commitments_public_list_fulfilment_and_breach(world):
    subj = actor_for(world.url, "hengtai", "subject", subject=world.uscc)
    dept = actor_for(world.url, "scjg", "dept_submitter", dept="market_regulation")
    with session_scope(world.url) as s:
        with pytest.raises(InvalidInput) as err:
            commitments.make_commitment(s, subj, department="market_regulation", commitment_type="随便写",
                                        domain="行政许可", matter="食品经营许可", content="承诺符合许可条件……" * 2,
                                        today=TODAY)
        assert "承诺类型只能是" in err.value.message
        c = commitments.make_commitment(s, subj, department="market_regulation", commitment_type="审批替代型（告知承诺）",
                                        domain="行政许可", matter="食品经营许可", content="本单位承诺符合食品经营许可条件。",
                                        valid_until=date(2027, 5, 1), today=TODAY)
        c2 = commitments.make_commitment(s, dept, subject=world.uscc, department="market_regulation",
                                         commitment_type="行业自律型", domain="价格", matter="明码标价",
                                         content="本单位承诺严格执行明码标价规定。", today=TODAY)
    assert c["record_id"] and c["commitment_no"].startswith("XYCN20261101")
    with session_scope(world.url) as s:
        listed = commitments.list_commitments(s, today=TODAY)
        assert listed["total"] == 2
        done = commitments.verify_commitment(s, dept, c["id"], outcome="fulfil", facts="现场核查符合条件。",
                                             today=date(2026, 12, 1))
        with pytest.raises(InvalidInput):
            commitments.verify_commitment(s, dept, c2["id"], outcome="breach", today=date(2026, 12, 1))
        broken = commitments.verify_commitment(s, dept, c2["id"], outcome="breach",
                                               facts="2026年11月检查发现未明码标价。", today=date(2026, 12, 1))
        with pytest.raises(Conflict):
            commitments.verify_commitment(s, dept, c2["id"], outcome="fulfil", facts="改判", today=date(2026, 12, 1))
    assert done["state"] == "fulfilled" and broken["state"] == "breached"
    with session_scope(world.url) as s:
        from xinyong.intake.models import Record

        rec = s.get(Record, broken["record_id"])
        assert rec.current_version == 2 and rec.data["fulfilment_status"] == "未履行"
        assert rec.data["breach_facts"].startswith("2026年11月")
        assert commitments.list_commitments(s, state="breached", today=TODAY)["total"] == 1


def test_public_clause_still_shows_a_record_under_objection(world):
    subj = actor_for(world.url, "hengtai", "subject", subject=world.uscc)
    world.add_penalties(penalty(9, world.uscc))
    rec = world.record(9)
    with session_scope(world.url) as s:
        objections.file_objection(s, subj, record_id=rec.id, reason="金额计算有误。", today=TODAY)
    with session_scope(world.url) as s:
        from xinyong.intake.models import Record

        assert s.scalar(select(Record.id).where(Record.id == rec.id, public_record_clause(TODAY))) == rec.id
    assert record_status_label(world.record(9)) == "异议处理中"
