"""The policy file: one loader, checked against the catalogue, clear Chinese errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from xinyong.catalogue import load_catalogue
from xinyong.workflows.policy import DEFAULT_FILE, load_policy, validate_policy
from xinyong.workflows.windows import WindowCalculator

BASE = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict | str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def with_override(code: str, severity: str, **period) -> dict:
    data = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    data["disclosure"]["overrides"] = {code: {severity: {"source": "《某市公共信用信息管理办法》第十条", **period}}}
    return data


def test_default_policy_is_valid_and_names_its_sources():
    policy, issues = validate_policy(DEFAULT_FILE)
    assert issues == [] and policy is not None
    assert policy.objections.answer_days == 20 and "来源" not in policy.objections.source
    assert "58号" in policy.disclosure.default_window.source
    res = load_catalogue().get("admin_penalty")
    w = policy.effective_window(res)
    assert (w.periods["general"].min_months, w.periods["general"].max_months) == (3, 12)
    assert (w.periods["serious"].min_months, w.periods["serious"].max_months) == (12, 36)
    assert w.periods["minor"].published is False
    # A black list without a catalogue window gets the serious default; licences get none.
    assert policy.effective_window(load_catalogue().get("culture_tourism_blacklist")).periods["general"].max_months == 36
    assert policy.effective_window(load_catalogue().get("admin_license")) is None
    assert policy.repairable(load_catalogue().get("dishonest_judgment_debtors"))[0] is False


def test_a_deployment_may_shorten_a_window(tmp_path):
    policy, issues = validate_policy(write(tmp_path, with_override("admin_penalty", "general", max_months=6)))
    assert issues == []
    res = load_catalogue().get("admin_penalty")
    calc = WindowCalculator(res, policy)
    win = calc.from_data({"penalty_category": "罚款", "decision_date": "2026-01-10"}, "2026-01-10", "2029-01-10")
    assert win.public_until == date(2026, 7, 9) and win.repair_after == date(2026, 4, 10)
    assert "本地策略调整" in policy.effective_window(res).note


def test_longer_than_the_catalogue_is_refused_with_the_line(tmp_path):
    path = write(tmp_path, with_override("admin_penalty", "general", max_months=24))
    policy, issues = validate_policy(path)
    assert policy is None and len(issues) == 1
    assert "不能超过目录规定的 12 个月" in issues[0].message and "policy.yaml 第" in issues[0].message


def test_unknown_resource_severity_and_bad_values(tmp_path):
    data = with_override("no_such_thing", "general", max_months=1)
    data["disclosure"]["overrides"]["admin_penalty"] = {"huge": {"max_months": 1, "source": "x"},
                                                        "general": {"min_months": 9, "max_months": 6, "source": "x"}}
    _, issues = validate_policy(write(tmp_path, data))
    text = "\n".join(i.message for i in issues)
    assert "没有资源 no_such_thing" in text and "没有严重程度 huge" in text and "最短公示期 9 个月长于" in text
    data = dict(BASE, objections={**BASE["objections"], "answer_days": 0})
    _, issues = validate_policy(write(tmp_path, data, "p2.yaml"))
    assert issues and "objections.answer_days" in issues[0].path


def test_syntax_errors_are_explained(tmp_path):
    _, issues = validate_policy(write(tmp_path, "version: 1\ndisclosure:\n\t- x\n"))
    assert issues and "YAML" in issues[0].message


def test_cli_validate_and_show(tmp_path):
    from xinyong.cli import app

    runner = CliRunner()
    bad = write(tmp_path, with_override("admin_penalty", "general", max_months=24))
    r = runner.invoke(app, ["policy", "validate", str(bad)])
    assert r.exit_code == 1 and "只能缩短公示期" in r.output
    r = runner.invoke(app, ["policy", "validate", str(DEFAULT_FILE)])
    assert r.exit_code == 0 and "策略文件有效" in r.output
    r = runner.invoke(app, ["policy", "show"])
    assert r.exit_code == 0 and "admin_penalty" in r.output


def test_load_policy_caches_and_uses_the_configured_file(tmp_path, monkeypatch):
    from xinyong.config import reset_settings
    from xinyong.workflows.policy import clear_policy_cache

    path = write(tmp_path, with_override("admin_penalty", "general", max_months=6))
    monkeypatch.setenv("XINYONG_POLICY_FILE", str(path))
    reset_settings()
    clear_policy_cache()
    try:
        assert load_policy().disclosure.overrides["admin_penalty"]["general"].max_months == 6
    finally:
        monkeypatch.delenv("XINYONG_POLICY_FILE")
        reset_settings()
        clear_policy_cache()


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.none(), st.integers(0, 60)), st.one_of(st.none(), st.integers(0, 60)))
def test_override_rule_property(min_months, max_months):
    """Accepted exactly when it does not lengthen the legal maximum and min ≤ max."""
    import tempfile

    period = {k: v for k, v in (("min_months", min_months), ("max_months", max_months)) if v is not None}
    with tempfile.TemporaryDirectory() as d:
        policy, issues = validate_policy(write(Path(d), with_override("admin_penalty", "serious", **period)))
    eff_min = 12 if min_months is None else min_months
    eff_max = 36 if max_months is None else max_months
    assert (policy is not None) == (eff_max <= 36 and eff_min <= eff_max), issues


def test_policy_apply_recomputes_stored_windows(world, tmp_path, monkeypatch):
    from xinyong.config import reset_settings
    from xinyong.workflows.policy import clear_policy_cache

    assert world.record(1).public_until == date(2027, 1, 9)
    path = write(tmp_path, with_override("admin_penalty", "general", max_months=6))
    monkeypatch.setenv("XINYONG_POLICY_FILE", str(path))
    reset_settings()
    clear_policy_cache()
    try:
        from xinyong.cli import app

        r = CliRunner().invoke(app, ["policy", "apply", "--json"])
        assert r.exit_code == 0 and '"admin_penalty": 1' in r.output, r.output
        assert world.record(1).public_until == date(2026, 7, 9)
        r = CliRunner().invoke(app, ["policy", "apply", "--json"])
        assert '"changed": {}' in r.output  # idempotent
    finally:
        monkeypatch.delenv("XINYONG_POLICY_FILE")
        reset_settings()
        clear_policy_cache()
