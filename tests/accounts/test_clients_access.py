"""Department API clients, require_access (scope, disclosure, purpose, own file) and the
subject's access history — on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import random
import time
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

import pytest
from fastapi import Depends, Request
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from xinyong.accounts.access import require_access
from xinyong.accounts import clients
from xinyong.accounts.actor import Actor
from xinyong.accounts.clients import key_cache
from xinyong.accounts.models import ApiClient
from xinyong.accounts.policy import ROUTE_POLICY, allow
from xinyong.app import create_app
from xinyong.audit.models import AuditEvent
from xinyong.cli import app as cli
from xinyong.db.base import utcnow
from xinyong.db.engine import session_scope
from xinyong.identity.codes import generate_uscc
from xinyong.subjects.service import SubjectIn, upsert_subjects

from .conftest import add_client, add_user, login, seed

runner = CliRunner()
READ = "/api/v1/test-records/{resource}/{code}"
INTERNAL = "/api/v1/test-internal/{code}"
OWN = "/api/v1/test-own-file"


@pytest.fixture
def app_client(db_url, monkeypatch):
    """The real application plus three routes that use require_access as later features will."""
    app = create_app()

    @app.get(READ)
    def read(resource: str, code: str, request: Request,
             actor: Annotated[Actor, Depends(require_access(resource_param="resource", subject_param="code"))]):
        return {"kind": actor.kind, "purpose": actor.purpose.code if actor.purpose else None,
                "subject_id": getattr(request.state, "subject_id", None)}

    @app.get(INTERNAL)
    def internal(code: str, request: Request, actor: Annotated[Actor, Depends(require_access(
            disclosure="internal", subject_param="code", action="subject.read"))]):
        return {"role": actor.role, "purpose": actor.purpose.code if actor.purpose else None,
                "subject_id": getattr(request.state, "subject_id", None)}

    @app.get(OWN)
    def own(request: Request, actor: Annotated[Actor, Depends(require_access(
            resource="subject_file", disclosure="subject", action="subject.read"))]):
        return {"subject_id": request.state.subject_id, "actor_subject_id": actor.subject_id}

    monkeypatch.setitem(ROUTE_POLICY, ("GET", READ), allow("public"))
    monkeypatch.setitem(ROUTE_POLICY, ("GET", INTERNAL), allow("admin", "reviewer", "dept_querier"))
    monkeypatch.setitem(ROUTE_POLICY, ("GET", OWN), allow("subject", "admin"))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _companies(db_url, n=2):
    rng = random.Random(3)
    codes = [generate_uscc(rng, region="440604") for _ in range(n)]
    with session_scope(db_url) as s:
        upsert_subjects(s, [SubjectIn(kind="legal_entity", org_type="enterprise", name=f"佛山市示例{i}有限公司",
                                      uscc=c) for i, c in enumerate(codes)])
    return codes


def _err(resp, status):
    assert resp.status_code == status, resp.text
    body = resp.json()["error"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["message"])
    return body


def _as_client(resp, department="market_regulation"):
    """The request was accepted as the department's API client (not merely answered)."""
    assert resp.status_code == 200, resp.text
    me = resp.json()
    assert me["kind"] == "client" and me["department"] == department, me
    return me


def _subject_id(db_url, uscc):
    from xinyong.subjects.models import Subject

    with session_scope(db_url) as s:
        return s.scalar(select(Subject.id).where(Subject.uscc == uscc))


def _events(db_url, action=None):
    with session_scope(db_url) as s:
        stmt = select(AuditEvent).order_by(AuditEvent.seq)
        if action:
            stmt = stmt.where(AuditEvent.action == action)
        return list(s.scalars(stmt))


def test_api_key_auth_scope_and_purpose(app_client, db_url):
    seed(db_url)
    a, _ = _companies(db_url)
    key = add_client(db_url, resources=["admin_enforcement"])
    bearer = {"Authorization": f"Bearer {key}"}
    me = app_client.get("/api/v1/me", headers=bearer).json()
    assert me["kind"] == "client" and me["department"] == "market_regulation"
    assert me["resources"] == ["admin_enforcement"] and me["disclosures"] == ["government", "public"]
    assert app_client.get("/api/v1/me", headers={"X-API-Key": key}).json()["kind"] == "client"
    assert key not in json.dumps(me)

    url = f"/api/v1/test-records/admin_enforcement/{a}"
    # Without a purpose: refused, and told which purposes exist.
    body = _err(app_client.get(url, headers=bearer), 403)
    assert body["code"] == "purpose_required" and "admin_licensing（行政许可审查）" in body["message"]
    assert _err(app_client.get(url, headers={**bearer, "X-Purpose": "curiosity"}), 403)["code"] == "invalid_purpose"
    assert _err(app_client.get(url, headers={**bearer, "X-Purpose": "other"}), 403)["code"] == "purpose_text_required"
    assert _events(db_url, "admin_enforcement.read") == []

    text = "（2026）佛市监许字第88号"
    r = app_client.get(url, headers={**bearer, "X-Purpose": "admin_licensing", "X-Purpose-Text": quote(text),
                                     "X-Request-ID": "dept-req-000123"})
    assert r.status_code == 200, r.text
    assert r.json()["purpose"] == "admin_licensing" and r.headers["x-request-id"] == "dept-req-000123"
    [ev] = _events(db_url, "admin_enforcement.read")
    assert (ev.actor_kind, ev.role, ev.department) == ("client", "dept_querier", "market_regulation")
    assert ev.subject_id == r.json()["subject_id"] and ev.resources == ["admin_enforcement"]
    assert (ev.purpose_code, ev.purpose_text, ev.request_id) == ("admin_licensing", text, "dept-req-000123")
    # Query parameters work as well as headers.
    assert app_client.get(url, headers=bearer, params={"purpose": "政府采购"}).json()["purpose"] == "government_procurement"

    # Out of scope: another government resource.
    body = _err(app_client.get(f"/api/v1/test-records/food_drug_violations/{a}",
                               headers={**bearer, "X-Purpose": "admin_licensing"}), 403)
    assert body["code"] == "scope_forbidden" and "food_drug_violations" in body["message"]
    # Public information needs neither scope nor purpose, and is not audited as a read.
    # (no access check binds a subject for them: there is nothing to record about the read)
    public = app_client.get(f"/api/v1/test-records/admin_penalty/{a}", headers=bearer)
    assert public.status_code == 200 and public.json() == {"kind": "client", "purpose": None, "subject_id": None}
    public = app_client.get(f"/api/v1/test-records/admin_penalty/{a}")
    assert public.status_code == 200 and public.json() == {"kind": "anonymous", "purpose": None, "subject_id": None}
    assert _events(db_url, "admin_penalty.read") == []
    # Internal information is beyond any department.
    assert _err(app_client.get(f"/api/v1/test-internal/{a}", headers={**bearer, "X-Purpose": "admin_licensing"}),
                403)["code"] == "disclosure_forbidden"
    # Anonymous callers get 401 for non-public information.
    assert _err(app_client.get(url, params={"purpose": "admin_licensing"}), 401)["code"] == "auth_required"
    assert _err(app_client.get(f"/api/v1/test-records/nonexistent/{a}", headers=bearer), 422)["code"] == "unknown_resource"


def test_bad_revoked_and_expired_keys(app_client, db_url):
    seed(db_url)
    key = add_client(db_url)
    client_id, secret = int(key.split("_")[1]), key.split("_", 2)[2]
    assert _err(app_client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"}), 401)["code"] == "invalid_api_key"
    wrong = f"xy_{client_id}_{'A' * len(secret)}"
    r = app_client.get("/api/v1/me", headers={"Authorization": f"Bearer {wrong}"})
    assert _err(r, 401)["code"] == "invalid_api_key" and r.headers["www-authenticate"].startswith("Bearer")
    # A bad key is refused even on public routes: a misconfigured client must notice.
    assert _err(app_client.get("/api/v1/catalogue", headers={"X-API-Key": wrong}), 401)["code"] == "invalid_api_key"
    _as_client(app_client.get("/api/v1/me", headers={"X-API-Key": key}))

    with session_scope(db_url) as s:
        s.execute(update(ApiClient).values(expires_at=utcnow() - timedelta(days=1)))
    # A change behind the service's back (plain SQL) reaches a process within KEY_CACHE_SECONDS
    # (test_accepted_keys_are_remembered_briefly); here it should be seen now.
    key_cache.forget()
    body = _err(app_client.get("/api/v1/me", headers={"X-API-Key": key}), 401)
    assert body["code"] == "api_key_expired" and "北京时间" in body["message"]
    res = runner.invoke(cli, ["clients", "revoke", str(client_id), "--reason", "密钥泄露", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["status"] == "revoked"
    assert _err(app_client.get("/api/v1/me", headers={"X-API-Key": key}), 401)["code"] == "api_key_revoked"
    reasons = [e.details["reason"] for e in _events(db_url, "auth.api_key_rejected")]
    assert reasons == ["bad_secret", "bad_secret", "expired", "revoked"]
    assert [e.action for e in _events(db_url)][:1] == ["client.create"]
    assert _events(db_url, "client.revoke")[0].details["reason"] == "密钥泄露"


def test_accepted_keys_are_remembered_briefly(app_client, db_url, monkeypatch):
    """A key accepted moments ago is not read again; revoking it in this process refuses it at
    once, revoking it elsewhere (another worker, plain SQL) within KEY_CACHE_SECONDS; expiry and
    a wrong secret are checked on every request, and refusals are still audited."""
    seed(db_url)
    key = add_client(db_url)
    client_id, secret = int(key.split("_")[1]), key.split("_", 2)[2]
    reads = []
    real = clients.authenticate_key
    monkeypatch.setattr(clients, "authenticate_key", lambda *a, **kw: reads.append(1) or real(*a, **kw))
    headers = {"X-API-Key": key}
    for _ in range(3):
        _as_client(app_client.get("/api/v1/me", headers=headers))
    assert len(reads) == 1
    # The remembered key carries no request id of its own: each request's id reaches the audit log.
    r = app_client.get(f"/api/v1/test-records/admin_enforcement/{_companies(db_url)[0]}",
                       headers={**headers, "X-Purpose": "admin_licensing", "X-Request-ID": "dept-req-000777"})
    assert r.status_code == 200 and len(reads) == 1
    assert _events(db_url, "admin_enforcement.read")[0].request_id == "dept-req-000777"

    # A wrong secret for the same client is refused and audited, cache or not.
    wrong = f"xy_{client_id}_{'B' * len(secret)}"
    assert _err(app_client.get("/api/v1/me", headers={"X-API-Key": wrong}), 401)["code"] == "invalid_api_key"
    assert [e.details["reason"] for e in _events(db_url, "auth.api_key_rejected")] == ["bad_secret"]
    _as_client(app_client.get("/api/v1/me", headers=headers))

    # Revoked behind this process's back: accepted until the entry is KEY_CACHE_SECONDS old.
    monkeypatch.setattr(clients, "KEY_CACHE_SECONDS", 0.5)
    key_cache.forget()
    _as_client(app_client.get("/api/v1/me", headers=headers))
    with session_scope(db_url) as s:
        s.execute(update(ApiClient).values(revoked_at=utcnow()))
    _as_client(app_client.get("/api/v1/me", headers=headers))
    time.sleep(0.6)
    assert _err(app_client.get("/api/v1/me", headers=headers), 401)["code"] == "api_key_revoked"

    # Revoked through the service in this process: refused at once.
    key2 = add_client(db_url)
    monkeypatch.setattr(clients, "KEY_CACHE_SECONDS", 3600.0)
    _as_client(app_client.get("/api/v1/me", headers={"X-API-Key": key2}))
    res = runner.invoke(cli, ["clients", "revoke", key2.split("_")[1], "--json"])
    assert res.exit_code == 0, res.output
    assert _err(app_client.get("/api/v1/me", headers={"X-API-Key": key2}), 401)["code"] == "api_key_revoked"

    # Expiry is checked on every request, even for a remembered key.
    key3 = add_client(db_url)
    with session_scope(db_url) as s:
        s.execute(update(ApiClient).where(ApiClient.id == int(key3.split("_")[1]))
                  .values(expires_at=utcnow() + timedelta(seconds=1)))
    _as_client(app_client.get("/api/v1/me", headers={"X-API-Key": key3}))
    time.sleep(1.1)
    assert _err(app_client.get("/api/v1/me", headers={"X-API-Key": key3}), 401)["code"] == "api_key_expired"
    reasons = [e.details["reason"] for e in _events(db_url, "auth.api_key_rejected")]
    assert reasons == ["bad_secret", "revoked", "revoked", "expired"]


def test_rate_limit(app_client, db_url):
    seed(db_url)
    key = add_client(db_url, rate_limit=3)
    headers = {"X-API-Key": key}
    for _ in range(3):  # the limit's three requests, each accepted as the client (a public page would answer anyone)
        _as_client(app_client.get("/api/v1/me", headers=headers))
    r = app_client.get("/api/v1/me", headers=headers)
    body = _err(r, 429)
    assert body["code"] == "rate_limited" and "每分钟 3 次" in body["message"]
    assert 1 <= int(r.headers["retry-after"]) <= 20
    # Another client of the same department has its own bucket: accepted as itself, not limited.
    other = add_client(db_url, rate_limit=3)
    _as_client(app_client.get("/api/v1/me", headers={"X-API-Key": other}))


def test_subject_sees_own_file_and_who_looked(app_client, db_url):
    seed(db_url)
    a, _b = _companies(db_url)
    add_user(db_url, "acme", "subject", subject=a)
    add_user(db_url, "rita", "reviewer", dept="development_reform")
    key = add_client(db_url, dept="tax")
    # A department and a reviewer read company A's non-public information.
    a_id = _subject_id(db_url, a)
    dept_read = app_client.get(f"/api/v1/test-records/admin_enforcement/{a}",
                               headers={"X-API-Key": key, "X-Purpose": "fiscal_support"})
    assert dept_read.status_code == 200, dept_read.text
    assert dept_read.json() == {"kind": "client", "purpose": "fiscal_support", "subject_id": a_id}
    assert login(app_client, "rita").status_code == 303
    read = app_client.get(f"/api/v1/test-internal/{a}", params={"purpose": "repair_review",
                                                                "purpose_text": "修复申请第7号"})
    assert read.status_code == 200, read.text
    assert read.json() == {"role": "reviewer", "purpose": "repair_review", "subject_id": a_id}
    assert _err(app_client.get("/api/v1/me/access-history"), 403)["code"] == "role_forbidden"
    app_client.cookies.clear()

    assert login(app_client, "acme").status_code == 303
    own = app_client.get(OWN)
    assert own.status_code == 200, own.text
    assert own.json() == {"subject_id": a_id, "actor_subject_id": a_id}  # its own file, never another's
    # Its own record, with the self-query purpose filled in; never another subject's.
    r = app_client.get(f"/api/v1/test-records/admin_enforcement/{a}")
    assert _err(r, 403)["code"] == "disclosure_forbidden"  # government class: not the subject's to read
    assert _err(app_client.get(f"/api/v1/test-internal/{a}"), 403)["code"] == "role_forbidden"
    history = app_client.get("/api/v1/me/access-history").json()
    assert history["total"] == 2
    newest, oldest = history["items"]
    assert newest["department"] == "佛山市发展和改革局" and newest["role_label"] == "信用办审核人员"
    assert newest["purpose"] == "信用修复审核" and newest["purpose_text"] == "修复申请第7号"
    assert newest["channel"] == "工作人员"
    assert oldest["department"] == "国家税务总局佛山市税务局" and oldest["channel"] == "部门接口"
    assert oldest["resources"] == [{"code": "admin_enforcement", "name": "行政强制信息"}]
    assert oldest["purpose"] == "财政资金支持"
    assert "rita" not in json.dumps(history, ensure_ascii=False)
    # Its own reads are not "someone looked at me".
    assert all(i["role"] != "subject" for i in history["items"])
    self_reads = _events(db_url, "subject.read")
    assert self_reads[-1].purpose_code == "self_query" and self_reads[-1].role == "subject"


def test_subject_account_cannot_read_another_subject(app_client, db_url, monkeypatch):
    seed(db_url)
    a, b = _companies(db_url)
    monkeypatch.setitem(ROUTE_POLICY, ("GET", "/api/v1/test-subject-file/{code}"), allow("subject", "admin"))
    app = app_client.app

    @app.get("/api/v1/test-subject-file/{code}")
    def subject_file(code: str, actor: Annotated[Actor, Depends(require_access(
            disclosure="subject", subject_param="code", action="subject.read"))]):
        return {"actor_subject_id": actor.subject_id, "role": actor.role}

    from xinyong.subjects.models import Subject

    with session_scope(db_url) as s:
        own_id = s.scalar(select(Subject.id).where(Subject.uscc == a))
    add_user(db_url, "acme", "subject", subject=a)
    assert login(app_client, "acme").status_code == 303
    own = app_client.get(f"/api/v1/test-subject-file/{a}")
    assert own.status_code == 200, own.text
    assert own.json() == {"actor_subject_id": own_id, "role": "subject"}  # bound to its own subject
    assert _err(app_client.get(f"/api/v1/test-subject-file/{b}"), 403)["code"] == "not_own_subject"
    assert _err(app_client.get(f"/api/v1/test-subject-file/{a}", params={"purpose": "bidding"}),
                403)["code"] == "purpose_not_allowed"


def test_clients_cli(db_url):
    assert runner.invoke(cli, ["init"]).exit_code == 0
    res = runner.invoke(cli, ["clients", "add", "--dept", "tax", "--name", "税务局征管系统", "--scope",
                              "tax_credit_ratings", "--scope", "admin_enforcement", "--rate-limit", "30",
                              "--expires-days", "90", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["api_key"].startswith(f"xy_{out['id']}_") and out["status"] == "active"
    assert out["resources"] == ["admin_enforcement", "tax_credit_ratings"] and out["rate_limit"] == 30
    listed = runner.invoke(cli, ["clients", "list", "--json"]).output
    assert out["api_key"] not in listed and json.loads(listed)[0]["name"] == "税务局征管系统"
    assert "接口客户端（1 个）" in runner.invoke(cli, ["clients", "list"]).output
    res = runner.invoke(cli, ["clients", "add", "--dept", "tax", "--name", "x", "--disclosure", "internal", "--json"])
    assert res.exit_code == 1 and json.loads(res.output)["error"]["code"] == "invalid_disclosure"
    res = runner.invoke(cli, ["clients", "add", "--dept", "tax", "--name", "x", "--scope", "no_such", "--json"])
    assert json.loads(res.output)["error"]["code"] == "unknown_resource"
    res = runner.invoke(cli, ["clients", "add", "--dept", "nowhere", "--name", "x", "--json"])
    assert json.loads(res.output)["error"]["code"] == "department_not_found"
    res = runner.invoke(cli, ["clients", "revoke", "999", "--json"])
    assert res.exit_code == 1 and json.loads(res.output)["error"]["code"] == "client_not_found"
    with session_scope(db_url) as s:
        stored = s.scalar(select(ApiClient))
        row = json.dumps({c.key: str(getattr(stored, c.key)) for c in ApiClient.__table__.columns})
    secret = out["api_key"].split("_", 2)[2]
    assert stored.key_hash == hashlib.sha256(secret.encode()).hexdigest()  # what a presented key is checked against
    assert secret not in row  # the secret itself is kept nowhere
