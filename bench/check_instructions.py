"""Instructions one joint-measures check costs the application's process, counted by valgrind's
callgrind: a figure that repeats whatever else the machine is doing. On these shared machines
the speed moves 2× within minutes, so latency and CPU time cannot show a 10% change in the
code; this can.

    .venv/bin/python bench/check_instructions.py                 # both databases
    .venv/bin/python bench/check_instructions.py --db postgresql --json

A fresh database (``bench/checks.py``'s loader, ``--records`` records). Then, in a child process
under ``valgrind --tool=callgrind``, ``POST /api/v1/checks`` is sent to the ASGI application
in process (no HTTP server, no client: the application's middleware, policy, handler, check
and database driver), warmed past the heap settling of its first requests, and only the
``--checks`` timed requests are counted (``callgrind_control`` turns counting on and off).
The database server's work is another process and is not counted.

On PostgreSQL the same run counts a floor: a bare ASGI application (no framework) that sends the
same round trips with psycopg (the check's read as the application builds it, the check's two
INSERTs, the audit append with its COMMIT) — what any Python server would spend on this
database conversation, as a yardstick (its own count moves with timing: below).

Measured 2026-12-07 (200,000 records, 300 checks): main before that day's work, PostgreSQL 4.10
million instructions a check (floor 1.68, ratio 2.43), SQLite 3.80; after it, PostgreSQL 2.90
(ratio 1.73), SQLite 3.14 (3.18 once SQLite's check INSERT read its id by RETURNING). The
application's count repeats within 1% (2.89-2.90 in four runs over two hours); the floor's does
not: 1.68 twice in one hour, 1.83-1.84 three times an hour later with the same code (its event
loop polls the socket as often as PostgreSQL's timing makes it), so compare the application's
own figure between runs and read the ratio as approximate.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _fresh import fresh_database

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _child(mode: str, key: str, n_subjects: int, n: int) -> None:
    """Drive the application (or the floor) in process; counting on only for the timed part."""
    import asyncio

    from checks import SCENARIOS, _code

    from xinyong.app import WARM_REQUESTS, create_app

    app = _floor_app() if mode == "floor" else create_app()
    rng = random.Random(5)
    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {key}".encode()),
               (b"content-type", b"application/json")]

    async def one() -> None:
        body = json.dumps({"subject": _code(rng.randint(1, n_subjects)), "scenario": rng.choice(SCENARIOS)}).encode()
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/api/v1/checks", "raw_path": b"/api/v1/checks", "query_string": b"",
                 "root_path": "", "headers": [*headers, (b"content-length", str(len(body)).encode())],
                 "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000), "state": {}}
        sent = False
        status: list[int] = []

        async def receive() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            return {}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        if status != [201]:
            raise RuntimeError(f"check answered {status}")

    def counting(on: bool) -> None:
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())], check=True,
                       stdout=subprocess.DEVNULL)

    async def run() -> None:
        for _ in range(WARM_REQUESTS[0] + 10):  # past the first heap settling: steady state
            await one()
        counting(True)
        for _ in range(n):
            await one()
        counting(False)

    asyncio.run(run())


def _floor_app():  # noqa: ANN202 - an ASGI callable
    """The check's database round trips behind a bare ASGI application."""
    import datetime as dt

    import psycopg
    from psycopg.rows import namedtuple_row

    from xinyong.audit.service import _PG_APPEND_RAW, ADVISORY_LOCK_KEY, GENESIS, canonical_parts
    from xinyong.config import get_settings
    from xinyong.measures.service import evaluator_for, load_measures
    from xinyong.workflows import clock

    today, mc = clock.today(), load_measures()
    reads: dict[str, tuple[str, dict]] = {}
    url = get_settings().resolved_database_url.replace("postgresql+psycopg://", "postgresql://")
    insert_check = ("INSERT INTO measure_checks (subject_id, department_id, scenario, actor_kind, checked_at, "
                    "checked_on, measures_total, rewards, punishments, feedback_done, feedback_complete, "
                    "catalogue_version, summary) VALUES (%(sid)s, 1, %(sc)s, 'client', %(now)s, %(today)s, "
                    "%(n)s, 0, %(n)s, 0, false, %(v)s, 'floor') RETURNING id")
    insert_items = ("INSERT INTO measure_check_items (check_id, measure, kind, strength, triggers) "
                    "VALUES (%s, %s, 'punishment', '限制', %s::json)")
    pool: list[psycopg.AsyncConnection] = []

    def read(scenario: str) -> tuple[str, dict]:
        if scenario not in reads:
            from sqlalchemy.dialects import postgresql

            stmt = evaluator_for(scenario, today=today, catalogue=mc)._one
            c = stmt.compile(dialect=postgresql.psycopg.dialect(), compile_kwargs={"render_postcompile": True})
            reads[scenario] = (str(c), {k: v for k, v in c.params.items() if v is not None})
        return reads[scenario]

    async def app(scope, receive, send) -> None:  # noqa: ANN001
        body, more = b"", True
        while more:
            m = await receive()
            body, more = body + m.get("body", b""), m.get("more_body", False)
        req = json.loads(body)
        sql, params = read(req["scenario"])
        conn = pool.pop() if pool else await psycopg.AsyncConnection.connect(url)
        async with conn.cursor(row_factory=namedtuple_row) as cur:
            await cur.execute(sql, {**params, "value": req["subject"]})
            rows = await cur.fetchall()
        sid, now = rows[0].s_id, dt.datetime.now(dt.UTC)
        found = [r for r in rows if getattr(r, "id", None) is not None]
        cur = await conn.execute(insert_check, {"sid": sid, "sc": req["scenario"], "now": now, "today": today,
                                                "n": len(found), "v": mc.version})
        (check_id,) = await cur.fetchone()
        if found:
            async with conn.cursor() as c:
                await c.executemany(insert_items, [(check_id, f"m{i}", "[]") for i in range(len(found))])
        ev = {"seq": 0, "time": now.isoformat(timespec="microseconds"), "actor_kind": "client", "actor_id": "1",
              "actor_name": "floor", "role": "dept_querier", "department": "finance", "action": "measures.check",
              "subject_id": sid, "resources": [], "purpose_code": None, "purpose_text": None, "request_id": None,
              "details": {"check_id": check_id}, "prev_hash": ""}
        a, b, c = canonical_parts(ev)
        append = {**{k: ev[k] for k in ev if k not in ("seq", "prev_hash")}, "time": now, "lock": ADVISORY_LOCK_KEY,
                  "genesis": GENESIS, "a": a, "b": b, "c": c, "utf8": f"{a}{b}{c}".encode(), "resources": "[]",
                  "details": json.dumps(ev["details"])}
        async with conn.pipeline():
            cur = await conn.execute(_PG_APPEND_RAW, append)
            await conn.commit()
        await cur.fetchone()
        pool.append(conn)
        await send({"type": "http.response.start", "status": 201,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps({"check_id": check_id}).encode()})

    return app


def _count(mode: str, key: str, n_subjects: int, n: int, tmp: Path) -> int:
    out = tmp / f"callgrind.{mode}.out"
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}", sys.executable,
           __file__, "--child", mode, key, str(n_subjects), str(n)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"callgrind run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return int(found.group(1)) // n


def run(db: str, n_records: int, n: int) -> dict:
    from checks import _load_pg, _load_sqlite, prepare_database

    with fresh_database(db, "checkinsn", XINYONG_TODAY="2026-11-01") as (url, tmp):
        from xinyong.db.engine import dispose_all

        key = prepare_database(url)
        subjects = max(1000, n_records // 5)
        (_load_pg if db == "postgresql" else _load_sqlite)(url, subjects, n_records)
        dispose_all()
        t0 = time.perf_counter()
        out = {"db": db, "records": n_records, "checks": n, "app": _count("app", key, subjects, n, tmp)}
        if db == "postgresql":
            out["floor"] = _count("floor", key, subjects, n, tmp)
            out["app_over_floor"] = round(out["app"] / out["floor"], 2)
        out["seconds"] = round(time.perf_counter() - t0, 1)
        return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["postgresql", "sqlite", "both"], default="both")
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--checks", type=int, default=300, help="checks counted (after the warm-up)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        sys.exit("valgrind is not installed: apt-get install -y valgrind")
    results = [run(db, args.records, args.checks)
               for db in (["sqlite", "postgresql"] if args.db == "both" else [args.db])]
    if args.json:
        print(json.dumps({"runs": results}))
        return
    for r in results:
        line = f"{r['db']}: {r['app'] / 1e6:.2f} million instructions a check"
        if "floor" in r:
            line += f"; floor {r['floor'] / 1e6:.2f} million; application ÷ floor {r['app_over_floor']}"
        print(f"{line} ({r['checks']} checks, {r['records']:,} records, {r['seconds']} s)")


if __name__ == "__main__":
    main()
