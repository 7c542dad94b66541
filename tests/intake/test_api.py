"""The intake routes: their rules on a small app with ``current_actor`` standing in for
authentication, then end to end through the real application with a department's API key."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from xinyong.accounts.access import current_actor
from xinyong.accounts.actor import Actor
from xinyong.accounts.roles import ADMIN, DEPT_QUERIER, DEPT_SUBMITTER
from xinyong.departments.service import find_department
from xinyong.intake.api import router
from xinyong.intake.bulkdata import write_penalty_csv
from xinyong.web.errors import install_error_handlers

from .test_records import penalty


@pytest.fixture
def api(engine):
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    with Session(engine) as s:
        dept = find_department(s, "market_regulation")
        ids = {"market": dept.id, "tax": find_department(s, "tax").id}
    state = {"actor": Actor(kind="client", role=DEPT_SUBMITTER, id=1, name="市场监管局报送接口",
                            department_id=ids["market"], department_code="market_regulation")}
    app.dependency_overrides[current_actor] = lambda: state["actor"]
    with TestClient(app) as client:
        yield client, state, ids


def test_upload_file_then_read_the_batch_and_its_report(api, tmp_path):
    client, state, ids = api
    path = write_penalty_csv(tmp_path / "p.csv", 30)
    text = path.read_text(encoding="utf-8").splitlines()
    text[4] = text[4].replace("2099-12-31", "2099-13-31")  # one bad date (line 5)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    with open(path, "rb") as fh:
        r = client.post("/api/v1/intake/admin_penalty", files={"file": ("处罚.csv", fh, "text/csv")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["rows_total"], body["rows_rejected"], body["records_created"]) == (30, 1, 29)
    assert body["errors"][0]["row"] == 5 and body["file_name"] == "处罚.csv"
    batch = client.get(f"/api/v1/intake/batches/{body['batch_id']}").json()
    assert batch["rows_accepted"] == 29 and batch["errors"][0]["code"] == "invalid_date"
    csv_report = client.get(f"/api/v1/intake/batches/{body['batch_id']}/errors.csv")
    assert csv_report.status_code == 200 and "invalid_date" in csv_report.content.decode("utf-8-sig")
    assert client.get(f"/api/v1/intake/batches/{body['batch_id']}/errors.xlsx").content[:2] == b"PK"
    # Another department's account cannot see it.
    state["actor"] = Actor(kind="client", role=DEPT_QUERIER, department_id=ids["tax"], department_code="tax")
    assert client.get(f"/api/v1/intake/batches/{body['batch_id']}").status_code == 403


def test_json_rows_scopes_and_refusals(api):
    client, state, ids = api
    r = client.post("/api/v1/intake/admin_penalty", json={"rows": [penalty(1, category="个体工商户")]})
    assert r.status_code == 200 and r.json()["records_created"] == 1
    # Another department named by a department account: refused.
    r = client.post("/api/v1/intake/admin_penalty?department=tax", json=[penalty(2, category="个体工商户")])
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_own_department"
    # A wrong file is refused whole: 422 with the batch's figures.
    r = client.post("/api/v1/intake/admin_penalty", files={"file": ("x.csv", "随便\n1,2\n".encode(), "text/csv")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "file_refused" and "表头" in r.json()["error"]["message"]
    state["actor"] = Actor(kind="client", role=DEPT_SUBMITTER, department_id=ids["market"],
                           department_code="market_regulation", resources=frozenset({"admin_license"}))
    r = client.post("/api/v1/intake/admin_penalty", json=[penalty(3, category="个体工商户")])
    assert r.status_code == 403 and r.json()["error"]["code"] == "scope_forbidden"
    state["actor"] = Actor(kind="user", role=ADMIN, id=9, name="admin")
    assert client.post("/api/v1/intake/admin_penalty", json=[penalty(4)]).json()["error"]["code"] == "department_required"
    r = client.post("/api/v1/intake/admin_penalty?department=tax", json=[penalty(4, category="个体工商户")])
    assert r.status_code == 200 and r.json()["department"] == "tax"
    state["actor"] = Actor(kind="client", role=DEPT_QUERIER, department_id=ids["market"])
    assert client.post("/api/v1/intake/admin_penalty", json=[]).status_code == 403
    assert client.post("/api/v1/intake/admin_penalty", content=b"x", headers={"content-type": "text/plain"}
                       ).status_code in (403, 422)


def test_department_key_uploads_through_the_real_app_and_the_batch_is_audited(engine, db_url, tmp_path):
    from sqlalchemy import select

    from xinyong.accounts.clients import create_client, limiter
    from xinyong.app import create_app
    from xinyong.audit.models import AuditEvent
    from xinyong.audit.service import verify_chain
    from xinyong.db.engine import session_scope

    limiter.reset()
    with session_scope(db_url) as s:
        key = create_client(s, Actor.cli("pytest"), department="market_regulation", name="市场监管报送",
                            role=DEPT_SUBMITTER).key
    path = write_penalty_csv(tmp_path / "p.csv", 12)
    with TestClient(create_app()) as client:
        with open(path, "rb") as fh:
            anonymous = client.post("/api/v1/intake/admin_penalty", files={"file": ("p.csv", fh, "text/csv")})
        assert anonymous.status_code == 401
        with open(path, "rb") as fh:
            r = client.post("/api/v1/intake/admin_penalty", files={"file": ("p.csv", fh, "text/csv")},
                            headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
        batch_id = r.json()["batch_id"]
        assert r.json()["records_created"] == 12
        got = client.get(f"/api/v1/intake/batches/{batch_id}", headers={"X-API-Key": key})
        assert got.status_code == 200 and got.json()["rows_accepted"] == 12
    with session_scope(db_url) as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "intake.batch")).all()
        assert [e.details["batch_id"] for e in events] == [batch_id]
        assert events[0].actor_kind == "client" and events[0].resources == ["admin_penalty"]
        assert verify_chain(s).ok
