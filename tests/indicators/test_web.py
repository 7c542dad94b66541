"""Dashboard, drill-down, exports and the public statistics page over HTTP (both databases)."""

from __future__ import annotations

import io
import json
import re

import pytest
from fastapi.testclient import TestClient
from python_calamine import CalamineWorkbook

from .conftest import AS_OF

PASSWORD = "Correct-Horse-42"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def _user(url: str, username: str, role: str) -> None:
    from xinyong.accounts.actor import Actor
    from xinyong.accounts.service import create_user
    from xinyong.db.engine import session_scope

    with session_scope(url) as s:
        create_user(s, Actor.cli("pytest"), username=username, role=role, password=PASSWORD)


def _login(app, username: str) -> TestClient:
    c = TestClient(app, raise_server_exceptions=False)
    page = c.get("/login")
    token = _CSRF.search(page.text).group(1)
    r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token, "next": "/me"},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


@pytest.fixture
def app(snapshot, city_url):
    from xinyong.app import create_app

    _user(city_url, "office", "admin")
    _user(city_url, "checker", "reviewer")
    return create_app()


def _book(content: bytes) -> CalamineWorkbook:
    return CalamineWorkbook.from_filelike(io.BytesIO(content))


def test_dashboard_needs_the_credit_office(app):
    anon = TestClient(app, raise_server_exceptions=False)
    r = anon.get("/indicators", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert anon.get("/api/v1/indicators").status_code == 401
    assert anon.get("/indicators/enterprise_file_coverage/export.xlsx", follow_redirects=False).status_code == 303


def test_dashboard_shows_values_statuses_and_league(app):
    c = _login(app, "checker")
    r = c.get("/indicators")
    assert r.status_code == 200
    html = r.text
    assert "企业信用档案覆盖率" in html and "60.0%" in html and "未达标" in html
    assert "部门数据质量排行榜" in html and "国家税务总局佛山市税务局" in html
    assert "联合奖惩核查反馈率" in html and "刷新指标" not in html  # reviewers read, only admins refresh
    data = json.loads(re.search(r'id="xy-chart-data">(.*?)</script>', html, re.DOTALL).group(1))
    assert data["enterprise_file_coverage"]["target"] == 0.85
    assert len(data["enterprise_file_coverage"]["trend"]) == 24
    # Connected (#7) but no check yet: charted with an empty trend.
    assert all(p["denominator"] == 0 for p in data["joint_measure_feedback_rate"]["trend"])


def test_drill_down_page_and_export(app):
    c = _login(app, "checker")
    r = c.get("/indicators/double_publicity_timeliness")
    assert r.status_code == 200
    assert "按部门" in r.text and "佛山市市场监督管理局" in r.text and "75.0%" in r.text
    assert 'data-chart="department"' in r.text and 'data-chart="month"' in r.text
    assert c.get("/indicators/no_such_indicator").status_code == 404
    x = c.get("/indicators/double_publicity_timeliness/export.xlsx")
    assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd.openxml")
    book = _book(x.content)
    assert book.sheet_names == ["概况", "按部门", "按领域", "按地区", "按月"]
    rows = book.get_sheet_by_name("按部门").to_python()
    assert rows[0] == ["部门", "分子", "分母", "数值", "状态"]
    assert ["佛山市市场监督管理局", 3.0, 4.0, 0.75, "未达标"] in rows
    month = book.get_sheet_by_name("按月").to_python()
    assert ["2026-10", 3.0, 4.0, 0.75, "未达标"] in month


def test_exports_are_formula_safe(app, city_url):
    from sqlalchemy import update

    from xinyong.db.engine import session_scope
    from xinyong.departments.models import Department
    from xinyong.indicators.service import refresh

    with session_scope(city_url) as s:
        s.execute(update(Department).where(Department.code == "tax").values(name="=HYPERLINK(\"http://x\")"))
    refresh(city_url, as_of=AS_OF)
    c = _login(app, "checker")
    rows = _book(c.get("/indicators/league/export.xlsx").content).get_sheet_by_name("部门排行榜").to_python()
    names = [r[1] for r in rows]
    assert "'=HYPERLINK(\"http://x\")" in names


def test_monthly_report(app):
    c = _login(app, "office")
    r = c.get("/indicators/report.xlsx", params={"month": "2026-10"})
    assert r.status_code == 200
    book = _book(r.content)
    assert book.sheet_names[:3] == ["月报概览", "部门排行榜", "部门明细"]
    assert "未接入指标" not in book.sheet_names  # every indicator is connected since joint measures (#7)
    overview = book.get_sheet_by_name("月报概览").to_python()
    assert "2026年10月" in overview[0][0]
    row = next(r for r in overview if r[1] == "双公示7个工作日内公示率")
    # current 80%, October 75%, September 100%, change −25 points
    assert row[3:8] == [0.8, 0.75, 1.0, -0.25, "未达标"]
    assert c.get("/indicators/report.xlsx", params={"month": "2031-01"}).status_code == 422
    bad = c.get("/indicators/report.xlsx", params={"month": "十月"})
    assert bad.status_code == 422 and "YYYY-MM" in bad.text


def test_refresh_button_is_for_admins_with_csrf(app, city_url):
    admin = _login(app, "office")
    page = admin.get("/indicators")
    assert "刷新指标" in page.text
    token = _CSRF.search(page.text).group(1)
    before = admin.get("/api/v1/indicators").json()["snapshot"]["id"]
    assert admin.post("/indicators/refresh", data={}, follow_redirects=False).status_code == 403
    r = admin.post("/indicators/refresh", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/indicators?refresh=done"
    assert "指标已刷新" in admin.get("/indicators?refresh=done").text
    assert admin.get("/api/v1/indicators").json()["snapshot"]["id"] > before
    reviewer = _login(app, "checker")
    token = _CSRF.search(reviewer.get("/me").text).group(1)
    assert reviewer.post("/indicators/refresh", data={"csrf_token": token}, follow_redirects=False).status_code == 403


def test_api_lists_code_value_target_status(app):
    c = _login(app, "checker")
    body = c.get("/api/v1/indicators").json()
    by = {i["code"]: i for i in body["indicators"]}
    assert by["enterprise_file_coverage"]["value"] == 0.6
    assert by["enterprise_file_coverage"]["target"] == 0.85
    assert by["enterprise_file_coverage"]["status"] == "red"
    assert by["joint_measure_feedback_rate"]["status"] == "no_data"
    detail = c.get("/api/v1/indicators/penalty_timeliness").json()
    assert detail["indicator"]["status"] == "green"
    assert c.get("/api/v1/indicators/nope").json()["error"]["code"] == "indicator_not_found"


def test_public_statistics_page(app):
    anon = TestClient(app, raise_server_exceptions=False)
    r = anon.get("/statistics")
    assert r.status_code == 200
    assert "企业信用档案覆盖率" in r.text and "双公示7个工作日内公示率" in r.text
    assert "归集拒收率" not in r.text and "部门数据质量排行榜" not in r.text  # not marked public
    api = anon.get("/api/v1/statistics").json()
    codes = {i["code"] for i in api["indicators"]}
    assert "enterprise_file_coverage" in codes and "intake_rejection_rate" not in codes
    js = anon.get("/indicators/static/echarts-6.1.0.min.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert anon.get("/indicators/static/..%2F..%2Fapi.py").status_code == 404
    assert anon.get("/indicators/static/api.py").status_code == 404


def test_no_snapshot_yet(db_url):
    from xinyong.app import create_app

    _user(db_url, "office", "admin")
    app = create_app()
    c = _login(app, "office")
    r = c.get("/indicators")
    assert r.status_code == 200 and "指标尚未计算" in r.text
    assert c.get("/api/v1/indicators").json()["error"]["code"] == "indicators_not_computed"
    assert "正在准备中" in TestClient(app).get("/statistics").text
