"""Load benchmark: a mixed workload against the production configuration (PostgreSQL, several
uvicorn workers), driven by a purpose-built asyncio client.

    .venv/bin/python bench/load.py                               # 5 minutes, 2 workers, 32 clients
    .venv/bin/python bench/load.py --duration 60 --concurrency 16 --json

Set up (not timed): a fresh PostgreSQL database, `xinyong init`, a synthetic city
(`--subjects`) loaded and taken in, a department's querying and submitting API clients, then
`xinyong serve --workers N`. The mix, by request:

* 80% public: search page (40%) and a subject's public profile page (40%);
* 10% checks: a department asks which joint rewards and punishments apply to a bidder
  (`POST /api/v1/checks`, scenario 招标投标) — what a department does before a business step;
* 5% intake: a department submits 10 penalty rows as JSON (`POST /api/v1/intake/admin_penalty`);
* 5% workflow actions: a member of the public files an objection to a public record.

Reports throughput, p50/p95/p99 per kind and overall, and every error (status >= 400 or a
transport failure; the budget is zero). Nothing is tuned to pass: a miss is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

PG_ADMIN_URL = os.environ.get("XINYONG_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
BENCH_SECRET = base64.urlsafe_b64encode(b"bench-only-key-not-a-secret-0000").decode()
MIX = (("search", 40), ("profile", 40), ("check", 10), ("intake", 5), ("objection", 5))
AUTHORITY = {"authority": "佛山市市场监督管理局", "authority_uscc": "11440600862729575F",
             "source_department": "佛山市市场监督管理局", "source_department_uscc": "11440600862729575F"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def setup(tmp: Path, subjects: int, seed: int) -> tuple[dict, dict]:
    """A fresh database with a synthetic city; returns (server env, workload data)."""
    from sqlalchemy import create_engine, select, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    name = f"xinyong_load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    env = {**os.environ, "XINYONG_DATABASE_URL": url, "XINYONG_SECRET_KEY": BENCH_SECRET,
           "XINYONG_VAR_DIR": str(tmp / "var"), "XINYONG_LOG_LEVEL": "WARNING",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics")}
    (tmp / "metrics").mkdir()
    os.environ.update({k: env[k] for k in ("XINYONG_DATABASE_URL", "XINYONG_SECRET_KEY", "XINYONG_VAR_DIR")})
    cli = [sys.executable, "-m", "xinyong.cli"]
    subprocess.run([*cli, "init"], env=env, check=True, capture_output=True)
    city = tmp / "city"
    subprocess.run([*cli, "generate", "--subjects", str(subjects), "--seed", str(seed), "--out", str(city),
                    "--json"], env=env, check=True, capture_output=True)
    from xinyong.synthetic.load import load_city

    load_city(city, url=url)
    subprocess.run([*cli, "ingest-city", str(city), "--json"], env=env, check=True, capture_output=True)

    from xinyong.accounts.actor import Actor
    from xinyong.accounts.clients import create_client
    from xinyong.db.engine import session_scope
    from xinyong.intake.models import Record
    from xinyong.publication import public_record_clause
    from xinyong.subjects.models import Subject

    with session_scope(url) as s:
        querier = create_client(s, Actor.cli("bench"), department="market_regulation", name="load-querier",
                                role="dept_querier", rate_limit=100_000).key
        submitter = create_client(s, Actor.cli("bench"), department="market_regulation", name="load-submitter",
                                  role="dept_submitter", rate_limit=100_000).key
    with session_scope(url) as s:
        orgs = s.execute(select(Subject.uscc, Subject.name).where(Subject.uscc.is_not(None),
                                                                   Subject.kind != "natural_person")
                         .limit(5000)).all()
        records = s.scalars(select(Record.id).where(public_record_clause()).limit(5000)).all()
    return env, {"orgs": [tuple(r) for r in orgs], "records": list(records), "querier": querier,
                 "submitter": submitter, "url": url, "db": name}


def penalty_rows(rng: random.Random, orgs: list, n: int) -> list[dict]:
    rows = []
    for _ in range(n):
        uscc, name = rng.choice(orgs)
        no = uuid.uuid4().hex[:10]
        rows.append({"subject_name": name, "subject_category": "法人及非法人组织", "uscc": uscc, "legal_rep": "张三",
                     "decision_no": f"佛市监罚〔2026〕L{no}号", "violation_type": "无证经营",
                     "violation_facts": "经查，当事人无证经营。", "legal_basis": "《无证无照经营查处办法》第十三条",
                     "penalty_category": "警告", "penalty_content": "警告", "decision_date": "2026-10-10",
                     "valid_until": "2029-10-10", **AUTHORITY})
    return rows


async def run_load(base: str, data: dict, duration: float, concurrency: int, seed: int) -> dict:
    import httpx

    lat: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    samples: list[str] = []
    kinds = [k for k, w in MIX for _ in range(w)]
    deadline = time.monotonic() + duration
    q_headers = {"Authorization": f"Bearer {data['querier']}", "X-Purpose": "bidding"}
    s_headers = {"Authorization": f"Bearer {data['submitter']}"}

    async def one(client: httpx.AsyncClient, rng: random.Random, kind: str) -> httpx.Response:
        uscc, name = rng.choice(data["orgs"])
        if kind == "search":
            return await client.get("/search", params={"q": name[: rng.randint(2, 6)]})
        if kind == "profile":
            return await client.get(f"/subjects/{uscc}")
        if kind == "check":
            return await client.post("/api/v1/checks", headers=q_headers,
                                     json={"subject": uscc, "scenario": "bidding", "department": "market_regulation"})
        if kind == "intake":
            return await client.post("/api/v1/intake/admin_penalty", headers=s_headers,
                                     json={"rows": penalty_rows(rng, data["orgs"], 10)})
        return await client.post("/api/v1/objections", json={
            "record_id": rng.choice(data["records"]), "reason": "该记录的处罚日期有误，请核实。",
            "applicant_name": "压力测试", "contact_email": "load@example.invalid"})

    async def worker(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        async with httpx.AsyncClient(base_url=base, timeout=60, verify=False) as client:
            while time.monotonic() < deadline:
                kind = rng.choice(kinds)
                start = time.perf_counter()
                try:
                    r = await one(client, rng, kind)
                    status = r.status_code
                except httpx.HTTPError as exc:
                    status, r = 0, None
                    if len(samples) < 10:
                        samples.append(f"{kind}: {type(exc).__name__}")
                lat[kind].append(time.perf_counter() - start)
                if status == 0 or status >= 400:
                    errors[kind] += 1
                    if r is not None and len(samples) < 10:
                        samples.append(f"{kind}: {status} {r.text[:200]}")

    started = time.monotonic()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.monotonic() - started
    every = [v for vs in lat.values() for v in vs]

    def summary(vs: list[float]) -> dict:
        return {"requests": len(vs), "p50_ms": round((_pct(vs, 50) or 0) * 1000, 1),
                "p95_ms": round((_pct(vs, 95) or 0) * 1000, 1), "p99_ms": round((_pct(vs, 99) or 0) * 1000, 1),
                "mean_ms": round(statistics.fmean(vs) * 1000, 1) if vs else None}

    return {"duration_s": round(elapsed, 1), "concurrency": concurrency, "throughput_rps": round(len(every) / elapsed, 1),
            "errors": sum(errors.values()), "errors_by_kind": dict(errors), "error_samples": samples,
            "overall": summary(every), "by_kind": {k: summary(v) for k, v in sorted(lat.items())}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=300)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--subjects", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="xinyong-load-") as tmp_s:
        tmp = Path(tmp_s)
        t0 = time.monotonic()
        env, data = setup(tmp, args.subjects, args.seed)
        setup_s = time.monotonic() - t0
        port = _free_port()
        log = open(tmp / "server.log", "w")  # noqa: SIM115
        server = subprocess.Popen([sys.executable, "-m", "xinyong.cli", "serve", "--port", str(port), "--workers",
                                   str(args.workers)], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            import httpx

            for _ in range(300):
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            result = asyncio.run(run_load(f"http://127.0.0.1:{port}", data, args.duration, args.concurrency,
                                          args.seed))
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
            log.close()
            from sqlalchemy import create_engine, text
            from sqlalchemy.pool import NullPool

            from xinyong.db.engine import dispose_all

            dispose_all()
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{data["db"]}" WITH (FORCE)'))
            admin.dispose()
        result.update({"workers": args.workers, "subjects": args.subjects, "setup_s": round(setup_s, 1),
                       "database": "postgresql", "cpus": os.cpu_count(), "budget_errors": 0,
                       "errors_ok": result["errors"] == 0})
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(f"混合负载 {result['duration_s']} s，{args.workers} 个工作进程，{args.concurrency} 个并发客户端，PostgreSQL")
    print(f"吞吐 {result['throughput_rps']} 请求/秒；总体 p50 {result['overall']['p50_ms']} ms，"
          f"p95 {result['overall']['p95_ms']} ms，p99 {result['overall']['p99_ms']} ms；错误 {result['errors']}")
    for kind, s in result["by_kind"].items():
        print(f"  {kind:10s} {s['requests']:7d} 次  p50 {s['p50_ms']:8.1f}  p95 {s['p95_ms']:8.1f}  p99 {s['p99_ms']:8.1f} ms"
              f"  错误 {result['errors_by_kind'].get(kind, 0)}")
    for sample in result["error_samples"]:
        print("  错误示例：", sample)


if __name__ == "__main__":
    main()
