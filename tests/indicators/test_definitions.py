"""Indicator definitions: the default file, and refusals that say where and how to fix."""

from __future__ import annotations

import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinyong.indicators.definitions import (
    DEFAULT_FILE,
    DefinitionError,
    load_definitions,
    parse_definitions,
)
from xinyong.indicators.measures import MEASURES

GOOD = textwrap.dedent("""\
    indicators:
      - code: demo_rate
        name: 演示指标
        unit: percent
        numerator: {measure: records, filters: {double_publicity: true, on_time: true}}
        denominator: {measure: records, filters: {double_publicity: true}}
        groupings: [department, month]
        target: {value: 0.9, year: 2025, source: 测试}
""")


def test_default_definitions_load_and_cite_a_source():
    defs = load_definitions(DEFAULT_FILE)
    assert len(defs.indicators) >= 15
    for ind in defs:
        if ind.target:
            assert ind.target.source and 2000 < ind.target.year < 2100
        assert ind.name and ind.section
    assert defs.get("enterprise_file_coverage").target.value == 0.85
    assert defs.get("double_publicity_timeliness").target.value == 1.0
    assert defs.get("departments_applying_joint_measures").target.value == 0.95
    assert {i.code for i in defs if i.public} >= {"enterprise_file_coverage", "double_publicity_timeliness"}


def test_good_file_parses():
    ind = parse_definitions(GOOD).get("demo_rate")
    assert ind.numerator.filters == {"double_publicity": True, "on_time": True}
    assert ind.groupings == ("department", "month")


@pytest.mark.parametrize("change, expected", [
    (("measure: records, filters: {double_publicity: true, on_time: true}", "measure: recordz"),
     "（第 5 行，指标 demo_rate）分子的统计量“recordz”不存在"),
    (("on_time: true}", "on_time: 1}"), "只能写 true 或 false"),
    (("{double_publicity: true}}", "{sector: [不存在的领域]}}"), "取值 不存在的领域 不存在"),
    (("[department, month]", "[department, colour]"), "分组“colour”不存在"),
    (("value: 0.9", "value: 90"), "85% 写 0.85"),
    (("source: 测试", "source: ''"), "须注明出处"),
    (("code: demo_rate", "code: Demo-Rate"), "指标代码 code='Demo-Rate' 无效"),
    (("code: demo_rate", "code: league"), "系统保留字"),
    (("    groupings", "    colour: red\n    groupings"), "未知的键 colour"),
    (("measure: records, filters: {double_publicity: true}}", "measure: subjects, filters: {sql: 'DROP TABLE x'}}"),
     "没有条件“sql”"),
])
def test_refusals_say_where_and_how(change, expected):
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(DefinitionError) as exc:
        parse_definitions(text, "x.yaml")
    assert any(expected in p for p in exc.value.problems), exc.value.problems
    assert "x.yaml" in exc.value.message


def test_grouping_a_measure_cannot_split_is_refused():
    text = GOOD.replace("[department, month]", "[sector]").replace(
        "numerator: {measure: records, filters: {double_publicity: true, on_time: true}}",
        "numerator: {measure: departments_submitting}")
    with pytest.raises(DefinitionError) as exc:
        parse_definitions(text)
    assert any("不能按领域分组" in p for p in exc.value.problems)


def test_duplicate_codes_and_yaml_errors():
    twice = GOOD + GOOD.split("\n", 1)[1]
    with pytest.raises(DefinitionError) as exc:
        parse_definitions(twice)
    assert any("重复" in p for p in exc.value.problems)
    with pytest.raises(DefinitionError) as exc:
        parse_definitions("indicators: [\n  - code: x")
    assert "YAML 格式错误" in exc.value.problems[0]


def test_every_measure_is_documented_in_the_default_file():
    text = DEFAULT_FILE.read_text(encoding="utf-8")
    for name in MEASURES:
        assert name in text, f"document measure {name} in default.yaml"


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.floats(allow_nan=True),
                     st.text(max_size=12), st.sampled_from(list(MEASURES) + ["department", "month", "percent",
                                                                             "count", "at_most"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["measure", "filters", "value", "year", "source", "kind", "on_time",
                                     "sector", "column", "within_days", "x"]), inner, max_size=4)), max_leaves=12)
_indicator = st.fixed_dictionaries({}, optional={
    "code": st.one_of(st.from_regex(r"[a-z][a-z0-9_]{1,10}", fullmatch=True), _scalars),
    "name": _scalars, "unit": st.sampled_from(["percent", "count", "ratio", 3]),
    "numerator": _values, "denominator": _values, "groupings": _values, "target": _values,
    "public": _scalars, "league": _scalars})


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_indicator, max_size=3))
def test_any_document_is_loaded_or_refused_with_messages(items):
    text = yaml.safe_dump({"indicators": items}, allow_unicode=True)
    try:
        defs = parse_definitions(text)
    except DefinitionError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
    else:
        assert all(i.numerator.measure in MEASURES for i in defs)
