"""Observability: JSON access logs with request ids and no personal data, Prometheus metrics,
readiness beside liveness."""

from __future__ import annotations

import io
import random
import json
import logging
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from xinyong.config import reset_settings
from xinyong.identity.codes import generate_uscc
from tests.workflows.conftest import cheap_argon2, world  # noqa: F401 - fixtures
from xinyong.logging import JsonFormatter, PersonalDataFilter

CITIZEN_ID = "11010519491231002X"
MOBILE = "13912345678"


@pytest.fixture
def json_log(monkeypatch):
    """Capture what the platform logs, formatted as in production (JSON, personal-data filter)."""
    monkeypatch.setenv("XINYONG_LOG_FORMAT", "json")
    reset_settings()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PersonalDataFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_request_id_in_and_out_and_in_the_access_log(client, json_log):
    r = client.get("/api/v1/catalogue", headers={"X-Request-ID": "dept-abc-12345"})
    assert r.status_code == 200 and r.headers["X-Request-ID"] == "dept-abc-12345"
    fresh = client.get("/healthz")
    rid = fresh.headers["X-Request-ID"]
    assert len(rid) >= 16
    lines = [line for line in json_log() if line.get("event") == "request"]
    mine = {line["request_id"]: line for line in lines}
    assert mine["dept-abc-12345"]["route"] == "/api/v1/catalogue" and mine["dept-abc-12345"]["status"] == 200
    assert mine[rid]["path"] == "/healthz" and mine[rid]["duration_ms"] >= 0
    assert all(line["level"] and line["ts"] and line["logger"] for line in lines)
    # A hostile request id is replaced, never echoed into logs.
    r = client.get("/healthz", headers={"X-Request-ID": "x\r\nSet-Cookie: a=b"})
    assert "Set-Cookie" not in r.headers["X-Request-ID"]


def test_no_personal_data_in_logs(client, json_log):
    client.get("/api/v1/subjects", params={"q": CITIZEN_ID})
    client.get(f"/api/v1/subjects/{CITIZEN_ID}")
    client.get("/search", params={"q": CITIZEN_ID, "phone": MOBILE})
    logging.getLogger("xinyong.test").warning("lookup of %s failed", CITIZEN_ID)
    try:
        raise ValueError(f"bad id {CITIZEN_ID} / {MOBILE}")
    except ValueError:
        logging.getLogger("xinyong.test").exception("while handling")
    lines = json_log()
    raw = json.dumps(lines, ensure_ascii=False)
    assert lines and CITIZEN_ID not in raw and CITIZEN_ID[:-1] not in raw and MOBILE not in raw
    assert "1101**********002X" in raw  # masked, still recognisable to an operator
    assert not any("?" in line.get("path", "") for line in lines)  # query strings are not logged


def test_masking_keeps_the_arguments_a_formatter_reads():
    """uvicorn's access formatter unpacks a record's five arguments: masked, they are still five
    (a record whose arguments became None failed to format: no line, a traceback instead)."""
    from uvicorn.logging import AccessFormatter

    def record(msg, args):
        return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)

    access = record('%s - "%s %s HTTP/%s" %d', ("127.0.0.1:5000", "GET", f"/subjects/{CITIZEN_ID}", "1.1", 200))
    assert PersonalDataFilter().filter(access)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False).format(access)
    assert CITIZEN_ID not in line and "/subjects/1101**********002X" in line and "200" in line
    # A number given as an int, or split between text and argument: the whole message, masked.
    for msg, args in (("call %s", (int(MOBILE),)), (f"id {CITIZEN_ID[:9]}%s", (CITIZEN_ID[9:],))):
        r = record(msg, args)
        assert PersonalDataFilter().filter(r)
        assert MOBILE not in r.getMessage() and CITIZEN_ID not in r.getMessage() and "****" in r.getMessage()


def test_server_errors_are_logged_with_status_and_request_id(client, json_log, monkeypatch):
    import xinyong.catalogue.api as catalogue_api

    def boom(*_a, **_k):
        raise RuntimeError(f"kaboom {CITIZEN_ID}")

    monkeypatch.setattr(catalogue_api, "load_catalogue", boom, raising=False)
    r = client.get("/api/v1/catalogue", headers={"X-Request-ID": "failing-req-0001"})
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    lines = [line for line in json_log() if line.get("request_id") == "failing-req-0001"]
    assert any(line.get("event") == "request" and line["status"] == 500 for line in lines)
    assert CITIZEN_ID not in json.dumps(lines, ensure_ascii=False)


def _metric(body: str, name: str, **labels) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def test_metrics_expose_latency_by_route_template_and_business_figures(client, db_url, monkeypatch):
    from xinyong.db.engine import session_scope
    from xinyong.departments.service import seed_departments
    from xinyong.intake.service import ingest_rows
    from xinyong.ops import observability
    from tests.workflows.conftest import penalty

    monkeypatch.setattr(observability.DatabaseCollector, "ttl", 0.0)
    uscc = generate_uscc(random.Random(3), region="440604")
    with session_scope(db_url) as s:
        seed_departments(s)
    with session_scope(db_url) as s:
        ingest_rows(s, [penalty(1, uscc), {"uscc": "bad"}], "admin_penalty", "market_regulation",
                    today=date(2026, 11, 1))
    client.get(f"/api/v1/subjects/{uscc}")
    client.get("/api/v1/subjects/91440604MA4UYQ0X1J")
    client.get("/no/such/page/123")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    body = r.text
    count = _metric(body, "xinyong_http_request_duration_seconds_count", route="/api/v1/subjects/{identifier}")
    if count is None:  # the path parameter's name is the router's business
        assert "/api/v1/subjects/{" in body
    else:
        assert count >= 2
    assert uscc not in body and "/no/such/page" not in body
    assert _metric(body, "xinyong_http_request_duration_seconds_count", route="unmatched") >= 1
    assert _metric(body, "xinyong_intake_rows_total", outcome="accepted") == 1
    assert _metric(body, "xinyong_intake_rows_total", outcome="rejected") == 1
    assert _metric(body, "xinyong_database_up") == 1
    for wf in ("objection", "repair"):
        assert _metric(body, "xinyong_workflow_overdue_cases", workflow=wf) == 0
    assert _metric(body, "xinyong_queue_depth", queue="email_pending") == 0


def test_overdue_cases_are_counted(world, client, monkeypatch):  # noqa: F811
    from xinyong.db.engine import session_scope
    from xinyong.ops import observability
    from xinyong.workflows.models import Objection

    monkeypatch.setattr(observability.DatabaseCollector, "ttl", 0.0)
    today = date(2026, 11, 20)
    monkeypatch.setenv("XINYONG_TODAY", today.isoformat())
    reset_settings()
    with session_scope(world.url) as s:
        for i, due in enumerate((today - timedelta(days=2), today + timedelta(days=1), today + timedelta(days=30))):
            s.add(Objection(subject_id=world.subject_id, applicant_kind="subject", applicant_name=f"甲{i}",
                            reason="记录有误", filed_on=today - timedelta(days=20), due_on=due))
        s.add(Objection(subject_id=world.subject_id, applicant_kind="subject", applicant_name="乙", reason="已处理",
                        state="upheld", filed_on=today - timedelta(days=40), due_on=today - timedelta(days=10)))
    body = client.get("/metrics").text
    assert _metric(body, "xinyong_workflow_open_cases", workflow="objection") == 3
    assert _metric(body, "xinyong_workflow_overdue_cases", workflow="objection") == 1
    assert _metric(body, "xinyong_workflow_due_within_3_days", workflow="objection") == 1


def test_readiness_needs_database_at_head(client, db_url):
    assert client.get("/healthz").json()["status"] == "ok"
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    from xinyong.db.engine import get_engine

    with get_engine(db_url).begin() as conn:
        saved = [row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))]
        conn.execute(text("DELETE FROM alembic_version"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES ('0001_foundation')"))
    try:
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "migrations_pending" and "xinyong init" in r.json()["error"]["message"]
    finally:  # the PostgreSQL database is shared by the session's tests
        with get_engine(db_url).begin() as conn:
            conn.execute(text("DELETE FROM alembic_version"))
            for rev in saved:
                conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": rev})
    assert client.get("/readyz").status_code == 200


def test_readiness_when_database_is_unreachable(settings_env, monkeypatch):
    from fastapi.testclient import TestClient

    from xinyong.app import create_app
    from xinyong.ops import observability

    monkeypatch.setattr(observability.DatabaseCollector, "ttl", 0.0)
    monkeypatch.setenv("XINYONG_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    reset_settings()
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable"
        r = c.get("/metrics")
        assert r.status_code == 200 and _metric(r.text, "xinyong_database_up") == 0
