"""The server-rendered forms and pages (no browser): names the portal links to, CSRF, uploads,
errors re-rendered in Chinese, the red overdue marking, inboxes."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from xinyong.config import reset_settings

from .conftest import actor_for, csrf_from, login


def _app(monkeypatch, today="2026-11-01"):
    from xinyong.app import create_app

    monkeypatch.setenv("XINYONG_TODAY", today)
    reset_settings()
    return create_app()


def test_route_names_the_portal_uses(settings_env):
    from xinyong.app import create_app

    app = create_app()
    assert app.url_path_for("objection_new") == "/objections/new"
    assert app.url_path_for("repair_new") == "/repairs/new"
    assert app.url_path_for("console_inbox") == "/console/inbox"
    assert app.url_path_for("me_inbox") == "/me/inbox"


def test_anonymous_objection_form_upload_and_department_reply(world, monkeypatch):
    app = _app(monkeypatch)
    actor_for(world.url, "scjg", "dept_submitter", dept="market_regulation")
    rec = world.record(1)
    anon = TestClient(app, raise_server_exceptions=False)
    page = anon.get(f"/objections/new?record_id={rec.id}")
    assert page.status_code == 200 and "提出异议" in page.text and "佛市监罚" in page.text
    token = csrf_from(page.text)
    # Missing CSRF: refused.
    r = anon.post("/objections/new", data={"record_id": str(rec.id), "reason": "名称有误。"}, follow_redirects=False)
    assert r.status_code == 403
    # Invalid input: the form again, with the reason, the text kept.
    r = anon.post("/objections/new", data={"csrf_token": token, "record_id": str(rec.id), "reason": "名称有误，应为新名称。",
                                           "applicant_name": "王五", "contact_email": "not-an-email"})
    assert r.status_code == 422 and "电子邮箱格式不正确" in r.text and "名称有误，应为新名称。" in r.text
    r = anon.post("/objections/new", data={"csrf_token": token, "record_id": str(rec.id), "reason": "名称有误，应为新名称。",
                                           "applicant_name": "王五", "contact_email": "wang@example.com"},
                  files=[("file", ("证明.png", b"\x89PNG\r\n\x1a\n" + b"0" * 20, "image/png"))],
                  follow_redirects=False)
    assert r.status_code == 303, r.text
    target = r.headers["location"]
    assert re.match(r"^/objections/\d+\?filed=1&code=", target)
    case_page = anon.get(target)
    assert "请保存查询码" in case_page.text and "证明.png" in case_page.text and "提出异议" in case_page.text
    case_id = int(re.search(r"/objections/(\d+)", target).group(1))
    dept = TestClient(app, raise_server_exceptions=False)
    csrf = login(dept, "scjg")
    page = dept.get(f"/objections/{case_id}")
    assert "办理异议（书面答复）" in page.text
    r = dept.post(f"/objections/{case_id}/decision", data={"csrf_token": csrf, "decision": "uphold", "reply": ""})
    assert r.status_code == 422 and "请填写书面答复" in r.text
    r = dept.post(f"/objections/{case_id}/decision",
                  data={"csrf_token": csrf, "decision": "uphold", "reply": "经核查，名称与登记一致，维持原记录。"})
    assert r.status_code == 200 and "已办结（维持原记录）" in r.text


def test_repair_form_shows_the_precheck(world, monkeypatch):
    app = _app(monkeypatch)
    actor_for(world.url, "hengtai", "subject", subject=world.uscc)
    c = TestClient(app, raise_server_exceptions=False)
    csrf = login(c, "hengtai")
    rec = world.record(1)
    page = c.get(f"/repairs/new?record_id={rec.id}")
    assert page.status_code == 200 and "预检通过" in page.text and "信用承诺书" in page.text
    r = c.post("/repairs/new", data={"csrf_token": csrf, "record_id": str(rec.id), "fulfilment": "罚款已缴清。",
                                     "commitment_signed_by": "李四", "accept_commitment": "1"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/repairs/")
    page = c.get(r.headers["location"])
    assert "审核中" in page.text and "撤回修复申请" in page.text
    # The minor record is not published: the form explains instead of offering to apply.
    minor = world.record(2)
    page = c.get(f"/repairs/new?record_id={minor.id}")
    assert "不能申请信用修复" in page.text


def test_console_inbox_shows_overdue_in_red(world, monkeypatch):
    from datetime import date

    from xinyong.db.engine import session_scope
    from xinyong.workflows import objections

    subj = actor_for(world.url, "hengtai", "subject", subject=world.uscc)
    actor_for(world.url, "scjg", "dept_submitter", dept="market_regulation")
    with session_scope(world.url) as s:
        objections.file_objection(s, subj, record_id=world.record(1).id, reason="文号有误。", today=date(2026, 10, 1))
    app = _app(monkeypatch, "2026-11-01")
    c = TestClient(app, raise_server_exceptions=False)
    login(c, "scjg")
    page = c.get("/console/inbox")
    assert page.status_code == 200 and "wf-overdue" in page.text and "（已逾期）" in page.text
    s = TestClient(app, raise_server_exceptions=False)
    login(s, "hengtai")
    page = s.get("/me/inbox")
    assert page.status_code == 200 and "异议已受理" in page.text
    anon = TestClient(app, raise_server_exceptions=False)
    assert anon.get("/console/inbox", follow_redirects=False).status_code == 303


def test_objection_form_does_not_reveal_unpublished_records(world, monkeypatch):
    app = _app(monkeypatch)
    minor = world.record(2)  # a warning: never published
    anon = TestClient(app, raise_server_exceptions=False)
    page = anon.get(f"/objections/new?record_id={minor.id}")
    assert page.status_code == 404 and "佛市监罚" not in page.text
    actor_for(world.url, "hengtai", "subject", subject=world.uscc)
    own = TestClient(app, raise_server_exceptions=False)
    login(own, "hengtai")
    assert own.get(f"/objections/new?record_id={minor.id}").status_code == 200
