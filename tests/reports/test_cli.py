"""`xinyong report …` on the command line."""

from __future__ import annotations

import csv
import json

from typer.testing import CliRunner

from xinyong.cli import app

from .conftest import COMPANY, requires_poppler

runner = CliRunner()


@requires_poppler
def test_make_verify_and_tamper(city, tmp_path):
    out = tmp_path / "恒泰.pdf"
    made = runner.invoke(app, ["report", city.uscc, "--kind", "public", "--out", str(out)])
    assert made.exit_code == 0, made.output
    assert "已出具报告 XY" in made.output and COMPANY in made.output
    ok = runner.invoke(app, ["report", "verify", str(out)])
    assert ok.exit_code == 0 and "通过" in ok.output and COMPANY in ok.output
    data = bytearray(out.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad = tmp_path / "改过.pdf"
    bad.write_bytes(bytes(data))
    rejected = runner.invoke(app, ["report", "verify", str(bad)])
    assert rejected.exit_code == 1 and "未通过" in rejected.output and "修改" in rejected.output
    # Offline, with only the published key set.
    keys = tmp_path / "keys.json"
    assert runner.invoke(app, ["report", "keys", "--export", str(keys)]).exit_code == 0
    offline = runner.invoke(app, ["report", "verify", str(out), "--keys", str(keys), "--json"])
    assert offline.exit_code == 0 and json.loads(offline.output)["ok"] is True


def test_formats_kinds_and_errors(city, tmp_path):
    as_json = runner.invoke(app, ["report", "make", city.uscc, "--kind", "scenario", "--scenario", "bidding",
                                  "--out", str(tmp_path / "r.json"), "--json"])
    assert as_json.exit_code == 0, as_json.output
    result = json.loads(as_json.output)
    envelope = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert envelope["report"]["number"] == result["number"] and envelope["report"]["scenario"]["code"] == "bidding"
    html = runner.invoke(app, ["report", city.uscc, "--kind", "full", "--out", str(tmp_path / "r.html")])
    assert html.exit_code == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "查询记录" in page and city.private_document in page and 'id="xinyong-signed-report"' in page
    wrong_ext = runner.invoke(app, ["report", city.uscc, "--out", str(tmp_path / "r.docx")])
    assert wrong_ext.exit_code == 2 and ".pdf" in wrong_ext.output
    unknown = runner.invoke(app, ["report", "91440604MA4UXXXX0X", "--out", str(tmp_path / "x.pdf")])
    assert unknown.exit_code == 1 and "错误" in unknown.output and not (tmp_path / "x.pdf").exists()
    no_scenario = runner.invoke(app, ["report", city.uscc, "--kind", "scenario", "--out", str(tmp_path / "s.pdf")])
    assert no_scenario.exit_code == 1 and "bidding" in no_scenario.output


def test_batch_with_progress_errors_and_rerun(city, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text(f"# 本周招标项目\n{city.uscc}\n\nNOT-A-CODE\n{city.uscc}\n", encoding="utf-8")
    out = tmp_path / "batch"
    first = runner.invoke(app, ["report", "batch", str(ids), "--out", str(out), "--format", "json", "--json"])
    assert first.exit_code == 1, first.output  # one subject failed: said so, the others done
    summary = json.loads(first.output)
    assert (summary["total"], summary["ok"], summary["error"]) == (2, 1, 1)
    assert "代码" in summary["errors"][0]["message"]
    with open(out / "manifest.csv", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["状态"] for r in rows] == ["已出具", "失败"]
    number = rows[0]["报告编号"]
    again = runner.invoke(app, ["report", "batch", str(ids), "--out", str(out), "--format", "json", "--json"])
    assert json.loads(again.output)["reused"] == 1  # same data: the same report, not a new number
    with open(out / "manifest.csv", encoding="utf-8-sig") as fh:
        assert next(iter(csv.DictReader(fh)))["报告编号"] == number
    ids.write_text(f"{city.uscc}\n", encoding="utf-8")
    progress = runner.invoke(app, ["report", "batch", str(ids), "--out", str(out), "--format", "json", "--resume"])
    assert progress.exit_code == 0 and "跳过 1 个" in progress.output


def test_keys_rotate(settings_env, tmp_path):
    first = runner.invoke(app, ["report", "keys", "--json"])
    assert first.exit_code == 0
    kid = json.loads(first.output)["keys"][0]["kid"]
    rotated = runner.invoke(app, ["report", "keys", "--rotate"])
    assert rotated.exit_code == 0 and "已启用新签名密钥" in rotated.output
    keys = json.loads(runner.invoke(app, ["report", "keys", "--json"]).output)["keys"]
    assert next(k["kid"] for k in keys) == kid and len(keys) == 2 and keys[0]["retired"] and not keys[1]["retired"]
    assert (settings_env / "report-keys" / f"{kid}.pem").stat().st_mode & 0o077 == 0
    no_keys = runner.invoke(app, ["report", "verify", str(tmp_path / "x.pdf"), "--keys", str(tmp_path / "none.json")])
    assert no_keys.exit_code == 1 and "找不到公钥文件" in no_keys.output
