"""No password, API key, session token, TOTP secret or citizen ID in clear: not in any table,
not in the SQLite files, not in logs, not in API responses."""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from xinyong.accounts.access import require_access
from xinyong.accounts.actor import Actor
from xinyong.accounts.policy import ROUTE_POLICY, allow
from xinyong.accounts.service import totp_now
from xinyong.app import create_app
from xinyong.cli import app as cli
from xinyong.db.engine import dispose_all, get_engine, session_scope
from xinyong.identity.codes import generate_citizen_id, generate_uscc
from xinyong.subjects.service import SubjectIn, upsert_subjects

from .conftest import login

runner = CliRunner()
ADMIN_PASSWORD = "Zhong-Wen-Mi-Ma-2026!"


def _all_table_text(url: str) -> str:
    engine = get_engine(url)
    chunks = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            if engine.dialect.name == "postgresql":
                rows = conn.execute(text(f'SELECT t::text FROM "{table}" t'))
            else:
                cols = [c["name"] for c in inspect(engine).get_columns(table)]
                expr = " || '|' || ".join(f'quote("{c}")' for c in cols)
                rows = conn.execute(text(f'SELECT {expr} FROM "{table}"'))
            chunks.extend(str(r[0]) for r in rows)
    return "\n".join(chunks)


def _cli_json(args, stdin=None):
    res = runner.invoke(cli, args, input=stdin)
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def _app(monkeypatch):
    """The application plus one route that reads non-public information through require_access."""
    app = create_app()

    @app.get("/api/v1/test-file/{code}")
    def read(code: str, actor: Annotated[Actor, Depends(require_access(resource="admin_enforcement",
                                                                       subject_param="code"))]):
        return {"ok": True}

    monkeypatch.setitem(ROUTE_POLICY, ("GET", "/api/v1/test-file/{code}"), allow("dept_querier", "subject"))
    return app


def test_no_secret_in_clear_anywhere(db_url, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    assert runner.invoke(cli, ["init"]).exit_code == 0
    rng = random.Random(2024)
    cid = generate_citizen_id(rng)
    uscc = generate_uscc(rng, region="440604")
    with session_scope(db_url) as s:
        upsert_subjects(s, [SubjectIn(kind="natural_person", name="李雷", citizen_id=cid),
                            SubjectIn(kind="legal_entity", org_type="enterprise", name="佛山市清白有限公司",
                                      uscc=uscc)])

    _cli_json(["users", "add", "root", "--role", "admin", "--password-stdin", "--json"], ADMIN_PASSWORD + "\n")
    staff = _cli_json(["users", "add", "staff", "--role", "reviewer", "--totp", "--json"])
    person = _cli_json(["users", "add", "lilei", "--role", "subject", "--subject", cid, "--json"])
    reset = _cli_json(["users", "reset-password", "lilei", "--json"])
    key = _cli_json(["clients", "add", "--dept", "tax", "--name", "征管系统", "--json"])["api_key"]
    totp_secret = staff["totp_uri"].split("secret=")[1].split("&")[0]
    secrets = {"admin password": ADMIN_PASSWORD, "staff password": staff["password"],
               "first person password": person["password"], "person password": reset["password"],
               "api key": key, "api key secret": key.split("_", 2)[2], "totp secret": totp_secret,
               "citizen id": cid}

    responses = []
    with TestClient(_app(monkeypatch), raise_server_exceptions=False) as web:
        # Wrong passwords, a password typed into the username box, then real logins.
        login(web, "root", "Not-the-password-1")
        login(web, ADMIN_PASSWORD, ADMIN_PASSWORD)
        r = login(web, "root", ADMIN_PASSWORD)
        assert r.status_code == 303
        secrets["admin session token"] = web.cookies.get("xy_session")
        responses += [web.get("/me"), web.get("/api/v1/me")]
        web.cookies.clear()
        assert login(web, "staff", staff["password"], totp=totp_now(staff["totp_uri"])).status_code == 303
        web.cookies.clear()
        assert login(web, "lilei", reset["password"]).status_code == 303
        responses += [web.get("/me"), web.get("/api/v1/me")]
        web.cookies.clear()
        # A department declares a purpose whose free text quotes the ID number.
        headers = {"Authorization": f"Bearer {key}", "X-Purpose": "admin_licensing",
                   "X-Purpose-Text": quote(f"核查申请人 {cid} 的许可材料")}
        read = web.get(f"/api/v1/test-file/{cid}", headers=headers)
        assert read.status_code == 200, read.text
        responses += [read, web.get("/api/v1/me", headers=headers), web.get(f"/api/v1/subjects/{cid}", headers=headers),
                      web.get("/api/v1/me", headers={"X-API-Key": key[:-2] + "zz"})]
        assert login(web, "lilei", reset["password"]).status_code == 303
        history = web.get("/api/v1/me/access-history")
        assert history.json()["total"] == 1 and "核查申请人" in history.json()["items"][0]["purpose_text"]
        responses.append(history)

    table_text = _all_table_text(db_url)
    leaked = [name for name, value in secrets.items() if value and (value in table_text or value.lower() in table_text)]
    assert leaked == []
    # The scan saw the columns where these would be: hashes, and the masked ID in the purpose text.
    assert "$argon2id$" in table_text and cid[:4] + "*" * 10 + cid[-4:] in table_text
    if db_url.startswith("sqlite"):
        dispose_all()  # checkpoint the WAL into the file
        path = db_url.removeprefix("sqlite:///")
        raw = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if os.path.exists(p))
        assert [n for n, v in secrets.items() if v and v.encode() in raw] == []
    body = "\n".join(r.text for r in responses)
    assert [n for n, v in secrets.items() if v and v in body] == []
    logs = "\n".join(rec.getMessage() for rec in caplog.records if not rec.name.startswith("httpx"))
    assert [n for n, v in secrets.items() if v and v in logs] == []
