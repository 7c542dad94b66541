"""Console, notices and subject self-service on SQLite and PostgreSQL (fresh databases)."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from sqlalchemy import select

from tests.accounts.conftest import add_user, csrf_from, login, seed
from xinyong.db.engine import session_scope
from xinyong.intake.models import Record

AS_OF = date(2026, 11, 1)


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch):
    monkeypatch.setenv("XINYONG_ARGON2_TIME_COST", "1")
    monkeypatch.setenv("XINYONG_ARGON2_MEMORY_COST", "8")
    monkeypatch.setenv("XINYONG_ARGON2_PARALLELISM", "1")
    monkeypatch.setenv("XINYONG_TODAY", AS_OF.isoformat())
    from xinyong.config import reset_settings

    reset_settings()


@pytest.fixture(scope="module")
def small_city(tmp_path_factory):
    from xinyong.synthetic.generator import generate_city

    out = tmp_path_factory.mktemp("console-city")
    generate_city(out, n_subjects=40, seed=11, as_of=AS_OF)
    return out


def _penalty_file(city):
    manifest = json.loads((city / "manifest.json").read_text())
    return next(e for e in manifest["files"] if e["resource"] == "admin_penalty" and e["path"].endswith(".csv"))


def test_upload_history_errors_and_withdrawal(db_url, client, small_city):
    from xinyong.synthetic.load import load_city

    seed(db_url)
    load_city(small_city, url=db_url)
    entry = _penalty_file(small_city)
    add_user(db_url, "sub-1", "dept_submitter", dept=entry["department"])
    add_user(db_url, "query-1", "dept_querier", dept="tax")
    assert login(client, "sub-1", next_url="/console").status_code == 303
    form = client.get("/console/upload")
    assert form.status_code == 200 and "上传数据" in form.text
    token = csrf_from(form.text)
    path = small_city / entry["path"]
    # A wrong file type is explained, nothing is stored.
    bad = client.post("/console/upload", data={"csrf_token": token, "resource": "admin_penalty"},
                      files={"file": ("notes.exe", b"MZ", "application/octet-stream")})
    assert bad.status_code == 400 and "不支持的文件类型" in bad.text
    r = client.post("/console/upload", data={"csrf_token": token, "resource": "admin_penalty"},
                    files={"file": (path.name, path.read_bytes(), "text/csv")}, follow_redirects=False)
    assert r.status_code == 303, r.text
    batch_page = client.get(r.headers["location"])
    assert batch_page.status_code == 200 and "文件已处理" in batch_page.text
    # Re-submitting the same file changes nothing.
    again = client.post("/console/upload", data={"csrf_token": token, "resource": "admin_penalty"},
                        files={"file": (path.name, path.read_bytes(), "text/csv")})
    assert again.status_code == 200 and "新增 0" in again.text
    history = client.get("/console/batches")
    assert history.status_code == 200 and history.text.count(path.name) == 2

    with session_scope(db_url) as s:
        rec = s.scalar(select(Record).where(Record.resource == "admin_penalty").order_by(Record.id))
        rid, subject_id = rec.id, rec.subject_id
    records = client.get("/console/records", params={"resource": "admin_penalty"})
    assert f'data-record-id="{rid}"' in records.text
    token = csrf_from(records.text)
    no_reason = client.post(f"/console/records/{rid}/withdraw", data={"csrf_token": token, "reason": ""})
    assert no_reason.status_code == 400 and "理由" in no_reason.text
    done = client.post(f"/console/records/{rid}/withdraw", data={"csrf_token": token, "reason": "处罚决定已依法撤销"},
                       follow_redirects=False)
    assert done.status_code == 303
    with session_scope(db_url) as s:
        assert s.get(Record, rid).status == "withdrawn"
    profile = client.get(f"/subjects/s-{subject_id}")
    assert f'data-record-id="{rid}"' not in profile.text

    # Another department's staff see neither this batch nor these records.
    client.post("/logout", data={"csrf_token": token})
    assert login(client, "query-1", next_url="/console").status_code == 303
    assert path.name not in client.get("/console/batches").text
    assert f'data-record-id="{rid}"' not in client.get("/console/records").text
    batch_id = r.headers["location"].split("/")[-1].split("?")[0]
    assert client.get(f"/console/batches/{batch_id}").status_code == 403
    assert client.get("/console/upload").status_code == 403


def test_notices_are_sanitised_markdown(db_url, client):
    seed(db_url)
    add_user(db_url, "admin-1", "admin")
    assert login(client, "admin-1", next_url="/console/notices").status_code == 303
    token = csrf_from(client.get("/console/notices/new").text)
    body = "# 信用修复指南\n\n**第一步**：登录。<script>alert(1)</script>\n\n[链接](javascript:alert(1)) [官网](https://example.org)"
    bad = client.post("/console/notices", data={"csrf_token": token, "slug": "Bad Slug!", "title": "", "body": body})
    assert bad.status_code == 400 and "网址标识" in bad.text and "标题不能为空" in bad.text
    r = client.post("/console/notices", data={"csrf_token": token, "slug": "repair-guide", "title": "信用修复指南",
                                              "body": body, "kind": "policy", "published": "1"}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/notices/repair-guide")
    assert page.status_code == 200 and "<strong>第一步</strong>" in page.text
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    assert 'href="javascript:' not in page.text
    assert 'href="https://example.org"' in page.text
    assert "信用修复指南" in client.get("/notices").text and "信用修复指南" in client.get("/").text
    # Unpublishing takes it off the public site.
    with session_scope(db_url) as s:
        from xinyong.portal.models import Notice

        nid = s.scalar(select(Notice.id))
    client.post(f"/console/notices/{nid}", data={"csrf_token": token, "slug": "repair-guide", "title": "信用修复指南",
                                                 "body": body, "kind": "policy"})
    assert client.get("/notices/repair-guide").status_code == 404


def test_my_file_and_access_history(db_url, client, small_city):
    from xinyong.db.engine import get_engine
    from xinyong.intake.service import ingest_city
    from xinyong.publication import public_record_clause
    from xinyong.subjects.models import Subject

    seed(db_url)
    from xinyong.synthetic.load import load_city

    load_city(small_city, url=db_url)
    ingest_city(get_engine(db_url), small_city)
    with session_scope(db_url) as s:
        # A subject with at least one record the public does not see.
        row = s.execute(select(Subject.uscc, Record.id).join(Subject, Subject.id == Record.subject_id)
                        .where(Subject.uscc.is_not(None), ~public_record_clause(AS_OF)).limit(1)).one()
    uscc, hidden_id = row
    add_user(db_url, "ent-1", "subject", subject=uscc)
    assert client.get("/me/file", follow_redirects=False).status_code == 303  # anonymous → login
    assert login(client, "ent-1", next_url="/me/file").status_code == 303
    mine = client.get("/me/file")
    assert mine.status_code == 200 and f'data-record-id="{hidden_id}"' in mine.text
    assert mine.headers["cache-control"] == "no-store"
    hist = client.get("/me/access-history")
    assert hist.status_code == 200 and "谁查询过我的信息" in hist.text
    me = client.get("/me")
    assert me.status_code == 200
    # Every self-service link on the account page leads somewhere real.
    links = re.findall(r'<a href="(/me/[^"]+)"', me.text)
    assert {"/me/file", "/me/access-history", "/me/report.pdf", "/me/inbox"} <= set(links)
    for href in links:
        assert client.get(href).status_code == 200, href
