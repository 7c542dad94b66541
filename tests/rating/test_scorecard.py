"""The scorecard model: validated on load with Chinese messages; the pure helpers."""

from __future__ import annotations

import calendar
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinyong.rating.engine import months_before
from xinyong.rating.scorecard import DEFAULT_MODEL, ModelError, load_model, parse_model

BASE = DEFAULT_MODEL.read_text(encoding="utf-8")


def test_default_model_loads_and_describes_itself():
    m = load_model()
    assert m.version == "2026.1" and m.grade_codes == ["A", "B", "C", "D"]
    d = m.describe()
    assert {x["code"] for x in d["dimensions"]} >= {"basic_info", "penalties", "tax_grade", "honours", "objections"}
    assert all(x["rule"] for x in d["dimensions"])


@pytest.mark.parametrize("old,new,needle", [
    ('version: "2026.1"', "version: ''", "version"),
    ("score: {min: 0, max: 1000, base: 700}", "score: {min: 0, max: 1000, base: 2000}", "基础分"),
    ("- {code: D, label: 失信, min: 0,", "- {code: D, label: 失信, min: 10,", "分值下限"),
    ("- {code: B, label: 良好, min: 680,", "- {code: B, label: 良好, min: 800,", "自高到低"),
    ("resources: [admin_penalty]", "resources: [no_such_resource]", "不在信用信息目录"),
    ("severity_points: {serious: -100, general: -30, minor: -10}",
     "severity_points: {serious: -100.5, general: -30, minor: -10}", "整数"),
    ("severity_points: {serious: -100, general: -30, minor: -10}",
     "severity_points: {fatal: -100}", "只能是"),
    ("- {within_months: 24, percent: 50}\n      - {within_months: 36", "- {within_months: 6, percent: 50}\n      - {within_months: 36",
     "逐档递增"),
    ("under_objection: count", "under_objection: maybe", "rules.under_objection"),
    ("    points: -150\n", "    points: -150\n    severity_points: {serious: -1}\n", "只须写一种"),
    ("code: honours", "code: basic_info", "维度代码重复"),
])
def test_invalid_models_are_refused_with_a_chinese_reason(old, new, needle):
    assert old in BASE
    with pytest.raises(ModelError) as exc:
        parse_model(BASE.replace(old, new, 1))
    assert needle in exc.value.message and exc.value.code == "rating_model_invalid"


def test_not_yaml_is_refused():
    with pytest.raises(ModelError, match="YAML"):
        parse_model("a: [1, 2")
    with pytest.raises(ModelError, match="映射"):
        parse_model("- 1\n- 2\n")


@given(st.text(max_size=200))
def test_any_text_either_loads_or_fails_cleanly(text):
    try:
        parse_model(text, check_catalogue=False)
    except ModelError as exc:
        assert exc.issues and all(isinstance(i, str) for i in exc.issues)


@given(st.integers(min_value=-5000, max_value=5000))
def test_every_score_has_exactly_the_grade_of_its_band(score):
    m = load_model()
    g = m.grade_for(score)
    band = next(x for x in m.grades if score >= x.min) if score >= m.score_min else m.grades[-1]
    assert g == band.code


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)), st.integers(min_value=0, max_value=240))
def test_months_before_is_the_same_day_or_month_end(day, months):
    d = months_before(day, months)
    assert (day.year * 12 + day.month) - (d.year * 12 + d.month) == months
    assert d.day == min(day.day, calendar.monthrange(d.year, d.month)[1])
