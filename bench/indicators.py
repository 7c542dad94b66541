"""Indicators benchmark: dashboard response time (p50/p95) and snapshot refresh time vs. record count.

    .venv/bin/python bench/indicators.py                       # PostgreSQL, 1,000,000 records
    .venv/bin/python bench/indicators.py --records 200000 --db sqlite
    .venv/bin/python bench/indicators.py --records 1000000 --json

A fresh database per run; subjects, records and batches are bulk-inserted by SQL (generate_series
on PostgreSQL, a recursive CTE on SQLite; not timed). Then, timed:
- ``refresh``: one full computation of every indicator into a snapshot (what
  ``xinyong indicators refresh`` does after intake);
- the signed-in dashboard ``GET /indicators``, one drill-down page, the JSON API and the public
  ``/statistics`` page, each requested ``--requests`` times in-process (TestClient; includes
  session check, policy, rendering). The first request after a new snapshot ("cold": its
  figures are read and assembled, then cached) is reported apart, as is the very first request
  of the process (template compilation).

Budget: dashboard p95 ≤ 300 ms at 10,000,000 records. The pages read only the snapshot (a few
thousand rows whatever the record count), so the figure at the measured size is the figure at
10M; the refresh time grows with the records and is reported with its rows/s so it can be
extrapolated. Nothing here is tuned to pass: a miss is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from _fresh import fresh_database  # bench/_fresh.py: one fresh database per run

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

BUDGET_MS = 300
PASSWORD = "Bench-Password-42"


def _resources() -> tuple[list[str], set[str]]:
    from xinyong.catalogue import load_catalogue

    cat = load_catalogue()
    return [r.code for r in cat], {r.code for r in cat if r.double_publicity}


def _load_pg(url: str, n_subjects: int, n_records: int) -> None:
    from sqlalchemy import text

    from xinyong.db.engine import get_engine

    resources, dp = _resources()
    # Double-publicity resources get half the records, as in a real city.
    weighted = resources + [r for r in resources if r in dp] * (len(resources) // max(1, len(dp)))
    eng = get_engine(url)
    with eng.begin() as conn:
        dept_ids = [r[0] for r in conn.execute(text("SELECT id FROM departments ORDER BY id"))]
        conn.execute(text("""
            INSERT INTO subjects (kind, org_type, name, name_norm, region, verified, reg_status, created_at, updated_at)
            SELECT CASE WHEN i % 10 < 6 THEN 'legal_entity' WHEN i % 10 < 9 THEN 'individual_business'
                        ELSE 'natural_person' END,
                   CASE WHEN i % 10 < 6 THEN (ARRAY['enterprise','enterprise','enterprise','enterprise',
                        'social_org','public_institution'])[1 + (i / 10) % 6] END,
                   'bench-' || i, 'bench-' || i,
                   (ARRAY['440604','440605','440606','440607','440608'])[1 + i % 5], true,
                   CASE WHEN i % 10 < 9 THEN (CASE WHEN i % 17 = 0 THEN '注销' ELSE '存续' END) END,
                   now() - ((i % 900) * interval '1 day'), now()
            FROM generate_series(1, CAST(:n AS int)) AS i"""), {"n": n_subjects})
        lo = conn.execute(text("SELECT min(id) FROM subjects")).scalar()
        step = 1_000_000
        for start in range(0, n_records, step):
            conn.execute(text("""
                INSERT INTO records (resource, natural_key_hash, natural_key, subject_id, department_id,
                                     current_version, status, main_date, content_hash, data, submitted_on,
                                     delay_workdays, on_time, created_at, updated_at)
                SELECT res, md5(i::text), 'bench-' || i, :lo + (i::bigint * 7919) % :ns, dept, 1,
                       CASE WHEN i % 50 = 0 THEN 'withdrawn' ELSE 'active' END, d, md5(i::text), '{}',
                       d + 3, CASE WHEN dp THEN i % 12 END, CASE WHEN dp THEN i % 12 <= 7 END,
                       now() - ((i % 700) * interval '1 day'), now()
                FROM (SELECT i, (CAST(:res AS text[]))[1 + (i * 31) % :nr] AS res,
                             (CAST(:depts AS int[]))[1 + i % :nd] AS dept,
                             date '2023-01-01' + (i % 1400) AS d,
                             (CAST(:res AS text[]))[1 + (i * 31) % :nr] = ANY(CAST(:dp AS text[])) AS dp
                      FROM generate_series(CAST(:a AS int), CAST(:b AS int)) AS i) s"""),
                {"lo": lo, "ns": n_subjects, "res": weighted, "nr": len(weighted), "depts": dept_ids,
                 "nd": len(dept_ids), "dp": sorted(dp), "a": start + 1, "b": min(n_records, start + step)})
            print(f"  records {min(n_records, start + step):,}", file=sys.stderr, flush=True)
        _batches(conn, dept_ids, resources)
        conn.execute(text("ANALYZE"))


def _load_sqlite(url: str, n_subjects: int, n_records: int) -> None:
    from sqlalchemy import text

    from xinyong.db.engine import get_engine

    resources, dp = _resources()
    weighted = resources + [r for r in resources if r in dp] * (len(resources) // max(1, len(dp)))
    eng = get_engine(url)
    with eng.begin() as conn:
        dept_ids = [r[0] for r in conn.execute(text("SELECT id FROM departments ORDER BY id"))]
        conn.execute(text("""
            WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < :n)
            INSERT INTO subjects (kind, org_type, name, name_norm, region, verified, reg_status, created_at, updated_at)
            SELECT CASE WHEN i % 10 < 6 THEN 'legal_entity' WHEN i % 10 < 9 THEN 'individual_business'
                        ELSE 'natural_person' END,
                   CASE WHEN i % 10 < 6 THEN json_extract('["enterprise","enterprise","enterprise","enterprise",
                        "social_org","public_institution"]', '$[' || ((i / 10) % 6) || ']') END,
                   'bench-' || i, 'bench-' || i,
                   json_extract('["440604","440605","440606","440607","440608"]', '$[' || (i % 5) || ']'), 1,
                   CASE WHEN i % 10 < 9 THEN (CASE WHEN i % 17 = 0 THEN '注销' ELSE '存续' END) END,
                   datetime('now', '-' || (i % 900) || ' days'), datetime('now')
            FROM g"""), {"n": n_subjects})
        lo = conn.execute(text("SELECT min(id) FROM subjects")).scalar()
        conn.execute(text("""
            WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < :m),
            s AS (SELECT i, json_extract(:res, '$[' || ((i * 31) % :nr) || ']') AS res,
                         json_extract(:depts, '$[' || (i % :nd) || ']') AS dept,
                         date('2023-01-01', '+' || (i % 1400) || ' days') AS d FROM g)
            INSERT INTO records (resource, natural_key_hash, natural_key, subject_id, department_id,
                                 current_version, status, main_date, content_hash, data, submitted_on,
                                 delay_workdays, on_time, created_at, updated_at)
            SELECT res, printf('%032x', i), 'bench-' || i, :lo + (i * 7919) % :ns, dept, 1,
                   CASE WHEN i % 50 = 0 THEN 'withdrawn' ELSE 'active' END, d, printf('%032x', i), '{}',
                   date(d, '+3 days'),
                   CASE WHEN res IN (SELECT value FROM json_each(:dp)) THEN i % 12 END,
                   CASE WHEN res IN (SELECT value FROM json_each(:dp)) THEN i % 12 <= 7 END,
                   datetime('now', '-' || (i % 700) || ' days'), datetime('now')
            FROM s"""), {"m": n_records, "lo": lo, "ns": n_subjects, "res": json.dumps(weighted),
                         "nr": len(weighted), "depts": json.dumps(dept_ids), "nd": len(dept_ids),
                         "dp": json.dumps(sorted(dp))})
        _batches(conn, dept_ids, resources)
        conn.execute(text("ANALYZE"))


def _batches(conn, dept_ids: list[int], resources: list[str]) -> None:
    """Two years of monthly batches from every department (a few thousand rows)."""
    from datetime import date, timedelta

    from sqlalchemy import text

    rows = []
    today = date.today()
    for k, dept in enumerate(dept_ids):
        for m in range(24):
            day = today - timedelta(days=30 * m + k % 7)
            total = 1000 + 37 * k + m
            rows.append({"d": dept, "r": resources[(k + m) % len(resources)], "day": day, "t": total,
                         "rej": (k * m) % 60, "acc": total - (k * m) % 60, "mat": total - (k * m) % 60 - k % 9})
    conn.execute(text("""INSERT INTO intake_batches (department_id, resource, source, status, rows_total,
        rows_accepted, rows_rejected, rows_duplicate, records_created, records_updated, records_unchanged,
        subjects_created, rows_matched, submitted_on, started_at)
        VALUES (:d, :r, 'file', 'committed', :t, :acc, :rej, 0, 0, 0, 0, 0, :mat, :day, CURRENT_TIMESTAMP)"""), rows)


def _timed(client, path: str, n: int) -> dict[str, float]:
    first = None
    times: list[float] = []
    for i in range(n + 1):
        t0 = time.perf_counter()
        r = client.get(path)
        ms = (time.perf_counter() - t0) * 1000
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        if i == 0:
            first = ms
        else:
            times.append(ms)
    times.sort()
    if not times:
        return {"cold_ms": round(first, 1)}
    return {"cold_ms": round(first, 1), "p50_ms": round(statistics.median(times), 1),
            "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1), "max_ms": round(times[-1], 1)}


def run(db: str, n_records: int, n_subjects: int, n_requests: int) -> dict:
    with fresh_database(db, "ind", XINYONG_ARGON2_TIME_COST="1", XINYONG_ARGON2_MEMORY_COST="8", XINYONG_ARGON2_PARALLELISM="1") as (url, tmp):
        from fastapi.testclient import TestClient

        from xinyong.accounts.actor import Actor
        from xinyong.accounts.service import create_user
        from xinyong.app import create_app
        from xinyong.db.engine import dispose_all, session_scope
        from xinyong.db.migrate import upgrade
        from xinyong.departments.service import seed_departments
        from xinyong.indicators.service import refresh

        upgrade(url)
        with session_scope(url) as s:
            seed_departments(s)
            create_user(s, Actor.cli("bench"), username="bench-admin", role="admin", password=PASSWORD)
        t0 = time.perf_counter()
        print(f"[{db}] loading {n_subjects:,} subjects and {n_records:,} records …", file=sys.stderr, flush=True)
        (_load_pg if db == "postgresql" else _load_sqlite)(url, n_subjects, n_records)
        load_s = time.perf_counter() - t0
        print(f"[{db}] loaded in {load_s:.0f} s; refreshing indicators …", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        result = refresh(url)
        refresh_s = time.perf_counter() - t0
        print(f"[{db}] refresh {refresh_s:.1f} s; timing pages …", file=sys.stderr, flush=True)
        client = TestClient(create_app())
        page = client.get("/login")
        import re

        token = re.search(r'name="csrf_token" value="([^"]*)"', page.text).group(1)
        r = client.post("/login", data={"username": "bench-admin", "password": PASSWORD, "csrf_token": token,
                                        "next": "/indicators"}, follow_redirects=False)
        assert r.status_code == 303, r.text[:300]
        first_ever = _timed(client, "/indicators", 0)["cold_ms"]  # templates compiled, imports done
        # The case that matters: the first view after a new snapshot (its figures not yet cached).
        t0 = time.perf_counter()
        refresh(url)
        rerun_s = time.perf_counter() - t0
        pages = {
            "dashboard": _timed(client, "/indicators", n_requests),
            "detail": _timed(client, "/indicators/enterprise_file_coverage", n_requests),
            "api": _timed(client, "/api/v1/indicators", n_requests),
            "statistics": _timed(client, "/statistics", n_requests),
        }
        dispose_all()
        return {
            "db": db, "records": n_records, "subjects": n_subjects, "load_s": round(load_s, 1),
            "refresh_s": round(refresh_s, 2), "refresh_records_per_s": round(n_records / refresh_s),
            "refresh_10m_estimate_s": round(refresh_s * 10_000_000 / max(1, n_records), 0),
            "refresh_rerun_s": round(rerun_s, 2), "first_request_of_process_ms": round(first_ever, 1),
            "snapshot_indicators": result.indicators, "pages": pages,
            "dashboard_p95_ms": pages["dashboard"]["p95_ms"], "budget_ms": BUDGET_MS,
            "dashboard_within_budget": pages["dashboard"]["p95_ms"] <= BUDGET_MS,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--subjects", type=int, default=None, help="default: records ÷ 5")
    ap.add_argument("--requests", type=int, default=60)
    ap.add_argument("--db", choices=["postgresql", "sqlite", "both"], default="postgresql")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    dbs = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
    subjects = args.subjects or max(1000, args.records // 5)
    results = [run(db, args.records, subjects, args.requests) for db in dbs]
    if args.json:
        print(json.dumps({"budget_ms": BUDGET_MS, "runs": results}, ensure_ascii=False))
        return
    for r in results:
        print(f"{r['db']}: {r['records']:,} records, {r['subjects']:,} subjects (loaded in {r['load_s']} s)")
        print(f"  refresh: {r['refresh_s']} s, re-run {r['refresh_rerun_s']} s ({r['refresh_records_per_s']:,} "
              f"records/s; ≈{r['refresh_10m_estimate_s']:.0f} s at 10M if linear)")
        print(f"  first request of the process: {r['first_request_of_process_ms']} ms")
        for name, p in r["pages"].items():
            print(f"  {name:10} cold {p['cold_ms']:7.1f} ms  p50 {p['p50_ms']:6.1f} ms  p95 {p['p95_ms']:6.1f} ms")
        verdict = "within" if r["dashboard_within_budget"] else "OVER"
        print(f"  dashboard p95 {r['dashboard_p95_ms']} ms: {verdict} the {BUDGET_MS} ms budget")


if __name__ == "__main__":
    main()
