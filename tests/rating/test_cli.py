"""`xinyong rating …` and `xinyong inspections …` end to end (both databases)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from xinyong.cli import app
from xinyong.db.engine import session_scope

from .helpers import hand_checked

runner = CliRunner()


def test_rating_run_explain_and_draw_verify(db_url):
    with session_scope(db_url) as s:
        subjects = hand_checked(s)
        uscc = subjects["penalised"].uscc
    r = runner.invoke(app, ["rating", "run", "--full", "--as-of", "2026-06-30", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["mode"] == "full" and out["subjects_changed"] == 6
    r = runner.invoke(app, ["rating", "run", "--as-of", "2026-06-30"])
    assert r.exit_code == 0 and "没有变化" in r.output
    r = runner.invoke(app, ["rating", "explain", uscc, "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["score"] == 678
    r = runner.invoke(app, ["inspections", "draw", "--dept", "market_regulation", "--date", "2026-07-01", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    r2 = runner.invoke(app, ["inspections", "draw", "--dept", "market_regulation", "--date", "2026-07-01", "--json"])
    assert json.loads(r2.output)["seed"] == d["seed"]
    r = runner.invoke(app, ["inspections", "verify", str(d["id"])])
    assert r.exit_code == 0 and "验证通过" in r.output
    r = runner.invoke(app, ["inspections", "draw", "--dept", "nope", "--date", "2026-07-01"])
    assert r.exit_code == 2 and "未找到部门" in r.output
    r = runner.invoke(app, ["rating", "model"])
    assert r.exit_code == 0 and "行政处罚" in r.output
