from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from xinyong.cli import app
from xinyong.departments.service import (
    DepartmentIn,
    add_department,
    find_department,
    list_departments,
    load_default_departments,
    seed_departments,
)
from xinyong.errors import Conflict, InvalidInput, NotFound

runner = CliRunner()


def test_seed_is_idempotent_and_realistic(session):
    defaults = load_default_departments()
    assert len(defaults) >= 17
    names = {d.name for d in defaults}
    for fragment in ("市场监督管理局", "税务局", "人民法院", "人力资源和社会保障局", "生态环境局",
                     "住房和城乡建设局", "交通运输局", "财政局", "应急管理局", "统计局", "卫生健康局",
                     "教育局", "公安局", "商务局", "医疗保障局", "发展和改革局"):
        assert any(fragment in n for n in names), fragment
    assert seed_departments(session) == len(defaults)
    assert seed_departments(session) == 0
    assert len(list_departments(session)) == len(defaults)


def test_add_find_and_refuse(session):
    dept, created = add_department(session, DepartmentIn(name="佛山市测试局", uscc="11440600MB2C9280X2"))
    assert created and dept.region == "440600"
    again, created = add_department(session, DepartmentIn(name="佛山市测试局", uscc="11440600mb2c9280x2"))
    assert not created and again.id == dept.id
    assert find_department(session, "佛山市测试局").id == dept.id
    assert find_department(session, dept.code).id == dept.id
    assert find_department(session, "11440600MB2C9280X2").id == dept.id
    with pytest.raises(NotFound):
        find_department(session, "不存在的局")
    with pytest.raises(InvalidInput) as exc:
        add_department(session, DepartmentIn(name="坏代码局", uscc="11440600MB2C9280X1"))
    assert "统一社会信用代码" in exc.value.message
    with pytest.raises(Conflict):
        add_department(session, DepartmentIn(name="佛山市测试局", uscc="11440600MA4UJ8DJ5Q", code="other"))


def test_cli_list_and_add(db_url):
    out = runner.invoke(app, ["init", "--json"])
    assert out.exit_code == 0, out.output
    listed = json.loads(runner.invoke(app, ["departments", "list", "--json"]).output)
    assert any(d["code"] == "market_regulation" for d in listed)
    res = runner.invoke(app, ["departments", "add", "佛山市新设局", "--uscc", "11440600MB2C9280X2",
                              "--level", "city", "--json"])
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["created"] is True and body["uscc"] == "11440600MB2C9280X2"
    res = runner.invoke(app, ["departments", "add", "佛山市新设局", "--uscc", "11440600MB2C9280X2", "--json"])
    assert json.loads(res.output)["created"] is False
    res = runner.invoke(app, ["departments", "add", "坏局", "--uscc", "123", "--json"])
    assert res.exit_code == 1
    assert "统一社会信用代码" in json.loads(res.output)["error"]["message"]
    assert len(json.loads(runner.invoke(app, ["departments", "list", "--json"]).output)) == len(listed) + 1
