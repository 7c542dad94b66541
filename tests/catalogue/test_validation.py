"""The validator rejects broken catalogues with Chinese messages naming file and line."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from xinyong.catalogue import (
    DEFAULT_DIR,
    CatalogueError,
    check_catalogue,
    load_catalogue,
    validate_catalogue,
)

MINIMAL = """\
code: {code}
name: 测试资源
category: 行政管理信息
sector: 综合
subject_kinds: [legal_entity]
polarity: {polarity}
disclosure: public
source_departments: [market_regulation]
{basis}natural_key: [record_no]
subject_fields:
  name: subject_name
  uscc: uscc
date_field: record_date
fields:
  - code: record_no
    label: 记录编号
    required: true
  - code: subject_name
    label: 主体名称
    required: true
  - code: uscc
    label: 统一社会信用代码
    type: {uscc_type}
  - code: record_date
    label: 记录日期
    type: date
"""

BASIS = "legal_basis:\n  - 《中华人民共和国行政处罚法》\n"


def write(directory: Path, name: str, *, code: str = "test_resource", polarity: str = "negative",
          basis: str = BASIS, uscc_type: str = "uscc", text: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text if text is not None else
                    MINIMAL.format(code=code, polarity=polarity, basis=basis, uscc_type=uscc_type),
                    encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_minimal_resource_is_valid(tmp_path):
    write(tmp_path, "test_resource.yaml")
    assert validate_catalogue(tmp_path) == []
    catalogue = load_catalogue(tmp_path)
    assert catalogue.codes == ["test_resource"]


def test_negative_resource_without_legal_basis_is_refused(tmp_path):
    path = write(tmp_path, "penalty_like.yaml", basis="")
    issues = validate_catalogue(tmp_path)
    assert len(issues) == 1
    issue = issues[0]
    assert issue.file.endswith("penalty_like.yaml") and issue.path == "legal_basis"
    assert issue.line == line_of(path, "polarity:")  # the key that makes a basis mandatory
    assert issue.message == (f"资源 test_resource 为失信（负面）信息，必须填写法律依据 legal_basis"
                             f"（文件 penalty_like.yaml 第{issue.line}行）")
    assert "penalty_like.yaml" in issue.message and f"第{issue.line}行" in issue.message
    assert str(issue).startswith(f"{issue.file}:{issue.line}: ")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(tmp_path)
    assert info.value.issues == issues
    assert f"penalty_like.yaml:{issue.line}" in info.value.message


def test_list_resource_needs_basis_even_when_positive(tmp_path):
    path = write(tmp_path, "red.yaml", polarity="positive", basis="")
    text = path.read_text(encoding="utf-8").replace("disclosure: public", "disclosure: public\nlist: red")
    path.write_text(text, encoding="utf-8")
    [issue] = validate_catalogue(tmp_path)
    assert "红名单" in issue.message and "legal_basis" in issue.message


def test_basis_is_reported_even_alongside_structural_errors(tmp_path):
    path = write(tmp_path, "both.yaml", basis="", uscc_type="code18")
    messages = [i.message for i in validate_catalogue(tmp_path)]
    assert any("必须填写法律依据" in m for m in messages)
    assert any("code18" in m for m in messages)
    assert path.exists()


def test_unknown_field_type_names_file_line_and_options(tmp_path):
    path = write(tmp_path, "typo.yaml", uscc_type="usc")
    [issue] = validate_catalogue(tmp_path)
    assert issue.path == "fields[2].type"
    assert issue.line == line_of(path, "type: usc")
    assert "未知的字段类型「usc」" in issue.message and "uscc" in issue.message
    assert "typo.yaml" in issue.message and f"第{issue.line}行" in issue.message


def test_duplicate_resource_code_names_both_files(tmp_path):
    write(tmp_path, "a_first.yaml")
    second = write(tmp_path, "b_second.yaml")
    [issue] = validate_catalogue(tmp_path)
    assert issue.file.endswith("b_second.yaml") and issue.line == line_of(second, "code:")
    assert "资源代码 test_resource 重复" in issue.message
    assert "a_first.yaml" in issue.message and "b_second.yaml" in issue.message


def test_yaml_syntax_error_has_line(tmp_path):
    write(tmp_path, "broken.yaml", text="code: x\nname: [未闭合\nfields:\n  - code: a\n")
    [issue] = validate_catalogue(tmp_path)
    assert issue.line and issue.line >= 2
    assert "YAML 语法错误" in issue.message and "broken.yaml" in issue.message


def test_duplicate_yaml_key_is_reported(tmp_path):
    path = write(tmp_path, "dup.yaml")
    path.write_text(path.read_text(encoding="utf-8") + "sector: 税务\n", encoding="utf-8")
    [issue] = validate_catalogue(tmp_path)
    assert "键 sector 重复出现" in issue.message
    assert issue.line == len(path.read_text(encoding="utf-8").splitlines())


def test_unknown_and_missing_keys(tmp_path):
    path = write(tmp_path, "keys.yaml")
    text = path.read_text(encoding="utf-8").replace("sector: 综合\n", "sektor: 综合\n")
    path.write_text(text, encoding="utf-8")
    issues = validate_catalogue(tmp_path)
    messages = {i.path: i for i in issues}
    assert "未知的键 sektor" in messages["sektor"].message and "sector" in messages["sektor"].message
    assert messages["sektor"].line == line_of(path, "sektor")
    assert "缺少必填项 sector" in messages["sector"].message


def _mutate(tmp_path: Path, old: str, new: str, name: str = "r.yaml") -> list:
    path = write(tmp_path, name)
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return validate_catalogue(tmp_path)


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("category: 行政管理信息", "category: 行政信息", "未知的信息类别「行政信息」"),
    ("subject_kinds: [legal_entity]", "subject_kinds: [company]", "未知的主体类型「company」"),
    ("source_departments: [market_regulation]", "source_departments: [moon_bureau]",
     "数据来源单位代码 moon_bureau 不存在"),
    ("natural_key: [record_no]", "natural_key: [record_id]", "natural_key 引用了不存在的字段 record_id"),
    ("  uscc: uscc\n", "  uscc: usc_code\n", "subject_fields.uscc 引用了不存在的字段 usc_code"),
    ("date_field: record_date", "date_field: record_day", "date_field 引用了不存在的字段 record_day"),
    ("date_field: record_date", "date_field: record_no", "类型应为 date"),
    ("    label: 主体名称\n", "    label: 记录编号\n", "导入时无法区分表头"),
    ("  - code: subject_name\n", "  - code: record_no\n", "字段代码 record_no 重复"),
    ("    label: 记录编号\n    required: true\n", "    label: 记录编号\n    type: enum\n    required: true\n",
     "没有列出取值"),
    ("    label: 记录编号\n", "    label: 记录编号\n    pattern: '^[0-9'\n", "正则表达式 pattern 无效"),
    ("  uscc: uscc\n", "  uscc: uscc\n  citizen_id: record_no\n", "必须设置 personal: true"),
    ("subject_kinds: [legal_entity]", "subject_kinds: [legal_entity, natural_person]",
     "subject_fields 必须指定 citizen_id"),
    ("polarity: negative", "polarity: positive\nlist: black", "polarity 应为 negative"),
    ("disclosure: public", "disclosure: government\ndouble_publicity: true", "disclosure 必须为 public"),
    ("code: test_resource", "code: Test-Resource", "格式不对"),
])
def test_semantic_checks(tmp_path, old, new, expected):
    issues = _mutate(tmp_path, old, new)
    assert issues, expected
    assert any(expected in i.message for i in issues), [i.message for i in issues]
    for issue in issues:
        assert "r.yaml" in issue.message and issue.line


WINDOW = """\
disclosure_window:
  basis: 测试依据
  severity_rules:
    - severity: serious
      when: {kind: [严重]}
    - severity: general
  periods:
    general: {min_months: 3, max_months: 12}
    serious: {min_months: 12, max_months: 36}
"""

KIND_FIELD = """\
  - code: kind
    label: 情节
    type: enum
    enum: [一般, 严重]
"""


def _with_window(tmp_path: Path, window: str) -> tuple[Path, list]:
    path = write(tmp_path, "w.yaml")
    text = path.read_text(encoding="utf-8").replace("\nfields:\n", "\n" + window + "fields:\n") + KIND_FIELD
    path.write_text(text, encoding="utf-8")
    return path, validate_catalogue(tmp_path)


def test_valid_disclosure_window(tmp_path):
    _, issues = _with_window(tmp_path, WINDOW)
    assert issues == []
    r = load_catalogue(tmp_path).get("test_resource")
    assert r.severity_of({"kind": "严重"}) == "serious"
    assert r.disclosure_period({"kind": "一般"}).max_months == 12


@pytest.mark.parametrize(("old", "new", "expected", "needle"), [
    ("{min_months: 12, max_months: 36}", "{min_months: 40, max_months: 36}", "最短期限 min_months=40 大于最长期限",
     "serious: {min_months: 40"),
    ("when: {kind: [严重]}", "when: {level: [严重]}", "severity_rules 引用了不存在的字段 level", "when: {level"),
    ("when: {kind: [严重]}", "when: {kind: [特别严重]}", "取值「特别严重」不在其 enum 中", "when: {kind"),
    ("    - severity: general\n", "    - severity: general\n      when: {kind: [一般]}\n", "兜底", "severity_rules:"),
    ("    - severity: serious\n", "    - severity: grave\n", "严重程度 grave 没有在 periods 中定义", "severity: grave"),
])
def test_disclosure_window_checks(tmp_path, old, new, expected, needle):
    path, _ = _with_window(tmp_path, WINDOW.replace(old, new))
    issues = validate_catalogue(tmp_path)
    match = [i for i in issues if expected in i.message]
    assert match, [i.message for i in issues]
    assert match[0].line == line_of(path, needle)


def test_departments_file_is_overridable(tmp_path):
    write(tmp_path / "cat", "r.yaml")
    depts = tmp_path / "depts.yaml"
    depts.write_text("departments:\n  - code: only_this\n    name: 测试局\n", encoding="utf-8")
    issues = validate_catalogue(tmp_path / "cat", departments_file=depts)
    assert any("market_regulation 不存在" in i.message for i in issues)
    assert validate_catalogue(tmp_path / "cat", departments={"market_regulation"}) == []


def test_missing_directory_and_empty_directory(tmp_path):
    [issue] = validate_catalogue(tmp_path / "nope")
    assert "不存在" in issue.message
    (tmp_path / "empty").mkdir()
    [issue] = validate_catalogue(tmp_path / "empty")
    assert "没有任何资源文件" in issue.message


def test_meta_file_and_reserved_names(tmp_path):
    write(tmp_path, "r.yaml")
    (tmp_path / "_catalogue.yaml").write_text("name: 测试目录\nedition: 2025\n", encoding="utf-8")
    catalogue, issues = check_catalogue(tmp_path)
    assert issues == [] and catalogue.name == "测试目录" and catalogue.edition == "2025"
    (tmp_path / "_notes.yaml").write_text("a: 1\n", encoding="utf-8")
    [issue] = validate_catalogue(tmp_path)
    assert "保留" in issue.message and issue.file.endswith("_notes.yaml")


def test_version_changes_with_content(tmp_path):
    shutil.copy(DEFAULT_DIR / "admin_penalty.yaml", tmp_path / "admin_penalty.yaml")
    before = load_catalogue(tmp_path).version
    assert load_catalogue(tmp_path).version == before
    path = tmp_path / "admin_penalty.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("name: 行政处罚信息", "name: 行政处罚"),
                    encoding="utf-8")
    assert load_catalogue(tmp_path).version != before


def test_adding_a_resource_needs_no_code(tmp_path):
    for name in ("admin_penalty.yaml", "admin_license.yaml"):
        shutil.copy(DEFAULT_DIR / name, tmp_path / name)
    (tmp_path / "parking_arrears.yaml").write_text(textwrap.dedent("""\
        code: parking_arrears
        name: 停车费欠缴信息
        category: 合同履行信息
        sector: 城市管理
        subject_kinds: [legal_entity]
        polarity: negative
        disclosure: government
        source_departments: [urban_management]
        legal_basis: [《中华人民共和国民法典》]
        natural_key: [bill_no]
        subject_fields: {name: subject_name, uscc: uscc}
        date_field: bill_date
        fields:
          - {code: bill_no, label: 账单编号, required: true}
          - {code: subject_name, label: 单位名称, required: true}
          - {code: uscc, label: 统一社会信用代码, type: uscc, required: true}
          - {code: bill_date, label: 账单日期, type: date, required: true}
        """), encoding="utf-8")
    catalogue = load_catalogue(tmp_path)
    assert catalogue.get("parking_arrears").field_by_header("单位名称 ").code == "subject_name"
