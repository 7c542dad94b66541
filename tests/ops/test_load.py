"""The load benchmark, bounded: bench/load.py's mixed workload (search and profile pages,
checks, intake, objections) for a few seconds against two server workers on PostgreSQL.
Not a timing test: it asserts what must hold at any rate — every kind of request was made and
not one failed. The five-minute run at saturation is `bench/load.py` itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.conftest import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]


def test_mixed_load_has_no_errors():
    try:
        eng = create_engine(PG_ADMIN_URL, poolclass=NullPool)
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
    except Exception as exc:  # noqa: BLE001
        msg = f"PostgreSQL unreachable: {exc}"
        pytest.fail(msg) if os.environ.get("XINYONG_REQUIRE_PG") == "1" else pytest.skip(msg)
    env = {**os.environ, "XINYONG_BENCH_PG_URL": PG_ADMIN_URL}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--duration", "15", "--concurrency", "8",
                          "--workers", "2", "--subjects", "400", "--json"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["errors"] == 0, result["error_samples"]
    assert set(result["by_kind"]) == {"search", "profile", "check", "intake", "objection"}
    assert all(k["requests"] > 0 for k in result["by_kind"].values())
    assert result["overall"]["requests"] >= 50  # it really ran (any healthy server does far more)
