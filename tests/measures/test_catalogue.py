"""The measures catalogue: the default set, and validation like the information catalogue's —
every problem named with file, line and a Chinese message; no legal basis, no measure."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinyong.catalogue import load_catalogue
from xinyong.measures.loader import DEFAULT_DIR, MeasuresError, load_measures, validate_measures
from xinyong.measures.schemas import STRENGTHS


def test_default_catalogue_is_realistic():
    mc = load_measures()
    assert len(mc.measures) >= 30
    assert all(m.legal_basis for m in mc.measures.values())
    kinds = {m.kind for m in mc.measures.values()}
    assert kinds == {"reward", "punishment"}
    # Every default list has a measure, and every scenario is used.
    lists = {r.code for r in load_catalogue().lists()}
    triggered = {t.list_ for m in mc.measures.values() for t in m.triggers if t.list_}
    assert lists <= triggered
    used = {s for m in mc.measures.values() for s in m.scenarios}
    assert set(mc.scenarios) == used
    types = {t.type for m in mc.measures.values() for t in m.triggers}
    assert types == {"list", "record", "grade", "commitment_breach"}


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "measures"
    shutil.copytree(DEFAULT_DIR, target)
    return target


def _write(folder: Path, name: str, measures: list[dict]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"measures": measures}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


BASE = {"code": "x_measure", "name": "测试措施", "kind": "punishment", "strength": "限制", "text": "限制参加活动。",
        "triggers": [{"list": "dishonest_judgment_debtors"}], "scenarios": ["bidding"], "departments": ["finance"],
        "legal_basis": ["《某某条例》第一条"]}


def test_measure_without_legal_basis_is_refused_naming_file_and_measure(tmp_path):
    folder = _copy(tmp_path)
    _write(folder, "zz_new.yaml", [{**BASE, "legal_basis": []}])
    issues = validate_measures(folder)
    assert len(issues) == 1
    msg = issues[0].message
    assert "x_measure" in msg and "测试措施" in msg and "法律依据" in msg and "zz_new.yaml" in msg
    with pytest.raises(MeasuresError) as e:
        load_measures(folder)
    assert "联合奖惩措施清单校验失败" in e.value.message
    # Missing altogether (and another key wrong) is still named as a missing basis.
    item = {k: v for k, v in BASE.items() if k != "legal_basis"}
    _write(folder, "zz_new.yaml", [{**item, "strength": 5}])
    messages = [i.message for i in validate_measures(folder)]
    assert any("x_measure" in m and "法律依据" in m for m in messages), messages


@pytest.mark.parametrize("change, words", [
    ({"triggers": [{"list": "tax_a_grade_taxpayers"}]}, ["红名单"]),
    ({"triggers": [{"list": "admin_penalty"}]}, ["不是名单"]),
    ({"triggers": [{"record": "honours"}]}, ["失信"]),
    ({"triggers": [{"record": "admin_penalty", "severity": ["huge"]}]}, ["严重程度", "huge"]),
    ({"triggers": [{"record": "admin_penalty", "when": {"nope": ["x"]}}]}, ["nope"]),
    ({"triggers": [{"grade": ["E"]}]}, ["等级", "E"]),
    ({"triggers": [{"commitment_breach": {"domains": ["火星"]}}]}, ["承诺领域", "火星"]),
    ({"triggers": [{"list": "dishonest_judgment_debtors", "record": "admin_penalty"}]}, ["只能写"]),
    ({"scenarios": ["lottery"]}, ["应用场景", "lottery"]),
    ({"departments": ["nasa"]}, ["实施部门", "nasa"]),
    ({"strength": "绿色通道"}, ["强度"]),
    ({"kind": "reward", "strength": "优先办理", "triggers": [{"commitment_breach": {}}]}, ["不能由承诺未履行触发"]),
])
def test_cross_references_are_checked(tmp_path, change, words):
    folder = _copy(tmp_path)
    path = _write(folder, "zz_new.yaml", [{**BASE, **change}])
    issues = validate_measures(folder)
    assert issues, change
    text = " ".join(i.message for i in issues)
    for w in words:
        assert w in text, text
    assert all(i.file == str(path) and i.line for i in issues)


def test_grade_triggers_validate_against_the_scale(tmp_path):
    folder = _copy(tmp_path)
    _write(folder, "zz_new.yaml", [{**BASE, "triggers": [{"grade": "D"}], "scenarios": ["routine_supervision"]}])
    mc = load_measures(folder)
    assert mc.measures["x_measure"].triggers[0].grade == ["D"]


def test_duplicate_codes_and_syntax_errors(tmp_path):
    folder = _copy(tmp_path)
    _write(folder, "zz_new.yaml", [{**BASE, "code": "jd_procurement_ban"}])
    assert any("重复" in i.message for i in validate_measures(folder))
    (folder / "zz_new.yaml").write_text("measures:\n  - code: a\n   name: b\n", encoding="utf-8")
    issues = validate_measures(folder)
    assert issues and "YAML 语法错误" in issues[0].message and issues[0].line


def test_meta_file_is_required(tmp_path):
    folder = _copy(tmp_path)
    (folder / "_measures.yaml").unlink()
    assert any("_measures.yaml" in i.message for i in validate_measures(folder))


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["reward", "punishment", "bonus"]),
       strength=st.sampled_from([*STRENGTHS["reward"], *STRENGTHS["punishment"], "随便"]),
       basis=st.lists(_text, max_size=2), code=st.from_regex(r"[a-zA-Z_][a-z0-9_]{0,8}", fullmatch=True))
def test_any_measure_either_loads_or_is_refused_with_chinese_reasons(tmp_path_factory, kind, strength, basis, code):
    folder = _copy(tmp_path_factory.mktemp("m"))
    trigger = {"list": "tax_a_grade_taxpayers"} if kind == "reward" else {"list": "dishonest_judgment_debtors"}
    _write(folder, "zz_new.yaml", [{**BASE, "code": code, "kind": kind, "strength": strength,
                                    "triggers": [trigger], "legal_basis": basis}])
    issues = validate_measures(folder)
    valid = (kind in STRENGTHS and strength in STRENGTHS[kind] and basis and all(b.strip() for b in basis)
             and code[0].islower() and code not in load_measures().measures)
    if valid:
        assert issues == [] and code in load_measures(folder).measures
    else:
        assert issues
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in i.message) for i in issues)
    if not any(b.strip() for b in basis):
        assert any("法律依据" in i.message for i in issues)
