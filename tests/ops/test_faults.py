"""Faults with real processes and real PostgreSQL: the database connection terminated in the
middle of an intake batch, the server killed (SIGKILL) in the middle of a stream of workflow
writes. Afterwards: no partial batch, no lost acknowledged write, no duplicate, the audit chain
verifies, and the platform serves again without manual repair.

(Killing the intake process itself mid-batch is tests/intake/test_crash.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.conftest import TEST_SECRET
from tests.live import free_port
from tests.ops.test_deploy import _stop, _wait, pg_database  # noqa: F401 - fixture
from tests.workflows.conftest import penalty
from xinyong.accounts.actor import Actor
from xinyong.intake.bulkdata import write_penalty_csv

ROWS = 6_000


def _start(env: dict, port: int, log: Path) -> subprocess.Popen:
    with open(log, "a") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "xinyong.cli", "serve", "--port", str(port)], env=env,
                                stdout=fh, stderr=subprocess.STDOUT)
    _wait(f"http://127.0.0.1:{port}/readyz", proc, log)
    return proc


@contextmanager
def platform_on(url: str, tmp_path: Path):
    """`xinyong init` on an empty PostgreSQL database, a department key, and the server's env
    (also this process's settings while it lasts)."""
    env = {**os.environ, "XINYONG_DATABASE_URL": url, "XINYONG_SECRET_KEY": TEST_SECRET,
           "XINYONG_VAR_DIR": str(tmp_path / "var"), "XINYONG_TODAY": "2026-11-20"}
    subprocess.run([sys.executable, "-m", "xinyong.cli", "init"], env=env, check=True, capture_output=True)
    from xinyong.accounts.clients import create_client
    from xinyong.config import reset_settings
    from xinyong.db.engine import dispose_all, session_scope

    old = {k: os.environ.get(k) for k in ("XINYONG_DATABASE_URL", "XINYONG_SECRET_KEY", "XINYONG_VAR_DIR")}
    os.environ.update({k: env[k] for k in old})
    reset_settings()
    try:
        with session_scope(url) as s:
            key = create_client(s, Actor.cli("pytest"), department="market_regulation", name="fault-submitter",
                                role="dept_submitter", rate_limit=100_000).key
        yield env, key
    finally:
        dispose_all()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_settings()


@pytest.fixture
def platform(pg_database, tmp_path):
    with platform_on(pg_database, tmp_path) as p:
        yield p


def _counts(url: str) -> dict:
    eng = create_engine(url, poolclass=NullPool)
    try:
        with eng.connect() as conn:
            return {
                "records": conn.execute(text("SELECT count(*) FROM records")).scalar(),
                "versions": conn.execute(text("SELECT count(*) FROM record_versions")).scalar(),
                "committed": conn.execute(text("SELECT count(*) FROM intake_batches WHERE status='committed'")).scalar(),
                "keys": conn.execute(text("SELECT count(DISTINCT natural_key_hash) FROM records")).scalar(),
            }
    finally:
        eng.dispose()


class ObjectionStream:
    """Members of the public filing objections from several threads until stopped: what was
    acknowledged (201), refused cleanly (503 with the JSON error), lost in transport (the server
    went away: no answer, so not acknowledged) and anything else (a bug)."""

    def __init__(self, base: str, record_ids: list[int], clients: int = 4) -> None:
        self.base, self.record_ids = base, record_ids
        self.acknowledged: list[int] = []
        self.refused: list[str] = []
        self.transport: list[str] = []
        self.other: list[str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(clients)]
        for t in self._threads:
            t.start()

    def _run(self, n: int) -> None:
        with httpx.Client(base_url=self.base, timeout=30) as c:
            i = 0
            while not self._stop.is_set():
                i += 1
                try:
                    r = c.post("/api/v1/objections", json={
                        "record_id": self.record_ids[(n + i) % len(self.record_ids)], "reason": f"第{n}-{i}次：处罚日期有误",
                        "applicant_name": f"申请人{n}", "contact_email": f"a{n}@example.invalid"})
                except httpx.HTTPError as exc:
                    self.transport.append(repr(exc))
                    continue
                if r.status_code == 201:
                    body = r.json()
                    self.acknowledged.append(body.get("id") or body["objection"]["id"])
                elif r.status_code == 503:
                    self.refused.append(r.json()["error"]["message"])
                    time.sleep(0.05)
                else:
                    self.other.append(f"{r.status_code} {r.text[:200]}")

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)


def _chain_ok(url: str) -> bool:
    from xinyong.audit.service import verify_chain
    from xinyong.db.engine import session_scope

    with session_scope(url) as s:
        return verify_chain(s).ok


def test_database_connection_terminated_mid_intake(platform, tmp_path):
    env, key = platform
    url = env["XINYONG_DATABASE_URL"]
    db = make_url(url).database
    path = write_penalty_csv(tmp_path / "p.csv", ROWS)
    port, log = free_port(), tmp_path / "server.log"
    server = _start(env, port, log)
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    outcome: dict = {}

    def upload():
        with open(path, "rb") as fh:
            outcome["r"] = httpx.post(f"http://127.0.0.1:{port}/api/v1/intake/admin_penalty", timeout=300,
                                      files={"file": ("p.csv", fh, "text/csv")},
                                      headers={"Authorization": f"Bearer {key}"})

    try:
        t = threading.Thread(target=upload)
        t.start()
        killed = 0
        with admin.connect() as conn:
            for _ in range(600):  # wait until the batch holds its lock and has been writing a while
                busy = conn.execute(text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = :db "
                    "AND a.xact_start < now() - interval '0.5 second'"), {"db": db}).scalar()
                if busy or not t.is_alive():
                    break
                time.sleep(0.05)
            assert t.is_alive(), "the batch finished before the fault could be injected"
            killed = conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": db}).scalar()
        t.join(timeout=300)
        assert killed >= 1
        r = outcome["r"]
        assert r.status_code == 503, r.text  # the connection was lost: retry later
        body = r.json()["error"]
        assert body["code"] in ("database_unavailable", "internal_error") and body["message"]
        assert _counts(url)["records"] == 0 and _counts(url)["committed"] == 0  # nothing of it kept

        # No manual repair: the same server takes the same file whole, then again changes nothing.
        with open(path, "rb") as fh:
            again = httpx.post(f"http://127.0.0.1:{port}/api/v1/intake/admin_penalty", timeout=300,
                               files={"file": ("p.csv", fh, "text/csv")}, headers={"Authorization": f"Bearer {key}"})
        assert again.status_code == 200, again.text
        assert again.json()["records_created"] == ROWS
        with open(path, "rb") as fh:
            third = httpx.post(f"http://127.0.0.1:{port}/api/v1/intake/admin_penalty", timeout=300,
                               files={"file": ("p.csv", fh, "text/csv")}, headers={"Authorization": f"Bearer {key}"})
        assert third.json()["records_created"] == 0 and third.json()["records_unchanged"] == ROWS
        c = _counts(url)
        assert c["records"] == c["keys"] == c["versions"] == ROWS and c["committed"] == 2
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
    finally:
        admin.dispose()
        _stop(server)
    assert _chain_ok(url)


def test_server_killed_mid_workflow_writes(platform, tmp_path):
    from xinyong.db.engine import session_scope
    from xinyong.identity.codes import generate_uscc
    from xinyong.intake.models import Record
    from xinyong.intake.service import ingest_rows
    from xinyong.workflows.models import Objection

    import random

    env, _key = platform
    url = env["XINYONG_DATABASE_URL"]
    uscc = generate_uscc(random.Random(5), region="440604")
    with session_scope(url) as s:
        ingest_rows(s, [penalty(i, uscc) for i in range(1, 6)], "admin_penalty", "market_regulation")
    with session_scope(url) as s:
        record_ids = s.scalars(select(Record.id)).all()
    port, log = free_port(), tmp_path / "server.log"
    server = _start(env, port, log)
    stream = ObjectionStream(f"http://127.0.0.1:{port}", record_ids, clients=4)
    acknowledged = stream.acknowledged
    try:
        deadline = time.monotonic() + 30
        while len(acknowledged) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.send_signal(signal.SIGKILL)  # no shutdown, no flush: whatever was in flight is lost
        server.wait(timeout=10)
        time.sleep(0.5)
        stream.stop()
        before_restart = list(acknowledged)
        # The server went away: requests in flight got no answer (not acknowledged), none a 5xx.
        assert len(before_restart) >= 20 and not stream.refused and not stream.other, stream.other[:5]
        server = _start(env, port, log)  # no repair step: just start it again
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            r = c.post("/api/v1/objections", json={"record_id": record_ids[0], "reason": "重启后再次提出",
                                                   "applicant_name": "申请人9", "contact_email": "z@example.invalid"})
            assert r.status_code == 201, r.text
    finally:
        stream.stop()
        _stop(server)
    with session_scope(url) as s:
        stored = s.scalars(select(Objection.id)).all()
        assert set(before_restart) <= set(stored)  # every acknowledged write is there
        assert len(before_restart) == len(set(before_restart))  # and none twice
        assert len(stored) <= len(before_restart) + 4 + 1  # at most the in-flight ones besides
        assert s.scalar(select(func.count()).select_from(Objection)) == len(stored)
    assert _chain_ok(url)
