"""Change-feed benchmark: cursor paging over 1,000,000 changes, per page p50/p99, stability.

    .venv/bin/python bench/feed.py                           # both databases, 1,000,000 changes
    .venv/bin/python bench/feed.py --db sqlite --changes 200000
    .venv/bin/python bench/feed.py --json
    .venv/bin/python bench/feed.py --intake-cost 200000 --repeat 3   # intake rows/s with/without the feed

A fresh database per run. Subjects, records and record versions are bulk-inserted by SQL
(generate_series on PostgreSQL, a recursive CTE on SQLite; not timed as paging). The versions go
through the real feed triggers, so the load also measures them: on PostgreSQL the statement
trigger stages the changes and ``sequence_pending`` numbers them (timed and reported); on
SQLite the row trigger numbers them as they are inserted.

Then, timed per page: ``xinyong.exchange.feed.read_page`` — what ``GET /api/v1/changes`` runs
(the sequencing check, the keyset query, and presenting each change with its version's data,
the record and the subject) — for every page of the whole feed, ``--page`` changes each,
following ``next_cursor``. Stability: the pages must give every sequence number exactly once, in
order, and re-reading sampled cursors must give identical pages. A second pass filters on one
resource. Budget: every page ≤ 100 ms (the slowest page decides; p50/p99 shown too). The paging runs after
``xinyong.app.settle_heap()``, as the server does at startup. A miss is reported, never hidden.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _fresh import fresh_database  # bench/_fresh.py: one fresh database per run

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

BUDGET_MS = 100.0
VERSIONS_PER_RECORD = 5
RESOURCES = ["admin_penalty", "admin_license", "business_abnormality", "tax_credit_ratings", "honours"]


def _load_pg(url: str, n_changes: int) -> dict[str, float]:
    from sqlalchemy import text

    from xinyong.db.engine import get_engine
    from xinyong.exchange.feed import sequence_pending

    n_records = n_changes // VERSIONS_PER_RECORD
    n_subjects = max(1, n_records // 4)
    eng = get_engine(url)
    res = "ARRAY[" + ",".join(f"'{r}'" for r in RESOURCES) + "]"
    with eng.begin() as conn:
        conn.execute(text("""
            INSERT INTO subjects (kind, name, name_norm, uscc, region, verified, created_at, updated_at)
            SELECT 'legal_entity', 'bench-' || i, 'bench-' || i, lpad(i::text, 18, '0'), '440604', true, now(), now()
            FROM generate_series(1, CAST(:n AS int)) AS i"""), {"n": n_subjects})
        conn.execute(text(f"""
            INSERT INTO records (id, resource, natural_key_hash, natural_key, subject_id, department_id,
                                 current_version, status, main_date, content_hash, data, created_at, updated_at,
                                 published, objection_open)
            SELECT i, ({res})[1 + i % {len(RESOURCES)}], md5(i::text), 'BENCH-' || i, 1 + i % :ns, 1,
                   {VERSIONS_PER_RECORD}, 'active', date '2025-01-01' + (i % 600), md5(i::text),
                   json_build_object('decision_no', 'BENCH-' || i, 'fine_amount', (i % 90000)::text),
                   now(), now(), true, false
            FROM generate_series(1, CAST(:n AS int)) AS i"""), {"n": n_records, "ns": n_subjects})
        conn.execute(text("SELECT setval(pg_get_serial_sequence('records', 'id'), :n)"), {"n": n_records})
    t0 = time.perf_counter()
    for v in range(1, VERSIONS_PER_RECORD + 1):
        with eng.begin() as conn:  # one statement per version: the statement trigger stages them all
            conn.execute(text("""
                INSERT INTO record_versions (record_id, version, change, status, department_id, subject_id,
                                             content_hash, data, created_at)
                SELECT id, :v, CASE WHEN :v = 1 THEN 'created' ELSE 'updated' END, 'active', 1, subject_id,
                       content_hash, data, now() FROM records ORDER BY id"""), {"v": v})
    versions_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    numbered = sequence_pending(eng)
    seq_s = time.perf_counter() - t0
    with eng.begin() as conn:
        conn.execute(text("ANALYZE"))
    return {"versions_insert_s": round(versions_s, 1), "sequenced": numbered, "sequence_s": round(seq_s, 1)}


def _load_sqlite(url: str, n_changes: int) -> dict[str, float]:
    from sqlalchemy import text

    from xinyong.db.engine import get_engine

    n_records = n_changes // VERSIONS_PER_RECORD
    n_subjects = max(1, n_records // 4)
    eng = get_engine(url)
    case = "CASE i % {n} ".format(n=len(RESOURCES)) + " ".join(
        f"WHEN {k} THEN '{r}'" for k, r in enumerate(RESOURCES)) + " END"
    with eng.begin() as conn:
        conn.execute(text("""
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < :n)
            INSERT INTO subjects (kind, name, name_norm, uscc, region, verified, created_at, updated_at)
            SELECT 'legal_entity', 'bench-' || i, 'bench-' || i, printf('%018d', i), '440604', 1,
                   datetime('now'), datetime('now') FROM c"""), {"n": n_subjects})
        conn.execute(text(f"""
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < :n)
            INSERT INTO records (id, resource, natural_key_hash, natural_key, subject_id, department_id,
                                 current_version, status, main_date, content_hash, data, created_at, updated_at,
                                 published, objection_open)
            SELECT i, {case}, printf('%032d', i), 'BENCH-' || i, 1 + i % :ns, 1, {VERSIONS_PER_RECORD}, 'active',
                   date('2025-01-01', '+' || (i % 600) || ' days'), printf('%032d', i),
                   json_object('decision_no', 'BENCH-' || i, 'fine_amount', CAST(i % 90000 AS TEXT)),
                   datetime('now'), datetime('now'), 1, 0 FROM c"""), {"n": n_records, "ns": n_subjects})
    t0 = time.perf_counter()
    for v in range(1, VERSIONS_PER_RECORD + 1):
        with eng.begin() as conn:  # the row trigger numbers each change as it goes in
            conn.execute(text("""
                INSERT INTO record_versions (record_id, version, change, status, department_id, subject_id,
                                             content_hash, data, created_at)
                SELECT id, :v, CASE WHEN :v = 1 THEN 'created' ELSE 'updated' END, 'active', 1, subject_id,
                       content_hash, data, datetime('now') FROM records ORDER BY id"""), {"v": v})
    versions_s = time.perf_counter() - t0
    with eng.begin() as conn:
        conn.execute(text("ANALYZE"))
    return {"versions_insert_s": round(versions_s, 1), "sequenced": n_changes, "sequence_s": 0.0}


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _page_through(url: str, page: int, resources: list[str] | None, max_pages: int | None) -> dict:
    from xinyong.accounts.actor import Actor
    from xinyong.db.engine import session_scope
    from xinyong.exchange.feed import read_page

    actor = Actor.cli("bench")
    times, seqs, cursors = [], [], []
    cursor = None
    while True:
        with session_scope(url) as s:
            t0 = time.perf_counter()
            p = read_page(s, actor, since=cursor, resources=resources, limit=page)
            times.append((time.perf_counter() - t0) * 1000)
        cursors.append(cursor)
        seqs.extend(c["seq"] for c in p.changes)
        cursor = p.next_cursor
        if not p.has_more or (max_pages and len(times) >= max_pages):
            break
    # Stability: the same cursor gives the same page.
    sample = random.Random(1).sample(cursors, min(20, len(cursors)))
    same = True
    for c in sample:
        with session_scope(url) as s:
            a = [x["seq"] for x in read_page(s, actor, since=c, resources=resources, limit=page).changes]
        with session_scope(url) as s:
            b = [x["seq"] for x in read_page(s, actor, since=c, resources=resources, limit=page).changes]
        same = same and a == b
    return {"pages": len(times), "changes": len(seqs), "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(_pct(times, 0.99), 2), "max_ms": round(max(times), 2),
            "ordered_no_dupes": seqs == sorted(set(seqs)), "same_cursor_same_page": same, "_seqs": seqs}


def run(db: str, n_changes: int, page: int) -> dict:
    with fresh_database(db, "feed") as (url, tmp):
        from xinyong.db.engine import session_scope
        from xinyong.db.migrate import upgrade
        from xinyong.departments.service import seed_departments

        upgrade(url)
        with session_scope(url) as s:
            seed_departments(s)
        print(f"[{db}] loading {n_changes:,} changes …", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        load = (_load_pg if db == "postgresql" else _load_sqlite)(url, n_changes)
        load["total_s"] = round(time.perf_counter() - t0, 1)
        print(f"[{db}] loaded {load}; paging …", file=sys.stderr, flush=True)
        from xinyong.app import settle_heap

        settle_heap()  # what the server does at startup (xinyong.app lifespan)
        full = _page_through(url, page, None, None)
        seqs = full.pop("_seqs")
        full["complete"] = seqs == list(range(1, n_changes + 1))
        one = _page_through(url, page, [RESOURCES[0]], 400)
        one.pop("_seqs")
        return {"db": db, "changes": n_changes, "page_size": page, "load": load, "all_resources": full,
                "one_resource": one, "budget_ms": BUDGET_MS,
                # The issue asks that *each* page take ≤ 100 ms: the slowest page decides.
                "within_budget": full["max_ms"] <= BUDGET_MS and one["max_ms"] <= BUDGET_MS,
                "stable": full["complete"] and full["ordered_no_dupes"] and full["same_cursor_same_page"]
                and one["ordered_no_dupes"] and one["same_cursor_same_page"]}


# --- what the feed costs intake ---------------------------------------------------------------------


def _drop_feed_triggers(url: str) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER exchange_feed_versions ON record_versions"))
            conn.execute(text("DROP TRIGGER exchange_feed_window ON records"))
        else:
            conn.execute(text("DROP TRIGGER exchange_feed_versions"))
            conn.execute(text("DROP TRIGGER exchange_feed_window"))
    eng.dispose()


def intake_cost(rows: int, dbs: list[str], repeat: int) -> list[dict]:
    """bench/intake.py's timed ingest (first load, then an update of every row), with the feed's
    triggers and with them dropped, on fresh databases; medians of ``repeat`` runs."""
    sys.path.insert(0, str(ROOT / "bench"))
    import intake as ib

    work = Path(tempfile.mkdtemp(prefix="xy-bench-feedcost-"))
    path = ib.data_file(rows, None, work)
    out = []
    for db in dbs:
        figures: dict[str, list[float]] = {"with_feed": [], "without_feed": []}
        for _ in range(repeat):
            for mode in ("with_feed", "without_feed"):
                url, drop = ib.new_database(db, work)
                var = work / f"var-{uuid.uuid4().hex[:6]}"
                var.mkdir()
                try:
                    ib.prepare_db(url, rows, var)
                    if mode == "without_feed":
                        _drop_feed_triggers(url)
                    first = ib.run_child(url, path, var, 20_000)
                    figures[mode].append(rows / first["seconds"])
                finally:
                    drop()
        w, wo = statistics.median(figures["with_feed"]), statistics.median(figures["without_feed"])
        out.append({"db": db, "rows": rows, "rows_per_s_with_feed": round(w), "rows_per_s_without_feed": round(wo),
                    "slowdown_pct": round((wo - w) / wo * 100, 1), "runs": figures})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["postgresql", "sqlite", "both"], default="both")
    ap.add_argument("--changes", type=int, default=1_000_000)
    ap.add_argument("--page", type=int, default=500)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--intake-cost", type=int, metavar="ROWS",
                    help="instead: intake rows/s with and without the feed triggers (bench/intake.py's run)")
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    dbs = ["postgresql", "sqlite"] if args.db == "both" else [args.db]
    if args.intake_cost:
        cost = intake_cost(args.intake_cost, dbs, args.repeat)
        if args.json:
            print(json.dumps(cost, ensure_ascii=False, indent=2))
        for c in cost if not args.json else []:
            print(f"{c['db']}: {c['rows']:,} rows  with feed {c['rows_per_s_with_feed']:,} rows/s  "
                  f"without {c['rows_per_s_without_feed']:,} rows/s  slowdown {c['slowdown_pct']}%")
        return
    results = [run(db, args.changes, args.page) for db in dbs]
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return
    for r in results:
        a, o = r["all_resources"], r["one_resource"]
        print(f"{r['db']}: {r['changes']:,} changes, {r['page_size']} per page; load {r['load']}")
        print(f"  all resources: {a['pages']} pages  p50 {a['p50_ms']} ms  p99 {a['p99_ms']} ms  max {a['max_ms']} ms  "
              f"complete={a['complete']} ordered={a['ordered_no_dupes']} stable={a['same_cursor_same_page']}")
        print(f"  one resource : {o['pages']} pages  p50 {o['p50_ms']} ms  p99 {o['p99_ms']} ms  max {o['max_ms']} ms")
        print(f"  budget every page ≤ {r['budget_ms']:.0f} ms: {'met' if r['within_budget'] else 'MISSED'}; "
              f"stable: {r['stable']}")


if __name__ == "__main__":
    main()
