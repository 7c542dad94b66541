"""The HTTP faces: POST /api/v1/checks (and its 4xx), feedback, rates, batch checks with result
files, console pages and the subject's own file; the CLI's JSON."""

from __future__ import annotations

import io
import json
import random

import pytest
from python_calamine import CalamineWorkbook
from typer.testing import CliRunner

from xinyong.identity.codes import generate_uscc
from xinyong.identity.crypto import get_keyring  # noqa: F401 - key file created by the settings fixture
from xinyong.measures.api import Actor_, CheckIn

from ..workflows.conftest import csrf_from, login
from .conftest import staff


@pytest.fixture
def app_client(city, monkeypatch):
    from fastapi.testclient import TestClient

    from xinyong.app import create_app

    monkeypatch.setenv("XINYONG_TODAY", "2026-11-01")
    from xinyong.config import reset_settings

    reset_settings()
    staff(city.url, "fin", "dept_querier", "finance")
    staff(city.url, "office", "reviewer")
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def _as(client, username):
    client.cookies.clear()
    client.headers.pop("X-CSRF-Token", None)
    client.headers["X-CSRF-Token"] = login(client, username)
    return client


def test_check_api_returns_measures_and_check_id(city, app_client):
    c = _as(app_client, "fin")
    r = c.post("/api/v1/checks", json={"subject": city.codes["mixed"], "scenario": "government_procurement"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["check_id"] > 0 and body["department"]["code"] == "finance" and body["both"] is True
    for m in body["measures"]:
        assert set(m) >= {"code", "kind", "strength", "basis", "triggers"}
        assert m["kind"] in ("reward", "punishment") and m["basis"]
    assert "同时适用" in body["summary"]
    got = c.get(f"/api/v1/checks/{body['check_id']}")
    assert got.status_code == 200 and got.json()["check_id"] == body["check_id"]


@pytest.mark.parametrize("subject, scenario, status, code, words", [
    ("UNKNOWN", "bidding", 404, "subject_not_found", "未找到"),
    ("91-44@06", "bidding", 422, "malformed_identifier", "代码格式"),
    (None, "lottery", 422, "unknown_scenario", "未知的应用场景"),
])
def test_check_api_errors_are_4xx_in_chinese(city, app_client, subject, scenario, status, code, words):
    c = _as(app_client, "fin")
    if subject == "UNKNOWN":
        subject = generate_uscc(random.Random(4242), region="440604")
    r = c.post("/api/v1/checks", json={"subject": subject or city.codes["debtor"], "scenario": scenario})
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and words in err["message"]


@pytest.mark.parametrize("headers, content, status, fields", [
    ({}, b"", 422, "请求"),                                                  # no body
    ({"Content-Type": "application/json"}, b"{}", 422, "subject、scenario"),
    ({"Content-Type": "application/json"}, b'{"subject": "9144", "scenario": "bidding", "zz": 1}', 422, "zz"),
    ({"Content-Type": "application/json"}, b'{"subject": 9144, "scenario": "bidding"}', 422, "subject"),
    ({"Content-Type": "application/json"}, b'{"subject": ', 422, None),      # JSON cut short
    ({"Content-Type": "text/plain"}, b'{"subject": "9144", "scenario": "bidding"}', 422, "请求"),
    ({"Content-Type": "application/json"}, b'{"subject": "\xff"}', 400, None),  # not UTF-8
])
def test_check_body_errors_name_the_field_in_chinese(city, app_client, headers, content, status, fields):
    """The check's lean handler (xinyong.web.lean) answers a bad body as every other route does."""
    c = _as(app_client, "fin")
    before = _checks_made(city)
    r = c.post("/api/v1/checks", content=content, headers=headers)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    if status == 400:
        assert err == {"code": "bad_request", "message": "请求格式不正确。"}
    elif fields is None:  # the position, not a field: the twelve characters sent were all well-formed
        assert err["code"] == "invalid_request" and err["message"].startswith("请求体不是合法的 JSON：第 13 个字符附近出错")
    else:
        assert err["code"] == "invalid_request" and f"请求参数不合法：{fields}。" in err["message"]
    assert _checks_made(city) == before  # nothing was checked


def test_broken_json_is_answered_with_its_position_on_every_route(city, app_client):
    c = _as(app_client, "fin")
    r = c.post("/api/v1/checks/1/feedback", content=b'{"items": [}', headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["message"].startswith("请求体不是合法的 JSON：第 12 个字符附近出错")
    assert err["details"] == [{"field": "", "type": "json_invalid", "detail": "请求体不是合法的 JSON：第 12 个字符附近出错"}]


def _checks_made(city) -> int:
    from sqlalchemy import func, select

    from xinyong.db.engine import session_scope
    from xinyong.measures.models import MeasureCheck

    with session_scope(city.url) as s:
        return s.scalar(select(func.count()).select_from(MeasureCheck))


def test_the_check_route_is_lean_documented_and_behind_the_policy(city, app_client):
    from fastapi.routing import iter_route_contexts

    from xinyong.accounts.access import enforce_policy
    from xinyong.web.lean import LeanJSONRoute

    app = app_client.app
    # The lean handler runs enforce_policy itself: that must stay the application's only dependency.
    assert [d.dependency for d in app.router.dependencies] == [enforce_policy]
    route = next(ctx.original_route for ctx in iter_route_contexts(app.routes)
                 if ctx.path == "/api/v1/checks" and "POST" in (ctx.methods or ()))
    assert isinstance(route, LeanJSONRoute) and not route.dependencies
    op = app.openapi()["paths"]["/api/v1/checks"]["post"]
    assert op["requestBody"]["required"] is True
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CheckIn"}
    assert set(CheckIn.model_json_schema()["required"]) == {"subject", "scenario"}
    assert "201" in op["responses"] and "422" in op["responses"]
    # Anonymous: refused before the body is read, whatever the body.
    app_client.cookies.clear()
    r = app_client.post("/api/v1/checks", content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "auth_required"


def _router_only(app):
    """The same application with its lean dispatch taken out: every request through FastAPI's router."""
    from xinyong.web.lean import LeanDispatch

    stack = app.router.middleware_stack
    assert isinstance(stack, LeanDispatch)
    app.router.middleware_stack = stack.app
    return stack


def test_lean_dispatch_answers_as_the_router_does(city, app_client):
    """POST /api/v1/checks goes straight to its route; the answers are the router's, request by
    request (the session's cookies and CSRF token alike), and other methods and paths still go
    through the router."""
    from xinyong.web.lean import LeanJSONRoute

    c = _as(app_client, "fin")
    app = c.app
    bodies = [{"subject": city.codes["debtor"], "scenario": "bidding"},
              {"subject": city.codes["mixed"], "scenario": "government_procurement"},
              {"subject": "UNKNOWN", "scenario": "bidding"}, {"subject": city.codes["clean"], "scenario": "nope"},
              {"subject": "91!!", "scenario": "bidding"}, {"scenario": "bidding"}, [1, 2]]

    def answers():
        out = []
        for b in bodies:
            r = c.post("/api/v1/checks", json=b)
            body = r.json()
            for k in ("check_id", "checked_at", "request_id"):
                body.pop(k, None)
            out.append((r.status_code, body))
        r = c.post("/api/v1/checks", content=b'{"subject": ', headers={"Content-Type": "application/json"})
        out.append((r.status_code, r.json()))
        r = c.put("/api/v1/checks", json=bodies[0])
        out.append((r.status_code, r.headers.get("allow")))
        out.append((c.get("/api/v1/checks").status_code, None))
        return out

    first = answers()
    dispatch = _router_only(app)
    assert dispatch.table == {("POST", "/api/v1/checks"): dispatch.table[("POST", "/api/v1/checks")]}
    assert isinstance(dispatch.table[("POST", "/api/v1/checks")], LeanJSONRoute)
    assert first == answers()
    statuses = [a[0] for a in first]
    assert statuses[:2] == [201, 201] and statuses[2] == 404 and statuses[-2] == 405 and statuses[-1] == 200
    assert _checks_made(city) == 4  # two by the dispatch, two by the router


def test_lean_dispatch_leaves_a_path_the_router_would_give_another_route():
    """A route declared before the lean one that also matches its path keeps it (the router's
    first match wins); with FastAPI's telemetry on, every request goes to the router."""
    import asyncio

    from fastapi import FastAPI

    from xinyong.web.lean import LeanDispatch, LeanJSONRoute

    async def endpoint(body: CheckIn, actor: Actor_) -> None: ...

    app = FastAPI()
    app.add_api_route("/x/{name}", lambda name: name, methods=["POST"])
    app.router.routes.append(LeanJSONRoute("/x/a", endpoint, methods=["POST"]))
    app.router.routes.append(LeanJSONRoute("/y", endpoint, methods=["POST"]))
    reached = []

    async def router(scope, receive, send):
        reached.append(scope["path"])

    d = LeanDispatch(router, app)
    assert d._build() == {("POST", "/y"): app.router.routes[-1]}
    scope = {"type": "http", "method": "POST", "path": "/y", "root_path": "", "fastapi.telemetry": object()}
    asyncio.run(d(scope, None, None))
    assert reached == ["/y"]


def test_a_lean_route_refuses_endpoints_of_another_shape():
    from fastapi import Depends

    from xinyong.accounts.access import current_actor
    from xinyong.web.lean import LeanJSONRoute

    async def no_actor(body: CheckIn, other: int) -> None: ...

    def not_async(body: CheckIn, actor: Actor_) -> None: ...

    async def fine(body: CheckIn, actor: Actor_) -> None: ...

    for endpoint in (no_actor, not_async):
        with pytest.raises(TypeError):
            LeanJSONRoute("/x", endpoint, methods=["POST"])
    with pytest.raises(TypeError, match="route-level"):
        LeanJSONRoute("/x", fine, methods=["POST"], dependencies=[Depends(current_actor)])
    assert LeanJSONRoute("/x", fine, methods=["POST"]).path == "/x"


def test_who_may_check(city, app_client):
    from xinyong.accounts.actor import Actor
    from xinyong.accounts.service import create_user
    from xinyong.db.engine import session_scope

    anon = app_client
    anon.cookies.clear()
    assert anon.post("/api/v1/checks", json={"subject": city.codes["debtor"],
                                             "scenario": "bidding"}).status_code == 401
    with session_scope(city.url) as s:
        create_user(s, Actor.cli("pytest"), username="firm", role="subject", subject=city.codes["debtor"],
                    password="Correct-Horse-42")
    c = _as(app_client, "firm")
    assert c.post("/api/v1/checks", json={"subject": city.codes["debtor"], "scenario": "bidding"}).status_code == 403
    # The measures catalogue is public.
    c.cookies.clear()
    cat = c.get("/api/v1/measures", params={"scenario": "bidding"}).json()
    assert cat["measures"] and all("bidding" in m["scenarios"] for m in cat["measures"])


def test_feedback_and_rates_over_http_and_subject_sees_it(city, app_client):
    from xinyong.accounts.actor import Actor
    from xinyong.accounts.service import create_user
    from xinyong.db.engine import session_scope

    c = _as(app_client, "fin")
    check = c.post("/api/v1/checks", json={"subject": city.codes["debtor"],
                                           "scenario": "government_procurement"}).json()
    r = c.post(f"/api/v1/checks/{check['check_id']}/feedback",
               json={"items": [{"measure": "jd_procurement_ban", "outcome": "not_applied"}]})
    assert r.status_code == 422 and "理由" in r.json()["error"]["message"]
    r = c.post(f"/api/v1/checks/{check['check_id']}/feedback",
               json={"items": [{"measure": "jd_procurement_ban", "outcome": "applied"}]})
    assert r.status_code == 200 and r.json()["feedback_complete"] is True
    rates = c.get("/api/v1/measures/feedback-rates", params={"by": "measure"}).json()
    assert rates["total"] == {"returned": 1, "with_feedback": 1, "applied": 1, "overdue": 0,
                              "feedback_rate": 1.0, "applied_rate": 1.0}
    with session_scope(city.url) as s:
        create_user(s, Actor.cli("pytest"), username="debtor", role="subject", subject=city.codes["debtor"],
                    password="Correct-Horse-42")
    me = _as(app_client, "debtor")
    page = me.get("/me/file")
    assert page.status_code == 200
    assert "联合奖惩核查记录" in page.text and "限制参加政府采购活动" in page.text and "已实施" in page.text
    assert me.get(f"/api/v1/checks/{check['check_id']}").status_code == 200
    history = me.get("/me/access-history")
    assert "政府采购" in history.text


def _csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    for r in rows:
        buf.write(",".join(r) + "\n")
    return buf.getvalue().encode("gbk")


def test_batch_check_over_http_with_results(city, app_client):
    c = _as(app_client, "office")
    unknown = generate_uscc(random.Random(4242), region="440604")
    data = _csv([["序号", "统一社会信用代码", "投标人名称"],
                 ["1", city.codes["debtor"], "失信建材"], ["2", city.codes["mixed"], "守信兼异常"],
                 ["3", city.codes["clean"], "清白科技"], ["4", unknown, "不存在"], ["5", "12@34", "乱码"],
                 ["6", city.codes["debtor"].lower(), "重复"]])
    r = c.post("/api/v1/check-batches", data={"scenario": "bidding", "department": "development_reform"},
               files={"file": ("投标人.csv", data, "text/csv")})
    assert r.status_code == 202, r.text
    batch_id = r.json()["batch_id"]
    st = c.get(f"/api/v1/check-batches/{batch_id}").json()
    assert st["state"] == "done", st["message"]
    assert st["total"] == 6 and st["processed"] == 6 and st["found"] == 4
    assert st["with_measures"] == 2
    body = json.loads(c.get(f"/api/v1/check-batches/{batch_id}/result.json").content)
    by_row = {x["row"]: x for x in body["results"]}
    assert by_row[2]["status"] == "checked" and {m["code"] for m in by_row[2]["measures"]} >= {"jd_bidding_restrict"}
    assert by_row[4]["status"] == "checked" and by_row[4]["measures"] == []
    assert by_row[5]["status"] == "not_found" and by_row[6]["status"] == "invalid"
    assert by_row[7]["check_id"] == by_row[2]["check_id"]  # the same subject twice: one check
    book = CalamineWorkbook.from_filelike(io.BytesIO(c.get(f"/api/v1/check-batches/{batch_id}/result.xlsx").content))
    rows = book.get_sheet_by_index(0).to_python()
    assert rows[0][:5] == ["行号", "输入代码", "清单中的名称", "业务编号", "核查状态"] and len(rows) == 7
    csv_text = c.get(f"/api/v1/check-batches/{batch_id}/result.csv").content.decode("utf-8-sig")
    assert "未找到主体" in csv_text and "代码有误" in csv_text
    page = c.get(f"/console/check-batches/{batch_id}")
    assert page.status_code == 200 and "已完成" in page.text
    # A plain list of codes, one per line, is accepted too.
    plain = f"{city.codes['debtor']}\n{city.codes['clean']}\n".encode()
    r = c.post("/api/v1/check-batches", data={"scenario": "bidding", "department": "development_reform"},
               files={"file": ("codes.txt", plain, "text/plain")})
    assert r.status_code == 202 and c.get(f"/api/v1/check-batches/{r.json()['batch_id']}").json()["found"] == 2
    bad = c.post("/api/v1/check-batches", data={"scenario": "bidding", "department": "development_reform"},
                 files={"file": ("x.csv", "名称,地址\n甲,乙\n".encode(), "text/csv")})
    assert bad.status_code == 422 and "主体代码" in bad.json()["error"]["message"]


def test_console_check_form_result_and_feedback(city, app_client):
    c = _as(app_client, "fin")
    form = c.get("/console/checks/new")
    assert form.status_code == 200 and "联合奖惩核查" in form.text
    token = csrf_from(form.text)
    r = c.post("/console/checks/new", data={"csrf_token": token, "subject": city.codes["mixed"],
                                            "scenario": "government_procurement"})
    assert r.status_code == 200 and "同时适用守信激励措施" in r.text and "《企业信息公示暂行条例》第十八条" in r.text
    bad = c.post("/console/checks/new", data={"csrf_token": token, "subject": city.codes["mixed"],
                                              "scenario": "lottery"})
    assert bad.status_code == 400 and "未知的应用场景" in bad.text
    listing = c.get("/console/checks")
    assert listing.status_code == 200 and "佛山市守信兼异常贸易有限公司" in listing.text
    check_id = int(r.text.split("核查编号 ")[1].split("）")[0])
    page = c.get(f"/console/checks/{check_id}")
    token = csrf_from(page.text)
    saved = c.post(f"/console/checks/{check_id}/feedback",
                   data={"csrf_token": token, "outcome__abnormal_procurement_strict": "not_applied",
                         "reason__abnormal_procurement_strict": ""}, follow_redirects=False)
    assert saved.status_code == 400 and "理由" in saved.text
    saved = c.post(f"/console/checks/{check_id}/feedback",
                   data={"csrf_token": token, "outcome__abnormal_procurement_strict": "applied",
                         "outcome__red_list_procurement_simplified": "applied"}, follow_redirects=False)
    assert saved.status_code == 303
    assert "已保存反馈" in c.get(saved.headers["location"]).text
    rates = c.get("/console/measures/feedback-rates")
    assert rates.status_code == 200 and "100.0%" in rates.text


def test_cli_check_json_shape(city):
    from xinyong.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["check", city.codes["debtor"], "--scenario", "government_procurement",
                            "--dept", "finance", "--json"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert isinstance(body["check_id"], int) and body["measures"]
    for m in body["measures"]:
        assert {"code", "kind", "strength", "basis", "triggers"} <= set(m)
    bad = runner.invoke(app, ["check", city.codes["debtor"], "--scenario", "lottery", "--dept", "finance", "--json"])
    assert bad.exit_code == 1 and json.loads(bad.stdout)["error"]["code"] == "unknown_scenario"


def test_cli_check_batch_writes_three_files(city, tmp_path):
    from xinyong.cli import app

    src = tmp_path / "list.csv"
    src.write_text(f"统一社会信用代码,名称\n{city.codes['debtor']},甲\n{city.codes['mixed']},乙\nBAD@,丙\n",
                   encoding="utf-8")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["check-batch", str(src), "--scenario", "bidding", "--dept", "development_reform",
                                 "--out", str(out), "--json"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    assert (body["total"], body["found"], body["with_measures"]) == (3, 2, 2)
    assert sorted(p.suffix for p in out.iterdir()) == [".csv", ".json", ".xlsx"]
    rows = CalamineWorkbook.from_path(str(out / f"核查结果-{body['batch_id']}.xlsx")).get_sheet_by_index(0).to_python()
    assert [r[4] for r in rows[1:]] == ["已核查", "已核查", "代码有误"]
    ok = CliRunner().invoke(app, ["measures", "validate"])
    assert ok.exit_code == 0 and "措施清单有效" in ok.stdout


def test_api_key_scoped_to_some_resources_sees_measures_not_records(city, app_client):
    from xinyong.accounts.actor import Actor
    from xinyong.accounts.clients import create_client
    from xinyong.db.engine import session_scope

    from .conftest import add_record

    with session_scope(city.url) as s:
        add_record(s, "social_insurance_arrears", city.subjects["clean"], severity="general")  # 政务共享
        scoped = create_client(s, Actor.cli("pytest"), department="finance", name="财政资金系统",
                               resources=["admin_penalty"], disclosures=["public", "government"]).key
        full = create_client(s, Actor.cli("pytest"), department="finance", name="信用核查系统").key
    app_client.cookies.clear()
    app_client.headers.pop("X-CSRF-Token", None)

    def trigger(key):
        r = app_client.post("/api/v1/checks", json={"subject": city.codes["clean"], "scenario": "fiscal_support"},
                            headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 201, r.text
        (t,) = next(m for m in r.json()["measures"] if m["code"] == "social_insurance_arrears_fiscal")["triggers"]
        return t

    t = trigger(scoped)
    assert t["redacted"] is True and "natural_key" not in t and t["resource"] == "social_insurance_arrears"
    t = trigger(full)
    assert "redacted" not in t and t["natural_key"].startswith("social_insurance_arrears-")
