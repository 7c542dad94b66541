"""`xinyong indicators …` commands."""

from __future__ import annotations

import json

from python_calamine import CalamineWorkbook
from typer.testing import CliRunner

from xinyong.cli import app

runner = CliRunner()


def test_show_json_lists_code_value_target_status(city_url):
    r = runner.invoke(app, ["indicators", "show", "--json"])
    assert r.exit_code == 0, r.output
    body = json.loads(r.stdout)
    by = {i["code"]: i for i in body["indicators"]}
    assert set(by["enterprise_file_coverage"]) >= {"code", "value", "target", "status"}
    assert by["enterprise_file_coverage"]["value"] == 0.6 and by["enterprise_file_coverage"]["status"] == "red"
    assert by["penalty_timeliness"]["status"] == "green"
    # Connected to joint measures (#7); this city has made no check yet.
    assert by["joint_measure_feedback_rate"]["status"] == "no_data"
    assert by["repair_on_time_rate"]["status"] == "no_data"  # connected; the city has no repair cases
    assert body["snapshot"]["as_of"] == "2026-10-15"  # XINYONG_TODAY
    table = runner.invoke(app, ["indicators", "show"])
    assert table.exit_code == 0 and "企业信用档案覆盖率" in table.stdout and "联合奖惩核查反馈率" in table.stdout


def test_refresh_export_and_report(city_url, tmp_path):
    r = runner.invoke(app, ["indicators", "refresh", "--json", "--as-of", "2026-10-15"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["indicators"] >= 15
    out = tmp_path / "league.xlsx"
    assert runner.invoke(app, ["indicators", "export", "league", "--out", str(out)]).exit_code == 0
    assert CalamineWorkbook.from_path(str(out)).sheet_names == ["部门排行榜"]
    out = tmp_path / "cov.xlsx"
    assert runner.invoke(app, ["indicators", "export", "enterprise_file_coverage", "--out", str(out)]).exit_code == 0
    rep = tmp_path / "report.xlsx"
    r = runner.invoke(app, ["indicators", "report", "--month", "2026-09", "--out", str(rep)])
    assert r.exit_code == 0, r.output
    assert "月报概览" in CalamineWorkbook.from_path(str(rep)).sheet_names
    bad = runner.invoke(app, ["indicators", "export", "nope", "--out", str(tmp_path / "x.xlsx")])
    assert bad.exit_code == 1 and "没有代码为 nope 的指标" in bad.output
    assert not (tmp_path / "x.xlsx").exists()


def test_validate(tmp_path):
    ok = runner.invoke(app, ["indicators", "validate", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["valid"] is True
    bad = tmp_path / "bad.yaml"
    bad.write_text("indicators:\n  - code: x_rate\n    name: 坏\n    numerator: {measure: nothing}\n", encoding="utf-8")
    r = runner.invoke(app, ["indicators", "validate", str(bad)])
    assert r.exit_code == 1 and "第 4 行" in r.output and "统计量“nothing”不存在" in r.output
