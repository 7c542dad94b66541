"""Benchmark: signed PDF credit reports — latency by subject size, and batch throughput.

Builds a throw-away SQLite database through intake (subjects with 0, 10 and 500 public
penalty records, plus a batch of subjects with 0–20 records each), then measures:

* ``latency``: per subject size, the median of ``--repeat`` PDF renders of the issued report
  (render + seal), and the median time to issue it (query, assemble, sign, store; data
  unchanged → the stored report is reused, so this is the cost of a repeated download);
* ``first_issue``: issuing a new report (new number, signature, row, audit event);
* ``batch``: ``xinyong report batch`` over ``--batch`` subjects with ``--workers`` processes
  (each subject: issue + render + write the file), in reports per second.

Budget (issue #9): ≤ 300 ms median for a typical subject (≤ 20 records).

    python bench/reports.py [--repeat 15] [--batch 1000] [--workers 2] [--json]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

BUDGET_MS = 300


def _setup(tmp: Path, batch: int) -> dict:
    os.environ.update(XINYONG_VAR_DIR=str(tmp / "var"), XINYONG_DATABASE_URL=f"sqlite:///{tmp / 'bench.sqlite3'}",
                      XINYONG_SECRET_KEY=base64.urlsafe_b64encode(b"b" * 32).decode(), XINYONG_LOG_LEVEL="WARNING")
    (tmp / "var").mkdir()
    from xinyong.config import reset_settings

    reset_settings()
    from xinyong.db.engine import get_engine, session_scope
    from xinyong.db.migrate import upgrade
    from xinyong.departments.service import seed_departments
    from xinyong.identity.codes import generate_uscc
    from xinyong.intake.service import ingest_rows
    from xinyong.subjects.service import SubjectIn, upsert_subjects

    upgrade()
    with session_scope() as s:
        seed_departments(s)
    rng = random.Random(2026)
    auth = {"authority": "佛山市市场监督管理局", "authority_uscc": "11440600862729575F",
            "source_department": "佛山市市场监督管理局", "source_department_uscc": "11440600862729575F"}

    def rows(name: str, uscc: str, n: int, start: int) -> list[dict]:
        return [{"subject_name": name, "subject_category": "法人及非法人组织", "uscc": uscc, "legal_rep": "李四",
                 "decision_no": f"佛市监罚〔2026〕{start + i}号", "violation_type": "未按规定公示年度报告",
                 "violation_facts": "经查，当事人未按照《企业信息公示暂行条例》规定的期限公示年度报告，"
                                    "且在责令改正期限内未改正。" * 2,
                 "legal_basis": "《企业信息公示暂行条例》第十八条", "penalty_category": "罚款",
                 "fine_amount": str(rng.randint(1, 50) / 10), "penalty_content": "罚款人民币五千元",
                 "decision_date": "2026-10-20", "valid_until": "2027-10-20", **auth} for i in range(n)]

    subjects, all_rows, n_no = {}, [], 1
    for size in (0, 10, 500):
        uscc = generate_uscc(rng)
        name = f"佛山市基准测试{size}号贸易有限公司"
        subjects[size] = uscc
        with session_scope() as s:
            upsert_subjects(s, [SubjectIn(kind="legal_entity", name=name, uscc=uscc, region="440604")])
        all_rows += rows(name, uscc, size, n_no)
        n_no += size
    batch_codes = []
    for i in range(batch):
        uscc = generate_uscc(rng)
        name = f"佛山市批量{i}号五金制品有限公司"
        batch_codes.append(uscc)
        with session_scope() as s:
            upsert_subjects(s, [SubjectIn(kind="legal_entity", name=name, uscc=uscc, region="440604")])
        n = rng.randint(0, 20)
        all_rows += rows(name, uscc, n, n_no)
        n_no += n
    ingest_rows(get_engine(), all_rows, "admin_penalty", "market_regulation", today=date(2026, 11, 1))
    return {"subjects": subjects, "batch": batch_codes, "records": len(all_rows)}


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        t = time.perf_counter()
        data = _setup(tmp, args.batch)
        setup_s = time.perf_counter() - t
        from xinyong.db.engine import session_scope
        from xinyong.reports.pdf import _prepare_font
        from xinyong.reports.service import issue_report
        from xinyong.subjects.service import resolve_subject

        t = time.perf_counter()
        _prepare_font()
        font_s = time.perf_counter() - t
        latency = []
        for size, code in data["subjects"].items():
            with session_scope() as s:
                subject = resolve_subject(s, code)
                t = time.perf_counter()
                issued = issue_report(s, subject, "public")
                first_issue = time.perf_counter() - t
            issues, renders, sizes = [], [], []
            for _ in range(args.repeat):
                with session_scope() as s:
                    t = time.perf_counter()
                    issued = issue_report(s, resolve_subject(s, code), "public")
                    issues.append(time.perf_counter() - t)
                t = time.perf_counter()
                pdf = issued.render("pdf", cached=False)
                renders.append(time.perf_counter() - t)
                sizes.append(len(pdf))
            latency.append({"records": size, "first_issue_ms": _ms(first_issue),
                            "issue_median_ms": _ms(statistics.median(issues)),
                            "render_median_ms": _ms(statistics.median(renders)),
                            "render_p90_ms": _ms(sorted(renders)[int(0.9 * (len(renders) - 1))]),
                            "total_median_ms": _ms(statistics.median(issues) + statistics.median(renders)),
                            "pdf_kb": round(statistics.median(sizes) / 1024, 1)})
        from xinyong.reports.cli import run_batch

        t = time.perf_counter()
        results = run_batch(data["batch"], tmp / "out", kind="public", scenario=None, fmt="pdf",
                            workers=args.workers)
        batch_s = time.perf_counter() - t
        ok = sum(1 for r in results if r["status"] == "ok")
        typical = next(r for r in latency if r["records"] == 10)
        out = {
            "setup_seconds": round(setup_s, 1), "records_loaded": data["records"],
            "font_prepare_seconds": round(font_s, 2), "repeat": args.repeat, "latency": latency,
            "budget_ms": BUDGET_MS, "typical_total_median_ms": typical["total_median_ms"],
            "within_budget": typical["total_median_ms"] <= BUDGET_MS,
            "batch": {"subjects": len(data["batch"]), "ok": ok, "workers": args.workers,
                      "cores": os.cpu_count(), "seconds": round(batch_s, 1),
                      "reports_per_second": round(ok / batch_s, 2)},
        }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return
    print(f"setup {out['setup_seconds']} s ({out['records_loaded']:,} records); font prepared in {font_s:.2f} s")
    print(f"{'records':>8} {'1st issue':>10} {'issue':>8} {'render':>8} {'p90':>8} {'total':>8} {'PDF KB':>8}")
    for r in latency:
        print(f"{r['records']:>8} {r['first_issue_ms']:>10} {r['issue_median_ms']:>8} {r['render_median_ms']:>8} "
              f"{r['render_p90_ms']:>8} {r['total_median_ms']:>8} {r['pdf_kb']:>8}")
    print(f"typical subject (10 records): {out['typical_total_median_ms']} ms median "
          f"({'within' if out['within_budget'] else 'OVER'} the {BUDGET_MS} ms budget)")
    b = out["batch"]
    print(f"batch: {b['ok']}/{b['subjects']} PDFs in {b['seconds']} s with {b['workers']} workers "
          f"= {b['reports_per_second']} reports/s")


if __name__ == "__main__":
    sys.exit(main())
