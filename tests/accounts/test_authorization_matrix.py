"""Every route of the application × every role, against the one declared policy table.

A route added without an entry in ``xinyong.accounts.policy.ROUTE_POLICY`` fails here (and is
refused at run time); an entry whose route no longer exists fails here too.
"""

from __future__ import annotations

import random
import re

from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from xinyong.accounts.policy import ROUTE_POLICY, allow, rule_for
from xinyong.accounts.roles import PUBLIC, USER_ROLES
from xinyong.app import create_app
from xinyong.db.engine import session_scope
from xinyong.identity.codes import generate_uscc
from xinyong.subjects.service import SubjectIn, upsert_subjects

from .conftest import add_client, add_user, csrf_from, login, seed

DENY_CODES = {"auth_required", "role_forbidden", "route_policy_missing"}
_DATA_CODE = re.compile(r'data-code="([a-z_]+)"')
PURPOSE = {"X-Purpose": "routine_supervision"}


def _routes(app):
    out = []
    for ctx in iter_route_contexts(app.routes):
        for method in sorted((ctx.methods or {"GET"}) - {"HEAD"}):
            out.append((method, ctx.path, isinstance(ctx.original_route, APIRoute)))
    # Logging out ends the session the later requests need: do it last.
    return sorted(out, key=lambda r: r[:2] == ("POST", "/logout"))


def _denied(resp) -> bool:
    if resp.status_code == 303:
        return resp.headers["location"].startswith("/login?next=")
    if resp.status_code not in (401, 403):
        return False
    if resp.headers.get("content-type", "").startswith("application/json"):
        return resp.json()["error"]["code"] in DENY_CODES
    m = _DATA_CODE.search(resp.text)
    return bool(m and m.group(1) in DENY_CODES)


def test_every_route_has_a_policy_and_every_policy_a_route(settings_env):
    app = create_app()
    routes = _routes(app)
    missing = [f"{m} {p}" for m, p, _ in routes if rule_for(m, p) is None]
    assert missing == [], f"add these routes to ROUTE_POLICY: {missing}"
    stale = sorted(set(ROUTE_POLICY) - {(m, p) for m, p, _ in routes})
    assert stale == [], f"ROUTE_POLICY names routes that do not exist: {stale}"
    # Routes outside FastAPI's dependency system cannot be guarded: they must be public.
    unguarded = [f"{m} {p}" for m, p, is_api in routes if not is_api and PUBLIC not in rule_for(m, p).roles]
    assert unguarded == []


def _actors(db_url, app):
    """(label, role, TestClient with its credentials, CSRF token for unsafe requests)."""
    seed(db_url)
    uscc = generate_uscc(random.Random(5), region="440604")
    with session_scope(db_url) as s:
        upsert_subjects(s, [SubjectIn(kind="legal_entity", org_type="enterprise", name="佛山市矩阵测试有限公司",
                                      uscc=uscc)])
    out = []
    anon = TestClient(app, raise_server_exceptions=False)
    out.append(("anonymous", PUBLIC, anon, csrf_from(anon.get("/login").text)))
    for role in USER_ROLES:
        dept = "market_regulation" if role.startswith("dept_") else None
        add_user(db_url, f"m-{role.replace('_', '-')}", role, dept=dept, subject=uscc if role == "subject" else None)
        c = TestClient(app, raise_server_exceptions=False)
        assert login(c, f"m-{role.replace('_', '-')}").status_code == 303
        out.append((f"user:{role}", role, c, csrf_from(c.get("/me").text)))
    for role in ("dept_querier", "dept_submitter"):
        c = TestClient(app, raise_server_exceptions=False)
        c.headers["Authorization"] = f"Bearer {add_client(db_url, role=role)}"
        out.append((f"client:{role}", role, c, None))
    return out


def test_route_role_matrix(db_url):
    from xinyong.accounts.clients import limiter

    app = create_app()
    routes = _routes(app)
    failures, outcomes = [], {True: 0, False: 0}
    for label, role, c, csrf in _actors(db_url, app):
        for method, path, _ in routes:
            url = re.sub(r"\{[^}]+\}", "x", path)
            headers = dict(PURPOSE)
            data = None
            if method != "GET":
                data = {"csrf_token": csrf} if csrf else {}
            limiter.reset()  # this matrix is about roles; client rate limits have their own test
            resp = c.request(method, url, headers=headers, data=data, follow_redirects=False)
            expected_allowed = rule_for(method, path).allows(role)
            outcomes[expected_allowed] += 1
            if _denied(resp) == expected_allowed:
                failures.append(f"{label:22} {method} {path}: got {resp.status_code}, "
                                f"expected {'allowed' if expected_allowed else 'denied'}")
    assert failures == [], "\n".join(failures)
    assert outcomes[True] > 50 and outcomes[False] >= 8, outcomes  # the matrix is not vacuous


def test_route_without_policy_is_refused(db_url, monkeypatch):
    app = create_app()

    @app.get("/api/v1/forgotten")
    def forgotten():
        return {"secret": "data"}

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/forgotten")
        assert r.status_code == 403 and r.json()["error"]["code"] == "route_policy_missing"
        assert "secret" not in r.text
        monkeypatch.setitem(ROUTE_POLICY, ("GET", "/api/v1/forgotten"), allow("admin"))
        assert c.get("/api/v1/forgotten").json()["error"]["code"] == "auth_required"


def test_policy_table_uses_known_roles():
    assert all(r in (*USER_ROLES, PUBLIC) for rule in ROUTE_POLICY.values() for r in rule.roles)
