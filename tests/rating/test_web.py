"""Rating pages and API over HTTP (both databases): the public model and draws, the subject's
own explanation and appeal, department access (audited), the report, the public grade setting."""

from __future__ import annotations

from datetime import date

from fastapi.testclient import TestClient

from xinyong.accounts.actor import Actor
from xinyong.db.engine import session_scope
from xinyong.rating import draw as draws
from xinyong.rating import service

from tests.workflows.conftest import actor_for, login

DAY = date(2026, 11, 1)


def _scored(world):
    with session_scope(world.url) as s:
        service.run_scoring(s, full=True, as_of=DAY)
        d = draws.draw(s, Actor.cli(), dept_code="market_regulation", draw_date=DAY)
    return d


def test_public_model_and_draw_pages(world):
    from xinyong.app import create_app

    d = _scored(world)
    c = TestClient(create_app(), raise_server_exceptions=False)
    r = c.get("/rating/model")
    assert r.status_code == 200 and "行政处罚" in r.text and "2026.1" in r.text
    assert c.get("/api/v1/rating/model").json()["grades"][0]["code"] == "A"
    r = c.get(f"/inspections/draws/{d['id']}")
    assert r.status_code == 200 and d["seed"] in r.text and d["population_hash"] in r.text
    assert c.get("/inspections/draws").status_code == 200
    assert c.get(f"/api/v1/inspections/draws/{d['id']}").json()["seed"] == d["seed"]
    # anonymous visitors get no explanations and no report
    assert c.get(f"/api/v1/rating/subjects/{world.subject_id}").status_code == 401
    assert c.get("/rating/report", follow_redirects=False).status_code == 303


def test_subject_sees_its_explanation_and_appeals(world):
    from xinyong.app import create_app

    _scored(world)
    actor_for(world.url, "firm", "subject", subject=world.uscc)
    c = TestClient(create_app(), raise_server_exceptions=False)
    login(c, "firm")
    page = c.get("/me/file")
    assert page.status_code == 200 and "公共信用综合评价" in page.text and "基础分" in page.text
    from tests.workflows.conftest import csrf_from

    token = csrf_from(page.text)
    r = c.post("/me/rating/appeal", data={"reason": "我司已整改，等级偏低。", "csrf_token": token},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/objections/")
    case = c.get(r.headers["location"])
    assert case.status_code == 200 and "信用评价等级" in case.text


def test_department_explanation_is_audited_and_report_for_office(world):
    from sqlalchemy import select

    from xinyong.app import create_app
    from xinyong.audit.models import AuditEvent

    _scored(world)
    actor_for(world.url, "querier", "dept_querier", dept="tax")
    actor_for(world.url, "office", "reviewer")
    app = create_app()
    q = TestClient(app, raise_server_exceptions=False)
    login(q, "querier")
    # government information: no purpose, no data
    r = q.get(f"/api/v1/rating/subjects/{world.uscc}")
    assert r.status_code == 403 and "事由" in r.json()["error"]["message"]
    data = q.get(f"/api/v1/rating/subjects/{world.uscc}", headers={"X-Purpose": "routine_supervision"}).json()
    assert data["base"] + sum(f["points"] for f in data["factors"]) == data["score"]
    page = q.get(f"/console/rating?subject={world.subject_id}&purpose=inspection")
    assert page.status_code == 200 and "基础分" in page.text
    assert q.get("/rating/report").status_code == 403
    with session_scope(world.url) as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "rating.read",
                                                    AuditEvent.subject_id == world.subject_id)).all()
        assert len(events) == 2
    o = TestClient(app, raise_server_exceptions=False)
    login(o, "office")
    r = o.get("/rating/report")
    assert r.status_code == 200 and "等级分布" in r.text and "echarts" in r.text
    assert o.get("/api/v1/rating/report").json()["total"] >= 1
    assert o.get("/rating/static/rating.js").status_code == 200


def test_public_grade_only_where_published(world, monkeypatch):
    from xinyong.app import create_app

    _scored(world)
    c = TestClient(create_app(), raise_server_exceptions=False)
    assert "公共信用综合评价" not in c.get(f"/subjects/{world.uscc}").text
    monkeypatch.setenv("XINYONG_RATING_PUBLISH_GRADES", "1")
    assert "公共信用综合评价" in c.get(f"/subjects/{world.uscc}").text
