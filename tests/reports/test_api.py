"""Report routes over HTTP. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from xinyong.audit.service import access_history
from xinyong.db.engine import session_scope
from xinyong.reports.keys import KeySet
from xinyong.reports.verify import verify_bytes
from xinyong.subjects.service import resolve_subject

from ..accounts.conftest import add_client, add_user, login
from .conftest import COMPANY, build_city


@pytest.fixture
def web(db_url, monkeypatch):
    monkeypatch.setenv("XINYONG_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("XINYONG_ARGON2_MEMORY_COST", "8")
    monkeypatch.setenv("XINYONG_ARGON2_PARALLELISM", "1")
    city = build_city(db_url)
    from xinyong.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c, city


def test_public_download_in_every_format_and_verify_page(web):
    client, city = web
    keys = KeySet.from_dict(client.get("/.well-known/xinyong-report-keys.json").json())
    pdf = client.get(f"/subjects/{city.uscc}/report.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    number = pdf.headers["x-report-number"]
    assert number.startswith("XY") and verify_bytes(pdf.content, keys).ok
    js = client.get(f"/subjects/{city.uscc}/report.json")
    assert js.json()["report"]["number"] == number and verify_bytes(js.content, keys).ok
    page = client.get(f"/subjects/{city.uscc}/report.html")
    assert page.status_code == 200 and COMPANY in page.text and number in page.text
    assert all(d in page.text for d in city.public_decisions) and city.private_document not in page.text
    verify = client.get(f"/verify/{number}")
    assert verify.status_code == 200 and "真实有效，且为最新版本" in verify.text and COMPANY in verify.text
    status = client.get(f"/verify/{number}", params={"format": "json"}).json()
    assert status["authentic"] and status["current"]
    assert "sha256:" + status["content_hash"] == js.json()["signature"]["hash"]
    scenario = client.get(f"/subjects/{city.uscc}/report.json", params={"scenario": "bidding"})
    assert scenario.json()["report"]["scenario"]["code"] == "bidding"


def test_bad_requests_explain_in_chinese(web):
    client, city = web
    bad_fmt = client.get(f"/subjects/{city.uscc}/report.docx")
    assert bad_fmt.status_code == 422 and "pdf、html、json" in bad_fmt.json()["error"]["message"]
    assert client.get("/subjects/91440604000000000X/report.pdf").status_code in (404, 422)
    # A natural person's existence is not public: no public report by ID number.
    person = client.get(f"/subjects/{city.person_id}/report.pdf")
    assert person.status_code == 404 and city.person_id not in person.text
    bad_scenario = client.get(f"/subjects/{city.uscc}/report.json", params={"scenario": "lottery"})
    assert bad_scenario.status_code == 422 and "bidding" in bad_scenario.json()["error"]["message"]
    missing = client.get("/verify/XY20260101AAAAAAAAAA")
    assert missing.status_code == 404 and "不是本平台出具" in missing.text
    html_error = client.get("/subjects/91440604000000000X/report.html")
    assert html_error.headers["content-type"].startswith("text/html")


def test_own_full_report_for_the_subject_account(web, db_url):
    client, city = web
    add_user(db_url, "hengtai", "subject", subject=city.uscc)
    assert client.get("/me/report.pdf", follow_redirects=False).status_code == 303  # sign in first
    assert login(client, "hengtai").status_code == 303
    full = client.get("/me/report.json")
    assert full.status_code == 200 and full.headers["cache-control"].startswith("private")
    report = full.json()["report"]
    assert report["kind"] == "full" and "access_history" in report
    assert city.private_document in full.text and city.rep_id not in full.text
    page = client.get("/me/report.html")
    assert page.status_code == 200 and "查询记录" in page.text


def test_department_api_is_audited_with_purpose(web, db_url):
    client, city = web
    key = add_client(db_url, dept="tax", role="dept_querier")
    auth = {"Authorization": f"Bearer {key}"}
    no_purpose = client.post("/api/v1/reports", json={"subject": city.uscc}, headers=auth)
    assert no_purpose.status_code == 403 and no_purpose.json()["error"]["code"] == "purpose_required"
    headers = {**auth, "X-Purpose": "routine_supervision", "X-Purpose-Text": "2026%E5%B9%B4%E6%8A%BD%E6%9F%A5"}
    ok = client.post("/api/v1/reports", json={"subject": city.uscc, "kind": "scenario", "scenario": "procurement"},
                     headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["report"]["scenario"]["code"] == "procurement"
    pdf = client.post("/api/v1/reports", json={"subject": city.uscc, "format": "pdf"}, headers=headers)
    assert pdf.headers["content-type"] == "application/pdf"
    full = client.post("/api/v1/reports", json={"subject": city.uscc, "kind": "full"}, headers=headers)
    assert full.status_code == 403 and full.json()["error"]["code"] == "report_kind_forbidden"
    with session_scope(db_url) as s:
        subject = resolve_subject(s, city.uscc)
        history = access_history(s, subject.id)
    reads = [i for i in history["items"] if i["action"] == "report.read"]
    assert len(reads) == 2 and all(i["purpose_code"] == "routine_supervision" for i in reads)
    assert "抽查" in reads[0]["purpose_text"]
    anonymous = client.post("/api/v1/reports", json={"subject": city.uscc})
    assert anonymous.status_code == 401
