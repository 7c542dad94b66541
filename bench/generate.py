"""Benchmark: synthetic city generation — throughput and peak memory at growing sizes.

Each size runs in a fresh subprocess so its peak RSS is its own. Linear scaling shows as a
flat records/s column; flat memory as a flat peak RSS column.

    python bench/generate.py [--sizes 5000,20000,80000] [--repeat 1] [--workers 2] [--json]

Peak RSS is the largest single process (the parent, or one worker with --workers > 1).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from datetime import date
from pathlib import Path
from xinyong.synthetic.generator import generate_city
t = time.perf_counter()
m = generate_city(Path(sys.argv[1]), n_subjects=int(sys.argv[2]), seed=1, as_of=date(2026, 11, 1),
                  workers=int(sys.argv[3]))
elapsed = time.perf_counter() - t
print(json.dumps({"seconds": elapsed, "records": m["records_total"], "subjects": m["subjects"]["total"],
                  "files": len(m["files"]),
                  "peak_rss_mb": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                     resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024}))
"""


def run(size: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([sys.executable, "-c", CHILD, str(Path(tmp) / "city"), str(size), str(workers)],
                             check=True, capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="5000,20000,80000", help="organisation counts, comma-separated")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="parallel generator processes")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        runs = [run(size, args.workers) for _ in range(args.repeat)]
        secs = statistics.median(r["seconds"] for r in runs)
        rows.append({"organisations": size, "workers": args.workers, "subjects": runs[0]["subjects"], "records": runs[0]["records"],
                     "files": runs[0]["files"], "median_seconds": round(secs, 2),
                     "records_per_second": round(runs[0]["records"] / secs),
                     "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1)})
    base = rows[0]["records_per_second"]
    for r in rows:
        r["throughput_vs_smallest"] = round(r["records_per_second"] / base, 2)
    if args.json:
        print(json.dumps({"benchmark": "generate", "results": rows}, ensure_ascii=False))
        return
    print(f"{'orgs':>9} {'records':>10} {'seconds':>8} {'rec/s':>8} {'peak RSS MB':>12} {'vs smallest':>11}")
    for r in rows:
        print(f"{r['organisations']:>9} {r['records']:>10} {r['median_seconds']:>8} {r['records_per_second']:>8} "
              f"{r['peak_rss_mb']:>12} {r['throughput_vs_smallest']:>11}")


if __name__ == "__main__":
    main()
