"""End to end through the HTTP API (SQLite and PostgreSQL): objection → badge → correction →
applicant notified (in-app and by e-mail); repair after the minimum window → off every public
surface, kept in the subject's own file; a black-list determination through notice,
publication and expiry by tick."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from xinyong.config import reset_settings
from xinyong.db.engine import session_scope
from xinyong.intake.models import Record, RecordVersion
from xinyong.publication import public_record_clause, record_status_label
from xinyong.workflows.tick import tick

from ..notifications.test_email import smtp  # noqa: F401 - fixture
from .conftest import actor_for, login, penalty


def set_today(monkeypatch, day: str) -> None:
    monkeypatch.setenv("XINYONG_TODAY", day)
    reset_settings()


def is_public(url: str, record_id: int, today: date) -> bool:
    with session_scope(url) as s:
        return s.scalar(select(Record.id).where(Record.id == record_id, public_record_clause(today))) is not None


@pytest.fixture
def app():
    from xinyong.app import create_app

    return create_app()


def client_for(app, username: str) -> TestClient:
    c = TestClient(app, raise_server_exceptions=False)
    c.headers["X-CSRF-Token"] = login(c, username)
    return c


def test_objection_badge_correction_and_notice(world, app, monkeypatch, smtp):  # noqa: F811
    set_today(monkeypatch, "2026-11-01")
    actor_for(world.url, "hengtai", "subject", subject=world.uscc)
    actor_for(world.url, "scjg", "dept_submitter", dept="market_regulation")
    actor_for(world.url, "shuiwu", "dept_submitter", dept="tax")
    rec = world.record(1)
    subject = client_for(app, "hengtai")
    r = subject.post("/api/v1/objections", json={"record_id": rec.id, "reason": "罚款金额有误，应为三千元。",
                                                 "requested_change": "罚款金额改为3000元",
                                                 "contact_email": "hengtai@example.com"})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["state"] == "submitted" and case["due_on"] == "2026-11-21"
    # The badge, at once, and the record stays public while the objection is open.
    assert record_status_label(world.record(1)) == "异议处理中"
    assert is_public(world.url, rec.id, date(2026, 11, 1))
    # Filing the same again changes nothing.
    again = subject.post("/api/v1/objections", json={"record_id": rec.id, "reason": "罚款金额有误，应为三千元。"})
    assert again.json()["id"] == case["id"] and again.json()["duplicate"] is True
    # Another department cannot answer; the subject cannot either (role).
    tax = client_for(app, "shuiwu")
    r = tax.post(f"/api/v1/objections/{case['id']}/decision", json={"decision": "uphold", "reply": "经核查无误。"})
    assert r.status_code in (403, 404) and "部门" in r.json()["error"]["message"]
    dept = client_for(app, "scjg")
    assert dept.get("/api/v1/objections").json()["total"] == 1
    # A correction that changes the record's key is refused with the reason.
    r = dept.post(f"/api/v1/objections/{case['id']}/decision",
                  json={"decision": "correct", "reply": "经核查，金额有误，予以更正。", "changes": {"decision_no": "X"}})
    assert r.status_code == 422 and "唯一标识" in r.json()["error"]["message"]
    r = dept.post(f"/api/v1/objections/{case['id']}/decision",
                  json={"decision": "correct", "reply": "经核查，金额有误，予以更正。",
                        "changes": {"fine_amount": "3000", "penalty_content": "罚款三千元"}})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "corrected" and done["record_version_after"] == 2
    fresh = world.record(1)
    assert fresh.current_version == 2 and fresh.data["fine_amount"] == "3000"
    assert record_status_label(fresh) is None and is_public(world.url, rec.id, date(2026, 11, 1))
    with session_scope(world.url) as s:
        versions = s.scalars(select(RecordVersion.version).where(RecordVersion.record_id == rec.id)).all()
        assert sorted(versions) == [1, 2]
    # A decided case cannot be decided again: a Chinese reason.
    r = dept.post(f"/api/v1/objections/{case['id']}/decision", json={"decision": "uphold", "reply": "维持原记录。"})
    assert r.status_code == 409 and "不能执行“维持原记录”" in r.json()["error"]["message"]
    # The applicant: notified in the inbox and by e-mail, and sees the whole timeline.
    titles = [n["title"] for n in subject.get("/api/v1/inbox").json()["items"]]
    assert "异议处理结果：已办结（已更正记录）" in titles and "异议已受理" in titles
    assert any("已更正记录" in m["Subject"] and m["To"] == "hengtai@example.com" for m in smtp.messages)
    detail = subject.get(f"/api/v1/objections/{case['id']}").json()
    assert [e["action"] for e in detail["timeline"]] == ["file", "correct"]
    assert detail["record"]["version"] == 2
    # The department got the case in its inbox.
    assert any(n["title"].startswith("新异议待处理") for n in dept.get("/api/v1/inbox").json()["items"])


def test_anonymous_objection_to_a_public_record_with_tracking_code(world, app, monkeypatch):
    set_today(monkeypatch, "2026-11-01")
    rec = world.record(1)
    anon = TestClient(app, raise_server_exceptions=False)
    r = anon.post("/api/v1/objections", json={"record_id": rec.id, "reason": "该企业已更名，名称有误。"})
    assert r.status_code == 422 and "申请人" in r.json()["error"]["message"]
    r = anon.post("/api/v1/objections", json={"record_id": rec.id, "reason": "该企业已更名，名称有误。",
                                              "applicant_name": "王五", "contact_email": "wang@example.com"})
    assert r.status_code == 201, r.text
    code = r.json()["tracking_code"]
    assert anon.get(f"/api/v1/objections/{r.json()['id']}").status_code == 404
    seen = anon.get(f"/api/v1/objections/{r.json()['id']}", headers={"X-Tracking-Code": code})
    assert seen.status_code == 200 and seen.json()["timeline"][0]["action"] == "file"
    # Not a public record (a warning is not published): only the subject itself may object.
    minor = world.record(2)
    r = anon.post("/api/v1/objections", json={"record_id": minor.id, "reason": "该处罚已撤销。",
                                              "applicant_name": "王五", "contact_email": "wang@example.com"})
    assert r.status_code == 403
    # Cancel with the code: the badge goes.
    r = anon.post(f"/api/v1/objections/{seen.json()['id']}/cancel", headers={"X-Tracking-Code": code}, json={})
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    assert record_status_label(world.record(1)) is None


def test_repair_after_minimum_window(world, app, monkeypatch):
    set_today(monkeypatch, "2026-11-01")
    actor_for(world.url, "hengtai", "subject", subject=world.uscc)
    actor_for(world.url, "scjg", "dept_submitter", dept="market_regulation")
    world.add_penalties(penalty(5, world.uscc, decided="2026-10-01", valid_until="2029-10-01"))
    rec, young = world.record(1), world.record(5)
    subject = client_for(app, "hengtai")
    # Too early: the pre-check says why, at once; applying is refused with the same reasons.
    check = subject.get("/api/v1/repairs/precheck", params={"record_id": young.id}).json()
    assert check["eligible"] is False and any("2027-01-01" in r for r in check["reasons"])
    r = subject.post("/api/v1/repairs", json={"record_id": young.id, "fulfilment": "罚款已于2026年10月8日缴清。",
                                              "commitment_signed_by": "李四", "accept_commitment": True})
    assert r.status_code == 422 and "最短公示期未满" in r.json()["error"]["message"]
    check = subject.get("/api/v1/repairs/precheck", params={"record_id": rec.id}).json()
    assert check["eligible"] is True, check
    r = subject.post("/api/v1/repairs", json={"record_id": rec.id, "fulfilment": "罚款已于2026年2月1日缴清，已办理许可。",
                                              "commitment_signed_by": "李四", "accept_commitment": False})
    assert r.status_code == 422 and "信用承诺书" in r.json()["error"]["message"]
    r = subject.post("/api/v1/repairs", json={"record_id": rec.id, "fulfilment": "罚款已于2026年2月1日缴清，已办理许可。",
                                              "commitment_signed_by": "李四", "accept_commitment": True})
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    # Evidence: a PDF is accepted; an executable calling itself a PDF is not.
    r = subject.post(f"/api/v1/repairs/{app_id}/attachments",
                     files={"file": ("缴款凭证.pdf", b"%PDF-1.4\n%test\n", "application/pdf")})
    assert r.status_code == 201, r.text
    att = r.json()["attachments"][0]
    r = subject.post(f"/api/v1/repairs/{app_id}/attachments",
                     files={"file": ("凭证.pdf", b"MZ\x90\x00evil", "application/pdf")})
    assert r.status_code == 422 and "PDF" in r.json()["error"]["message"]
    got = subject.get(att["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    assert got.headers["x-content-type-options"] == "nosniff" and got.headers["content-disposition"].startswith(
        "attachment")
    assert TestClient(app, raise_server_exceptions=False).get(att["url"]).status_code == 404
    # A second application while one is pending: refused.
    assert subject.get("/api/v1/repairs/precheck", params={"record_id": rec.id}).json()["eligible"] is False
    dept = client_for(app, "scjg")
    r = dept.post(f"/api/v1/repairs/{app_id}/decision", json={"decision": "approve", "reason": "已履行，同意修复。"})
    assert r.status_code == 200 and r.json()["state"] == "approved"
    # Off every public surface; still in the subject's own file, marked 已修复.
    assert not is_public(world.url, rec.id, date(2026, 11, 1))
    repaired = world.record(1)
    assert repaired.status == "active" and record_status_label(repaired) == "已修复"
    with session_scope(world.url) as s:
        own = s.scalars(select(Record.id).where(Record.subject_id == world.subject_id)).all()
        assert rec.id in own
        assert s.scalar(select(RecordVersion.change).where(RecordVersion.record_id == rec.id,
                                                           RecordVersion.version == 2)) == "repaired"
    detail = subject.get(f"/api/v1/repairs/{app_id}").json()
    assert [e["action"] for e in detail["timeline"]] == ["apply", "approve"]
    assert detail["attachments"][0]["file_name"] == "缴款凭证.pdf"
    assert any("已修复" in n["title"] for n in subject.get("/api/v1/inbox").json()["items"])
    # Nothing more to repair.
    check = subject.get("/api/v1/repairs/precheck", params={"record_id": rec.id}).json()
    assert check["eligible"] is False and "该记录已修复" in check["reasons"]


def test_black_list_determination_notice_publication_expiry(world, app, monkeypatch):
    set_today(monkeypatch, "2026-11-01")
    actor_for(world.url, "hengtai", "subject", subject=world.uscc)
    actor_for(world.url, "yjj", "dept_submitter", dept="emergency")
    dept = client_for(app, "yjj")
    subject = client_for(app, "hengtai")
    base = "/api/v1/lists/safety_production_blacklist/determinations"
    r = dept.post(base, json={"subject": world.uscc, "facts": "发生较大生产安全事故，负有责任。",
                              "basis": "《安全生产严重失信主体名单管理办法》第六条",
                              "data": {"dishonest_facts": "发生较大生产安全事故", "penalty_decision_no": "佛应急罚〔2026〕8号",
                                       "decision_no": "佛应急失信〔2026〕1号", "decision_authority": "佛山市应急管理局",
                                       "status": "列入"}})
    assert r.status_code == 201, r.text
    d = r.json()
    steps = f"{base}/{d['id']}/steps"
    # Cannot decide before notice.
    r = dept.post(steps, json={"action": "decide", "decision_no": "佛应急失信〔2026〕1号", "reason": "事实清楚"})
    assert r.status_code == 409 and "不能执行“作出认定决定”" in r.json()["error"]["message"]
    assert dept.post(steps, json={"action": "notify"}).json()["objection_until"] == "2026-11-06"
    assert any("告知书" in n["title"] for n in subject.get("/api/v1/inbox").json()["items"])
    r = dept.post(steps, json={"action": "decide", "decision_no": "佛应急失信〔2026〕1号", "reason": "事实清楚"})
    assert r.status_code == 422 and "陈述申辩期" in r.json()["error"]["message"]
    r = subject.post(f"{base}/{d['id']}/statement", json={"statement": "事故责任认定尚在复议中，请暂缓认定。"})
    assert r.status_code == 200, r.text
    r = dept.post(steps, json={"action": "decide", "decision_no": "佛应急失信〔2026〕1号",
                               "reason": "复议已维持原责任认定，陈述申辩不予采纳。", "valid_until": "2027-10-31"})
    assert r.status_code == 200 and r.json()["valid_until"] == "2027-10-31", r.text
    r = dept.post(steps, json={"action": "publish"})
    assert r.status_code == 200 and r.json()["state"] == "published", r.text
    record_id = r.json()["record_id"]
    assert is_public(world.url, record_id, date(2026, 11, 2))
    assert is_public(world.url, record_id, date(2027, 10, 31))
    # Expiry by tick, once.
    out = tick(world.url, date(2027, 11, 1))
    assert out["list_entries_expired"] == 1 and out["windows_closed"].get("safety_production_blacklist") == 1
    assert not is_public(world.url, record_id, date(2027, 11, 1))
    assert tick(world.url, date(2027, 11, 1))["list_entries_expired"] == 0
    history = subject.get(f"{base}/{d['id']}").json()
    assert history["state"] == "expired"
    assert [e["action"] for e in history["timeline"]] == ["propose", "notify", "respond", "decide", "publish",
                                                         "expire"]
    # The subject's membership history across lists.
    assert subject.get("/api/v1/lists/all/determinations").json()["total"] == 1
