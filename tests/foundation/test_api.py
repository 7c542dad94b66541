"""The HTTP API skeleton: lookups, JSON errors in Chinese, never a 500 for bad input."""

from __future__ import annotations

import random

from xinyong.db.engine import session_scope
from xinyong.departments.service import seed_departments
from xinyong.identity.codes import generate_citizen_id, generate_uscc
from xinyong.subjects.service import SubjectIn, upsert_subjects


def _seed(db_url):
    rng = random.Random(11)
    ent = SubjectIn(kind="legal_entity", org_type="enterprise", name="佛山市南海区瑞丰陶瓷有限公司",
                    uscc=generate_uscc(rng, region="440605"), legal_rep="李四",
                    identifiers={"reg_no": "440605000222333"})
    person = SubjectIn(kind="natural_person", name="王五", citizen_id=generate_citizen_id(rng))
    with session_scope(db_url) as s:
        seed_departments(s)
        upsert_subjects(s, [ent, person])
    return ent, person


def _is_error(resp, status):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] and body["error"]["message"]
    # Every message a user reads is Chinese.
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["error"]["message"])
    return body["error"]


def test_health_and_docs(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/catalogue", "/api/v1/catalogue/{code}", "/api/v1/departments",
                 "/api/v1/subjects/{code}"):
        assert path in spec["paths"], path


def test_subject_lookup_by_codes(client, db_url):
    ent, _ = _seed(db_url)
    for ident in (ent.uscc, ent.uscc.lower(), "440605000222333", ent.uscc[8:17]):
        r = client.get(f"/api/v1/subjects/{ident}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["uscc"] == ent.uscc and body["name"] == ent.name
        assert body["region_name"] == "广东省佛山市南海区"
        assert body["kind_label"] == "法人及非法人组织"


def test_subject_errors(client, db_url):
    ent, person = _seed(db_url)
    wrong = ent.uscc[:-1] + ("0" if ent.uscc[-1] != "0" else "1")
    assert _is_error(client.get(f"/api/v1/subjects/{wrong}"), 422)["code"] == "invalid_uscc"
    assert _is_error(client.get(f"/api/v1/subjects/{generate_uscc(random.Random(99))}"), 404)["code"] == "subject_not_found"
    _is_error(client.get("/api/v1/subjects/%E4%BD%A0%E5%A5%BD"), 422)
    _is_error(client.get("/api/v1/subjects/" + "9" * 65), 422)
    # A person is not a public subject, and the ID never comes back.
    r = client.get(f"/api/v1/subjects/{person.citizen_id}")
    _is_error(r, 404)
    assert person.citizen_id not in r.text
    _is_error(client.get("/api/v1/nowhere"), 404)
    _is_error(client.get("/api/v1/subjects?page=0"), 422)
    _is_error(client.get("/api/v1/subjects?kind=alien"), 422)
    _is_error(client.get("/api/v1/subjects?q=a"), 422)
    _is_error(client.post("/api/v1/departments"), 405)


def test_subject_list(client, db_url):
    ent, _ = _seed(db_url)
    body = client.get("/api/v1/subjects", params={"q": "瑞丰陶瓷"}).json()
    assert body["total"] == 1 and body["items"][0]["uscc"] == ent.uscc
    assert client.get("/api/v1/subjects").json()["total"] == 1  # the person is not listed


def test_departments_and_catalogue(client, db_url):
    _seed(db_url)
    depts = client.get("/api/v1/departments").json()
    assert any(d["name"].endswith("市场监督管理局") for d in depts)
    cat = client.get("/api/v1/catalogue").json()
    codes = {r["code"] for r in cat["resources"]}
    assert {"admin_license", "admin_penalty"} <= codes
    pen = client.get("/api/v1/catalogue/admin_penalty").json()
    assert pen["fields"][0]["label"] == "行政相对人名称"
    assert pen["legal_basis"]
    _is_error(client.get("/api/v1/catalogue/no_such_resource"), 404)


def test_the_heap_is_frozen_again_after_the_first_requests():
    """What a server process builds while serving its first requests and keeps (compiled
    statements, evaluators) leaves the collector's full passes, which paused requests for tens
    of milliseconds; requests after the last settle point add nothing to the frozen heap."""
    import asyncio
    import gc

    from xinyong.app import SettleAfterWarmup

    async def ok(scope, receive, send):
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def noop(message):
        return None

    def serve(mw):
        asyncio.run(mw({"type": "http", "method": "GET", "path": "/"}, None, noop))

    mw = SettleAfterWarmup(ok, at=(2,))
    gc.unfreeze()
    try:
        serve(mw)
        kept = [[i] for i in range(20_000)]  # long-lived objects built by the first requests
        assert gc.get_freeze_count() < len(kept)
        serve(mw)  # the settle point
        frozen = gc.get_freeze_count()
        assert frozen >= len(kept)
        serve(mw)
        assert gc.get_freeze_count() <= frozen and mw.served == 2
    finally:
        gc.unfreeze()
    del kept
