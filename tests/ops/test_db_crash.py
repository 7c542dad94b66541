"""The faults test_faults.py does not cover: the server killed (SIGKILL) in the middle of an
intake upload, and the PostgreSQL server itself crashing (``pg_ctl stop -m immediate``: no
checkpoint, recovery from the WAL on restart) while an intake batch and a stream of workflow
writes are in flight, then coming back — with the platform server left running throughout.

Afterwards: no partial batch, every acknowledged write is there and none twice, the audit chain
verifies, and the same server serves again without a manual step.

The crash runs on a private PostgreSQL cluster made for the test (initdb in a temporary
directory, its own port), so the shared server other tests use is never stopped."""

from __future__ import annotations

import glob
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from tests.live import free_port
from tests.ops.test_deploy import _stop, pg_database  # noqa: F401 - fixture
from tests.ops.test_faults import (ROWS, ObjectionStream, _chain_ok, _counts, _start, platform,  # noqa: F401
                                   platform_on)
from tests.workflows.conftest import penalty
from xinyong.intake.bulkdata import write_penalty_csv


def _pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _batch_underway(url: str) -> bool:
    """An intake batch holds its advisory lock and has been writing for a while."""
    eng = create_engine(url, poolclass=NullPool)
    try:
        with eng.connect() as conn:
            return bool(conn.execute(text(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() "
                "AND a.xact_start < now() - interval '0.5 second'")).scalar())
    finally:
        eng.dispose()


def _upload(port: int, key: str, path: Path, timeout: float = 300) -> httpx.Response:
    with open(path, "rb") as fh:
        return httpx.post(f"http://127.0.0.1:{port}/api/v1/intake/admin_penalty", timeout=timeout,
                          files={"file": ("p.csv", fh, "text/csv")}, headers={"Authorization": f"Bearer {key}"})


def _wait_for(cond, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_server_killed_mid_intake_upload(platform, tmp_path):
    env, key = platform
    url = env["XINYONG_DATABASE_URL"]
    path = write_penalty_csv(tmp_path / "p.csv", ROWS)
    port, log = free_port(), tmp_path / "server.log"
    server = _start(env, port, log)
    outcome: dict = {}

    def upload():
        try:
            outcome["r"] = _upload(port, key, path)
        except httpx.HTTPError as exc:  # the server died under the request: no acknowledgement
            outcome["error"] = exc

    try:
        t = threading.Thread(target=upload)
        t.start()
        _wait_for(lambda: _batch_underway(url) or not t.is_alive(), "the batch to start writing")
        assert t.is_alive(), "the batch finished before the fault could be injected"
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        t.join(timeout=60)
        assert "error" in outcome and "r" not in outcome  # never acknowledged
        # PostgreSQL sees the client gone and rolls the batch back; nothing of it is kept.
        _wait_for(lambda: not _batch_underway(url), "the dead batch's transaction to end")
        c = _counts(url)
        assert (c["records"], c["versions"], c["committed"]) == (0, 0, 0), c

        server = _start(env, port, log)  # no repair step: just start it again
        again = _upload(port, key, path)
        assert again.status_code == 200, again.text
        assert again.json()["records_created"] == ROWS and again.json()["rows_rejected"] == 0
        third = _upload(port, key, path)
        assert third.json()["records_created"] == 0 and third.json()["records_unchanged"] == ROWS
    finally:
        _stop(server)
    c = _counts(url)
    assert c["records"] == c["keys"] == c["versions"] == ROWS and c["committed"] == 2
    assert _chain_ok(url)


# --- a private PostgreSQL cluster that the test may crash -----------------------------------------

class Cluster:
    def __init__(self, bindir: Path, root: Path, port: int):
        self.bindir, self.root, self.port = bindir, root, port
        self.data, self.log = root / "data", root / "postgres.log"
        self.as_postgres = os.geteuid() == 0  # PostgreSQL refuses to run as root

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=120)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C",
                  "--no-sync")

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=60"
        r = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start",
                      check=False)
        assert r.returncode == 0, f"{r.stdout}{r.stderr}\n{self.log.read_text()[-2000:]}"

    def crash(self) -> None:
        # Immediate shutdown: every backend killed, no checkpoint; the next start replays the WAL.
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture
def cluster():
    bindir = _pg_bindir()
    if bindir is None:
        msg = "PostgreSQL server binaries not found under /usr/lib/postgresql"
        pytest.fail(msg) if os.environ.get("XINYONG_REQUIRE_PG") == "1" else pytest.skip(msg)
    root = Path(tempfile.mkdtemp(prefix="xinyong-pgcrash-"))
    c = Cluster(bindir, root, free_port())
    if c.as_postgres:
        shutil.chown(root, "postgres", "postgres")
    try:
        c.init()
        c.start()
        admin = create_engine(c.url("postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            conn.execute(text('CREATE DATABASE "xinyong"'))
        admin.dispose()
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_postgresql_crash_and_restart_mid_intake_and_mid_workflow(cluster, tmp_path):
    from xinyong.db.engine import dispose_all, session_scope
    from xinyong.identity.codes import generate_uscc
    from xinyong.intake.models import Record
    from xinyong.intake.service import ingest_rows
    from xinyong.workflows.models import Objection

    url = cluster.url("xinyong")
    server = stream = None
    with platform_on(url, tmp_path) as (env, key):
        try:
            uscc = generate_uscc(random.Random(11), region="440604")
            with session_scope(url) as s:
                # decision numbers the generated file does not use
                ingest_rows(s, [penalty(900_000 + i, uscc) for i in range(1, 6)], "admin_penalty",
                            "market_regulation")
            with session_scope(url) as s:
                record_ids = s.scalars(select(Record.id)).all()
            dispose_all()  # the test's own pool must not hold connections across the crash

            path = write_penalty_csv(tmp_path / "p.csv", ROWS)
            port, log = free_port(), tmp_path / "server.log"
            server = _start(env, port, log)
            base = f"http://127.0.0.1:{port}"
            outcome: dict = {}

            def upload():
                outcome["r"] = _upload(port, key, path)

            stream = ObjectionStream(base, record_ids, clients=3)
            acknowledged, refused = stream.acknowledged, stream.refused
            up = threading.Thread(target=upload)
            up.start()
            _wait_for(lambda: _batch_underway(url) or not up.is_alive(), "the batch to start writing")
            _wait_for(lambda: len(acknowledged) >= 10, "some acknowledged objections")
            assert up.is_alive(), "the batch finished before the crash could be injected"
            cluster.crash()
            up.join(timeout=120)
            acknowledged_before = len(acknowledged)
            _wait_for(lambda: len(refused) >= 3, "requests refused during the outage")
            ready = httpx.get(f"{base}/readyz", timeout=10)
            assert ready.status_code == 503, ready.text  # the load balancer takes it out of rotation
            assert outcome["r"].status_code == 503, outcome["r"].text
            assert outcome["r"].json()["error"]["code"] == "database_unavailable"

            cluster.start()  # the database comes back; the platform server was never restarted
            _wait_for(lambda: httpx.get(f"{base}/readyz", timeout=10).status_code == 200, "readiness after restart")
            _wait_for(lambda: len(acknowledged) >= acknowledged_before + 10, "objections accepted again")
            stream.stop()
            # Every failure a clean 503 with the Chinese message: never a 500, a hang or a dropped connection.
            assert not stream.other and not stream.transport, (stream.other + stream.transport)[:5]
            assert refused and all("请稍后重试" in m for m in refused)

            c = _counts(url)
            assert (c["records"], c["committed"]) == (5, 1), c  # nothing of the crashed batch
            again = _upload(port, key, path)
            assert again.status_code == 200, again.text
            assert again.json()["records_created"] == ROWS
            third = _upload(port, key, path)
            assert third.json()["records_created"] == 0 and third.json()["records_unchanged"] == ROWS
        finally:
            if stream is not None:
                stream.stop()
            if server is not None:
                _stop(server)

    c = _counts(url)
    assert c["records"] == c["keys"] == c["versions"] == ROWS + 5 and c["committed"] == 3
    with session_scope(url) as s:
        stored = s.scalars(select(Objection.id)).all()
    dispose_all()
    assert len(acknowledged) == len(set(acknowledged))  # none acknowledged twice
    assert set(acknowledged) <= set(stored)  # every acknowledged write survived the crash
    assert len(stored) <= len(acknowledged) + 3  # at most the in-flight ones besides
    assert _chain_ok(url)
    dispose_all()
