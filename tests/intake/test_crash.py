"""kill -9 in the middle of a large batch: nothing of it is kept, and running it again gives
exactly what one clean run gives. A real subprocess, SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from xinyong.intake.bulkdata import write_penalty_csv
from xinyong.intake.models import IntakeBatch, Record, RecordVersion
from xinyong.intake.pipeline import PARALLEL_MIN_BYTES
from xinyong.intake.service import ingest_file
from xinyong.subjects.models import Subject

from .conftest import AS_OF

ROWS = 16_000


def _batch_underway(db_url: str, engine) -> bool:
    if db_url.startswith("sqlite"):
        wal = Path(db_url.removeprefix("sqlite:///") + "-wal")
        return wal.exists() and wal.stat().st_size > 2_000_000  # several chunks written
    with engine.connect() as conn:
        # The batch holds its resource's advisory lock and has written rows (tuples inserted).
        return bool(conn.execute(text(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.xact_start < now() - interval '1 second'")).scalar())


def _helpers() -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"xinyong.intake.worker" in cmd:
                found.append(int(pid))
    return found


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    # Over the helper-process threshold, so the crash also covers the helper.
    path = write_penalty_csv(tmp_path_factory.mktemp("crash") / "penalties.csv", ROWS)
    assert path.stat().st_size >= PARALLEL_MIN_BYTES
    return path


def test_kill_9_mid_batch_then_rerun(engine, db_url, big_file):
    path = big_file
    proc = subprocess.Popen([sys.executable, "-m", "xinyong.cli", "ingest", str(path), "--resource", "admin_penalty",
                             "--dept", "market_regulation", "--json", "--today", AS_OF.isoformat(),
                             "--chunk-rows", "2000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not _batch_underway(db_url, engine):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the batch never got going"
        time.sleep(0.05)
    assert proc.poll() is None  # still mid-batch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()

    # The helper notices its parent is gone and exits.
    deadline = time.monotonic() + 20
    while _helpers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _helpers() == []

    with Session(engine) as s:
        for model in (IntakeBatch, Record, RecordVersion, Subject):
            assert s.scalar(select(func.count()).select_from(model)) == 0, model.__tablename__

    result = ingest_file(engine, path, "admin_penalty", "market_regulation", today=AS_OF)
    with open(path, encoding="utf-8", newline="") as fh:
        data = list(csv.DictReader(fh))
    subjects = {r["行政相对人代码_1(统一社会信用代码)"] or r["证件号码"] for r in data}
    assert (result.status, result.rows_total, result.rows_accepted, result.records_created) == ("committed", ROWS, ROWS, ROWS)
    assert result.subjects_created == len(subjects)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Record)) == ROWS
        assert s.scalar(select(func.count()).select_from(RecordVersion)) == ROWS
        assert s.scalar(select(func.count()).select_from(Subject)) == len(subjects)
        assert s.scalar(select(func.count()).select_from(IntakeBatch)) == 1
