"""Department queries and the feed over HTTP: clearance, scopes, purpose, audit, paging."""

from __future__ import annotations

import random
from datetime import date

from sqlalchemy import func, select

from xinyong.audit.models import AuditEvent
from xinyong.db.engine import session_scope
from xinyong.identity.codes import generate_citizen_id, mask_citizen_id
from xinyong.intake.service import ingest_rows

from .conftest import add_client, headers, penalty, seed_platform, usccs


def _natural_person_row(cid: str) -> dict:
    return {"subject_name": "张三", "subject_category": "自然人", "id_type": "身份证", "id_no": cid,
            "decision_no": "佛市监罚〔2026〕900号", "violation_type": "无证经营", "violation_facts": "经查，当事人无证经营。",
            "legal_basis": "《无证无照经营查处办法》第十三条", "penalty_category": "罚款", "penalty_content": "罚款五千元",
            "fine_amount": "5000", "decision_date": "2026-01-10", "valid_until": "2029-01-10",
            "authority": "佛山市市场监督管理局", "authority_uscc": "11440600862729575F",
            "source_department": "佛山市市场监督管理局", "source_department_uscc": "11440600862729575F"}


def test_subject_file_needs_purpose_is_audited_and_masks_personal_data(client, db_url):
    codes = seed_platform(db_url, companies=2)
    key = add_client(db_url)
    r = client.get(f"/api/v1/exchange/subjects/{codes[0]}", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code in (400, 403) and "事由" in r.json()["error"]["message"]
    r = client.get(f"/api/v1/exchange/subjects/{codes[0]}", headers=headers(key))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["subject"]["uscc"] == codes[0] and body["record_count"] == 2
    assert {rec["resource"] for rec in body["records"]} == {"admin_penalty"}
    with session_scope(db_url) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "exchange.subject_query")).all()
        assert len(ev) == 1 and ev[0].purpose_code == "routine_supervision" and ev[0].subject_id is not None
    # A natural person's ID number never leaves in clear.
    cid = generate_citizen_id(random.Random(3), region="440604", birth_from=date(1980, 1, 1), birth_to=date(1990, 1, 1))
    with session_scope(db_url) as s:
        res = ingest_rows(s, [_natural_person_row(cid)], "admin_penalty", "market_regulation", today=date(2026, 11, 1))
        assert res.rows_rejected == 0, res.errors
    r = client.get(f"/api/v1/exchange/subjects/{cid}", headers=headers(key))
    assert r.status_code == 200, r.text
    assert cid not in r.text and mask_citizen_id(cid) in r.text
    r = client.get("/api/v1/changes", headers=headers(key))
    assert r.status_code == 200 and cid not in r.text


def test_records_by_resource_page_with_dates_and_scope(client, db_url):
    codes = seed_platform(db_url, companies=3, per_company=1)
    with session_scope(db_url) as s:
        ingest_rows(s, [penalty(500, codes[0], decided="2026-06-01")], "admin_penalty", "market_regulation",
                    today=date(2026, 11, 1))
    key = add_client(db_url)
    seen, cursor = [], None
    while True:
        r = client.get("/api/v1/exchange/records/admin_penalty", headers=headers(key),
                       params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        seen += [x["id"] for x in r.json()["records"]]
        if not r.json()["has_more"]:
            break
        cursor = r.json()["next_cursor"]
    assert len(seen) == 4 == len(set(seen))
    with session_scope(db_url) as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "exchange.records")).all()
        assert len(ev) == 2 and all(e.purpose_code == "routine_supervision" for e in ev)
    r = client.get("/api/v1/exchange/records/admin_penalty", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code in (400, 403) and "事由" in r.json()["error"]["message"]
    r = client.get("/api/v1/exchange/records/admin_penalty", headers=headers(key),
                   params={"from": "2026-05-01", "to": "2026-12-31"})
    assert [x["data"]["decision_no"] for x in r.json()["records"]] == ["佛市监罚〔2026〕500号"]
    scoped = add_client(db_url, name="许可系统", resources=["admin_license"])
    r = client.get("/api/v1/exchange/records/admin_penalty", headers=headers(scoped))
    assert r.status_code == 403 and "授权" in r.json()["error"]["message"]
    r = client.get("/api/v1/exchange/records/admin_penalty", headers=headers(key), params={"cursor": "garbage!"})
    assert r.status_code in (400, 422)


def test_batch_lookup_keyed_by_client_ids(client, db_url):
    codes = seed_platform(db_url, companies=3, per_company=1)
    key = add_client(db_url)
    unknown = usccs(1, seed=12345)[0]
    items = [{"id": f"q{i}", "identifier": c} for i, c in enumerate(codes)]
    items += [{"id": "missing", "identifier": unknown}, {"id": "bad", "identifier": "91440604MA4UJ3TL0Y"},
              {"id": "junk", "identifier": "!!"}]
    r = client.post("/api/v1/exchange/lookup", headers=headers(key), json={"items": items})
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert list(res) == [i["id"] for i in items]
    assert all(res[f"q{i}"]["status"] == "found" and res[f"q{i}"]["subject"]["uscc"] == c for i, c in enumerate(codes))
    assert res["missing"]["status"] == "not_found" and res["junk"]["status"] == "invalid"
    assert res["bad"]["status"] in ("invalid", "not_found")
    with session_scope(db_url) as s:
        n = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "exchange.lookup"))
        assert n == 3
    too_many = [{"id": str(i), "identifier": codes[0]} for i in range(1001)]
    r = client.post("/api/v1/exchange/lookup", headers=headers(key), json={"items": too_many})
    assert r.status_code in (400, 422) and "1000" in r.json()["error"]["message"]
    r = client.post("/api/v1/exchange/lookup", headers=headers(key),
                    json={"items": [{"id": "a", "identifier": codes[0]}, {"id": "a", "identifier": codes[1]}]})
    assert r.status_code in (400, 422) and "重复" in r.json()["error"]["message"]


def test_changes_endpoint_pages_and_rejects_public_and_anonymous(client, db_url):
    seed_platform(db_url, companies=3, per_company=2)
    key = add_client(db_url)
    r = client.get("/api/v1/changes")
    assert r.status_code == 401
    submitter = add_client(db_url, name="报送系统", role="dept_submitter")
    assert client.get("/api/v1/changes", headers=headers(submitter)).status_code == 403
    got, cursor = [], ""
    for _ in range(10):
        r = client.get("/api/v1/changes", headers=headers(key), params={"since": cursor, "limit": 4})
        assert r.status_code == 200, r.text
        got += [c["seq"] for c in r.json()["changes"]]
        cursor = r.json()["next_cursor"]
        if not r.json()["has_more"]:
            break
    assert got == [1, 2, 3, 4, 5, 6]
    again = client.get("/api/v1/changes", headers=headers(key), params={"since": cursor}).json()
    assert again["changes"] == [] and again["next_cursor"] == cursor
    r = client.get("/api/v1/changes", headers=headers(key), params={"resources": "admin_license"})
    assert r.status_code == 200 and r.json()["changes"] == []
    assert client.get("/api/v1/changes", headers=headers(key), params={"since": "nope"}).status_code in (400, 422)
