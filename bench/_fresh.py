"""A fresh, empty database for one benchmark run, and the CPU the processes of a run spent
(shared by the bench scripts).

PostgreSQL: a new database on ``XINYONG_BENCH_PG_URL``'s server, dropped afterwards; SQLite: a
file in a new temporary var dir. The ``XINYONG_`` environment points at it for the run.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_ADMIN_URL = os.environ.get("XINYONG_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BENCH_SECRET = base64.urlsafe_b64encode(b"bench-only-key-not-a-secret-0000").decode()


@contextmanager
def fresh_database(db: str, prefix: str, **env: str) -> Iterator[tuple[str, Path]]:
    """(database URL, var dir) of a new empty database of kind ``db`` (not yet migrated)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    os.environ.update(XINYONG_SECRET_KEY=BENCH_SECRET, XINYONG_LOG_LEVEL="WARNING", **env)
    tmp = Path(tempfile.mkdtemp(prefix=f"xy-bench-{prefix}-"))
    os.environ["XINYONG_VAR_DIR"] = str(tmp)
    admin = name = None
    if db == "postgresql":
        name = f"xinyong_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ["XINYONG_DATABASE_URL"] = url
    from xinyong.config import reset_settings

    reset_settings()
    ok = False
    try:
        yield url, tmp
        ok = True
    finally:
        from xinyong.db.engine import dispose_all

        dispose_all()
        if admin is not None:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        if ok:  # a 10-million-record SQLite file is 6 GB: not left behind after every run
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"(the run's files, server log included, are kept in {tmp})", file=sys.stderr)


def settle_database(url: str) -> None:
    """After a bulk load, what a database in service has had time to do: statistics, the
    visibility map and hint bits (index-only reads depend on them; PostgreSQL's autovacuum would
    otherwise vacuum the new rows during the timed part), the WAL checkpointed. Not timed."""
    from sqlalchemy import create_engine, text

    from xinyong.db.engine import normalize_url

    eng = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("VACUUM ANALYZE"))
            conn.execute(text("CHECKPOINT"))
        else:
            conn.execute(text("ANALYZE"))
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    eng.dispose()


def cpu_seconds(root: int, database: str | None = None) -> dict[str, float]:
    """CPU seconds (user + system) from /proc (zeros where it is not available): ``server``, a
    process and its live descendants (the uvicorn parent and its workers); ``db``, the local
    PostgreSQL server's processes (its backends do the queries' work), or with ``database`` only
    the backends connected to that database (their titles name it: other databases' work on a
    shared machine is left out); ``machine``, every core's busy time, whoever spent it (the rest
    is other load on a shared machine)."""
    children: dict[int, list[int]] = {}
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    cpu: dict[int, float] = {}
    db = machine = 0.0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            name, rest = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        fields = rest.split()
        pid, ppid = int(entry.name), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        if name.endswith("(postgres") and (database is None or _backend_of(entry, database)):
            db += cpu[pid]
    try:  # user nice system idle iowait irq softirq steal …: busy = all but idle and iowait
        times = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        machine = (sum(times) - times[3] - times[4]) / ticks
    except OSError:
        pass
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += cpu.get(pid, 0.0)
        todo.extend(children.get(pid, ()))
    return {"server": total, "db": db, "machine": machine}


def _backend_of(proc: Path, database: str) -> bool:
    """Whether a PostgreSQL process is a backend of ``database``: its title is "postgres:
    [cluster:] user database host(port) state" (Debian names the cluster, e.g. "15/main:")."""
    try:
        title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").split()
    except OSError:
        return False
    if not title or title[0] != "postgres:":
        return False
    words = title[2:] if len(title) > 1 and title[1].endswith(":") else title[1:]
    return len(words) >= 3 and words[1] == database
