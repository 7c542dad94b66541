"""``xinyong catalogue list/show/validate``: JSON shapes and exit codes."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from xinyong.catalogue import DEFAULT_DIR, load_catalogue
from xinyong.catalogue.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "240"}  # rich wraps tables to the terminal width


def test_list_json():
    result = runner.invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, list) and len(data) == len(load_catalogue())
    penalty = next(r for r in data if r["code"] == "admin_penalty")
    for key in ("code", "name", "category", "polarity", "disclosure", "fields"):
        assert key in penalty
    assert penalty["name"] == "行政处罚信息" and penalty["double_publicity"] is True
    assert penalty["fields"][0] == {"code": "subject_name", "label": "行政相对人名称", "type": "string",
                                    "required": True}
    assert "行政处罚信息" in result.stdout  # ensure_ascii=False


def test_list_human_table():
    result = runner.invoke(app, ["list"], env=WIDE)
    assert result.exit_code == 0
    assert "admin_penalty" in result.stdout and "行政处罚信息" in result.stdout


def test_show_json_and_human():
    result = runner.invoke(app, ["show", "admin_license", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["code"] == "admin_license" and data["double_publicity"] is True
    status = next(f for f in data["fields"] if f["code"] == "status")
    assert status["label"] == "当前状态" and status["type"] == "enum" and status["required"] is True
    assert status["enum"] == [{"value": "1", "label": "有效"}, {"value": "2", "label": "无效"}]
    for f in data["fields"]:
        assert {"code", "label", "type", "required"} <= set(f)
    human = runner.invoke(app, ["show", "admin_penalty"], env=WIDE)
    assert human.exit_code == 0 and "处罚类别" in human.stdout and "58号令" in human.stdout


def test_show_unknown_code_fails_in_chinese():
    result = runner.invoke(app, ["show", "nope"])
    assert result.exit_code == 1
    assert "未找到资源 nope" in result.stderr


def test_validate_default_ok():
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert f"目录校验通过：{len(load_catalogue())} 个资源" in result.stdout
    as_json = json.loads(runner.invoke(app, ["validate", "--json"]).stdout)
    assert as_json["ok"] is True and as_json["issues"] == [] and as_json["resources"] == len(load_catalogue())


def test_validate_broken_dir(tmp_path):
    shutil.copy(DEFAULT_DIR / "admin_penalty.yaml", tmp_path / "admin_penalty.yaml")
    broken = tmp_path / "admin_penalty.yaml"
    text = broken.read_text(encoding="utf-8")
    start = text.index("legal_basis:")
    end = text.index("natural_key:")
    broken.write_text(text[:start] + text[end:], encoding="utf-8")
    result = runner.invoke(app, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"{broken}:") and "必须填写法律依据 legal_basis" in first
    as_json = runner.invoke(app, ["validate", str(tmp_path), "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["ok"] is False and data["resources"] == 0
    [issue] = data["issues"]
    assert set(issue) == {"file", "line", "path", "message"} and issue["path"] == "legal_basis"
    # list/show on a broken catalogue fail loudly too.
    listed = runner.invoke(app, ["list", "--dir", str(tmp_path)])
    assert listed.exit_code == 1 and "legal_basis" in listed.stderr


def test_list_with_custom_dir(tmp_path):
    shutil.copy(DEFAULT_DIR / "honours.yaml", tmp_path / "honours.yaml")
    result = runner.invoke(app, ["list", "--json", "--dir", str(tmp_path)])
    assert result.exit_code == 0
    assert [r["code"] for r in json.loads(result.stdout)] == ["honours"]
