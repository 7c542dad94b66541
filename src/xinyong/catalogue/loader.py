"""Load and validate the catalogue YAML files.

``validate_catalogue`` returns every problem it finds, each with file, line, YAML path and a
Chinese message that says how to fix it. ``load_catalogue`` refuses a catalogue with any
problem (``CatalogueError``): a broken catalogue must fail loudly, never half-load.
"""

from __future__ import annotations

import re
import threading
import types
import typing
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from xinyong.errors import ConfigurationError

from .schemas import (
    CATEGORIES,
    FIELD_TYPES,
    SUBJECT_KINDS,
    Catalogue,
    CatalogueMeta,
    Resource,
    iter_condition_refs,
    normalize_header,
)

DEFAULT_DIR = Path(__file__).resolve().parent / "default"
DEFAULT_DEPARTMENTS_FILE = Path(__file__).resolve().parents[1] / "departments" / "default.yaml"
META_FILE = "_catalogue.yaml"

# Field types whose values are personal data by nature.
_PERSONAL_TYPES = {"citizen_id", "phone"}


@dataclass(frozen=True)
class CatalogueIssue:
    """One problem in the catalogue files."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CatalogueError(ConfigurationError):
    """The catalogue cannot be loaded; ``issues`` lists every problem."""

    code = "catalogue_invalid"

    def __init__(self, issues: list[CatalogueIssue]) -> None:
        self.issues = list(issues)
        lines = "\n".join(f"  {i}" for i in self.issues)
        super().__init__(
            f"信用信息目录校验失败，共 {len(self.issues)} 个问题，请逐条修正后重试：\n{lines}",
            details=[i.to_dict() for i in self.issues],
        )


# --- YAML with line numbers ---------------------------------------------------------------------


class _LineMap:
    """Maps a YAML path (``fields[3].type``) to the 1-based line where it is written."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.lines: dict[str, int] = {}
        self.duplicates: list[tuple[str, int, int]] = []
        if root is not None:
            self.lines[""] = root.start_mark.line + 1
            self._walk(root, "")

    def _walk(self, node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = str(key_node.value)
                path = f"{prefix}.{key}" if prefix else key
                line = key_node.start_mark.line + 1
                if path in self.lines:
                    self.duplicates.append((path, self.lines[path], line))
                self.lines[path] = line
                self._walk(value_node, path)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                path = f"{prefix}[{i}]"
                self.lines[path] = item.start_mark.line + 1
                self._walk(item, path)

    def line(self, path: str) -> int | None:
        """Line of ``path``, or of its nearest written ancestor (a missing key → its parent)."""
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""


class _FileReport:
    """Collects issues for one file, adding the file name and line to every message."""

    def __init__(self, path: Path, display: str, issues: list[CatalogueIssue]) -> None:
        self.path = path
        self.display = display
        self.name = path.name
        self.issues = issues
        self.lines = _LineMap(None)

    def add(self, path: str, message: str, line: int | None = None) -> None:
        line = line if line is not None else self.lines.line(path)
        where = f"（文件 {self.name} 第{line}行）" if line else f"（文件 {self.name}）"
        self.issues.append(CatalogueIssue(self.display, line, path, f"{message}{where}"))


# libyaml when available: the pure-Python parser makes loading ~10x slower.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_YAML_PROBLEMS = {  # libyaml and pure-Python wordings of the usual mistakes
    "mapping values are not allowed here": "此处不能出现“键: 值”（多半是缩进不对，或值里有未加引号的冒号）",
    "mapping values are not allowed in this context": "此处不能出现“键: 值”（多半是缩进不对，或值里有未加引号的冒号）",
    "found character '\\t' that cannot start any token": "不能用制表符（Tab）缩进，请改用空格",
    "found character that cannot start any token": "出现了不能开始一个值的字符（常见原因：用制表符 Tab 缩进，或以 @、` 开头而未加引号）",
    "could not find expected ':'": "缺少冒号“:”",
    "did not find expected key": "缩进不一致，未找到预期的键",
    "did not find expected '-' indicator": "列表项“-”的缩进与上文不一致",
    "found unexpected end of stream": "文件意外结束（引号或括号未闭合）",
    "did not find expected ',' or ']'": "方括号 [ ] 未闭合，或列表项之间缺少逗号",
    "did not find expected ',' or '}'": "花括号 { } 未闭合，或键值对之间缺少逗号",
    "expected ',' or ']', but got '<stream end>'": "方括号 [ ] 未闭合",
    "expected ',' or '}', but got '<stream end>'": "花括号 { } 未闭合",
}


def _read_yaml(report: _FileReport) -> Any:
    """Parse one file; record syntax errors and duplicate keys. Returns None on failure."""
    try:
        text = report.path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        report.add("", "文件不是 UTF-8 编码，请以 UTF-8 保存", line=1)
        return None
    except OSError as exc:
        report.add("", f"无法读取文件：{exc.strerror or exc}", line=None)
        return None
    loader = _Loader(text)
    try:
        # One parse: the node tree gives the line numbers, the same tree gives the data.
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "无法解析"
        problem = _YAML_PROBLEMS.get(problem, problem)
        report.add("", f"YAML 语法错误：{problem}。请检查该行的缩进、冒号后的空格和引号是否成对", line=line)
        return None
    except yaml.YAMLError as exc:
        report.add("", f"YAML 语法错误：{exc}", line=None)
        return None
    finally:
        loader.dispose()
    report.lines = _LineMap(root)
    for path, first, again in report.lines.duplicates:
        report.add(path, f"键 {path} 重复出现（第{first}行与第{again}行），后者会覆盖前者，请删除其中之一",
                   line=again)
    if data is None:
        report.add("", "文件为空，请填写资源定义或删除该文件", line=1)
        return None
    if not isinstance(data, dict):
        report.add("", "文件顶层应为键值映射（code: …、name: … 等），而不是列表或单个值", line=1)
        return None
    return data


# --- pydantic errors → Chinese --------------------------------------------------------------------


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and ("[" in part or "-" in part):
            continue  # pydantic-internal segments such as "[key]" or "function-before[...]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _type_at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The annotation at a pydantic error location (to list allowed keys and values)."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(part, str) and ("[" in part or "-" in part):
            continue
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            match = next((f for n, f in tp.model_fields.items() if part in (n, f.alias)), None)
            if match is None:
                return None
            tp = match.annotation
        elif typing.get_origin(tp) is list:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    return _unwrap(tp)


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    tp = _type_at(model, loc)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


_TYPE_NAMES = {
    "string_type": "文本", "int_type": "整数", "int_parsing": "整数", "bool_type": "true 或 false",
    "bool_parsing": "true 或 false", "list_type": "列表（- 项 或 [a, b]）", "dict_type": "键值映射",
    "model_type": "键值映射", "model_attributes_type": "键值映射", "float_type": "数值",
}

_VALUE_HINTS = {
    "category": "，即全国公共信用信息基础目录的类别：" + "、".join(CATEGORIES),
    "subject_kinds": "（" + "、".join(f"{k}={v}" for k, v in SUBJECT_KINDS.items()) + "）",
    "type": "（" + "、".join(f"{k}={v}" for k, v in FIELD_TYPES.items()) + "）",
}


def _translate(model: type[BaseModel], error: dict[str, Any]) -> tuple[str, str]:
    loc = tuple(error["loc"])
    path = _loc_to_path(loc)
    key = path.rsplit(".", 1)[-1] if path else "（顶层）"
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        return path, f"缺少必填项 {key}，请补上"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        hint = f"；此处可用的键：{'、'.join(allowed)}" if allowed else ""
        return path, f"未知的键 {key}，请检查拼写或删除它{hint}"
    if kind == "literal_error":
        tp = _type_at(model, loc)
        options = [str(a) for a in typing.get_args(tp)] if typing.get_origin(tp) is typing.Literal else []
        bare = re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]
        what = {"type": "字段类型", "category": "信息类别", "subject_kinds": "主体类型"}.get(bare, key)
        listed = "、".join(options) if options else error.get("ctx", {}).get("expected", "")
        return path, f"未知的{what}「{value}」，可选值：{listed}{_VALUE_HINTS.get(bare, '')}"
    if kind == "string_pattern_mismatch":
        return path, (f"{key} 的取值「{value}」格式不对：代码只能由小写字母、数字和下划线组成，"
                      f"并以字母开头（如 admin_penalty）")
    if kind == "too_short":
        return path, f"{key} 不能为空，请至少填写一项"
    if kind in ("greater_than", "greater_than_equal"):
        bound = error.get("ctx", {}).get("gt", error.get("ctx", {}).get("ge"))
        op = ">" if kind == "greater_than" else "≥"
        return path, f"{key} 必须 {op} {bound}，当前为「{value}」"
    if kind in _TYPE_NAMES:
        return path, f"{key} 应为{_TYPE_NAMES[kind]}，当前为「{value}」"
    return path, f"{key} 无效：{error.get('msg')}"


# --- semantic checks ----------------------------------------------------------------------------


def _check_resource(r: Resource, rep: _FileReport, departments: frozenset[str] | None) -> None:
    codes = {f.code for f in r.fields}
    where = f"资源 {r.code}"

    # Fields: duplicates (codes and any header the field answers to), types, enums, patterns.
    seen_code: dict[str, int] = {}
    seen_header: dict[str, tuple[int, str]] = {}
    for i, f in enumerate(r.fields):
        p = f"fields[{i}]"
        if f.code in seen_code:
            rep.add(f"{p}.code", f"{where} 的字段代码 {f.code} 重复（fields[{seen_code[f.code]}] 与 "
                                 f"fields[{i}]），请改名其中之一")
        seen_code.setdefault(f.code, i)
        for text in dict.fromkeys((f.label, f.code, *f.aliases)):
            key = normalize_header(text)
            other = seen_header.get(key)
            if other and other[0] != i:
                prev = r.fields[other[0]]
                rep.add(f"{p}.label" if text == f.label else f"{p}.aliases",
                        f"{where} 的字段 {f.code} 的名称「{text}」与字段 {prev.code} 的「{other[1]}」相同，"
                        f"导入时无法区分表头，请修改标签或别名")
            seen_header.setdefault(key, (i, text))
        if f.type == "enum" and not f.enum:
            rep.add(f"{p}.type", f"{where} 的字段 {f.code} 类型为 enum，但没有列出取值，请填写 enum: [...]")
        if f.enum and f.type != "enum":
            rep.add(f"{p}.enum", f"{where} 的字段 {f.code} 填写了 enum 取值，但类型为 {f.type}；"
                                 f"请把 type 改为 enum，或删除 enum")
        if f.multiple and f.type != "enum":
            rep.add(f"{p}.multiple", f"{where} 的字段 {f.code} 设置了 multiple，只有 enum 类型的字段可以多选")
        if f.enum:
            values = [o.value for o in f.enum]
            dups = sorted({v for v in values if values.count(v) > 1})
            if dups:
                rep.add(f"{p}.enum", f"{where} 的字段 {f.code} 的取值重复：{'、'.join(dups)}")
        if f.pattern is not None:
            try:
                re.compile(f.pattern)
            except re.error as exc:
                rep.add(f"{p}.pattern", f"{where} 的字段 {f.code} 的正则表达式 pattern 无效：{exc}；"
                                        f"请修正（YAML 中建议用单引号括起）")
        if f.required and f.required_when:
            rep.add(f"{p}.required_when", f"{where} 的字段 {f.code} 同时设置了 required: true 和 "
                                          f"required_when，请只保留其一")
        personal_type = f.type in _PERSONAL_TYPES or bool(set(f.validate_as or {}) & _PERSONAL_TYPES)
        if personal_type and not f.personal:
            rep.add(f"{p}.personal", f"{where} 的字段 {f.code} 是个人信息（{FIELD_TYPES.get(f.type, f.type)}），"
                                     f"必须设置 personal: true，以便加密存储并脱敏展示")

    # Conditions must name existing fields, and existing enum values.
    for path, what, cond in iter_condition_refs(r):
        for code, values in cond.items():
            if code not in codes:
                rep.add(f"{path}.{code}", f"{where} 的 {what} 引用了不存在的字段 {code}，"
                                          f"请使用本资源 fields 中的字段代码")
                continue
            target = r.field(code)
            if target.enum:
                bad = [v for v in values if target.match_enum(v) is None]
                if bad:
                    rep.add(f"{path}.{code}", f"{where} 的 {what} 中字段 {code} 的取值「{'、'.join(bad)}」"
                                              f"不在其 enum 中（可选：{'、'.join(target.enum_values)}）")

    # Keys, subject identification and dates.
    for j, code in enumerate(r.natural_key):
        if code not in codes:
            rep.add(f"natural_key[{j}]", f"{where} 的 natural_key 引用了不存在的字段 {code}")
    if len(set(r.natural_key)) != len(r.natural_key):
        rep.add("natural_key", f"{where} 的 natural_key 中有重复的字段")
    for role, code in r.subject_fields.referenced().items():
        if code not in codes:
            rep.add(f"subject_fields.{role}", f"{where} 的 subject_fields.{role} 引用了不存在的字段 {code}")
    sf = r.subject_fields
    if sf.citizen_id and sf.citizen_id in codes and not r.field(sf.citizen_id).personal:
        rep.add("subject_fields.citizen_id", f"{where} 用字段 {sf.citizen_id} 识别自然人，该字段必须设置 "
                                             f"personal: true")
    kinds = set(r.subject_kinds)
    if kinds & {"legal_entity", "individual_business"} and not sf.uscc:
        rep.add("subject_fields", f"{where} 适用于法人或个体工商户，subject_fields 必须指定 uscc（统一社会信用代码字段）")
    if "natural_person" in kinds and not sf.citizen_id:
        rep.add("subject_fields", f"{where} 适用于自然人，subject_fields 必须指定 citizen_id（证件号码字段）")
    if "natural_person" in kinds and len(kinds) > 1 and not sf.category:
        rep.add("subject_fields", f"{where} 同时适用于自然人和组织，subject_fields 必须指定 category（主体类别字段），"
                                  f"以便区分两类主体")
    if sf.category and sf.category in codes:
        cat = r.field(sf.category)
        if cat.enum:
            missing = [SUBJECT_KINDS[k] for k in r.subject_kinds if cat.match_enum(SUBJECT_KINDS[k]) is None]
            if missing:
                rep.add("subject_fields.category", f"{where} 的主体类别字段 {cat.code} 缺少取值"
                                                   f"「{'、'.join(missing)}」（与 subject_kinds 对应）")
    for attr in ("date_field", "valid_until_field"):
        code = getattr(r, attr)
        if code is None:
            continue
        if code not in codes:
            rep.add(attr, f"{where} 的 {attr} 引用了不存在的字段 {code}")
        elif r.field(code).type != "date":
            rep.add(attr, f"{where} 的 {attr} 指向的字段 {code} 类型应为 date")

    # Departments.
    if departments is not None:
        for j, dept in enumerate(r.source_departments):
            if dept not in departments:
                rep.add(f"source_departments[{j}]", f"{where} 的数据来源单位代码 {dept} 不存在；请使用部门名录中已登记的"
                                                    f"单位代码，或先用 xinyong departments add 登记该单位")

    # Lawfulness: negative information and lists need a legal basis.
    basis = [b for b in r.legal_basis if b and b.strip()]
    if len(basis) != len(r.legal_basis):
        rep.add("legal_basis", f"{where} 的 legal_basis 中有空白条目，请删除或补全")
    if r.polarity == "negative" and not basis:
        rep.add("legal_basis", f"资源 {r.code} 为失信（负面）信息，必须填写法律依据 legal_basis",
                line=_basis_line(rep))
    elif r.list_kind and not basis:
        list_name = {"red": "红名单", "black": "黑名单", "watch": "重点关注名单"}[r.list_kind]
        rep.add("legal_basis", f"资源 {r.code} 为{list_name}，必须填写认定依据 legal_basis", line=_basis_line(rep))
    if r.list_kind in ("black", "watch") and r.polarity != "negative":
        rep.add("polarity", f"{where} 为{'黑名单' if r.list_kind == 'black' else '重点关注名单'}，polarity 应为 negative")
    if r.list_kind == "red" and r.polarity != "positive":
        rep.add("polarity", f"{where} 为红名单，polarity 应为 positive")
    if r.double_publicity and r.disclosure != "public":
        rep.add("disclosure", f"{where} 属于双公示，disclosure 必须为 public")

    # Disclosure window.
    w = r.disclosure_window
    if w is not None:
        for sev, period in w.periods.items():
            if period.max_months is not None and period.min_months > period.max_months:
                rep.add(f"disclosure_window.periods.{sev}",
                        f"{where} 公示期 {sev} 的最短期限 min_months={period.min_months} 大于最长期限 "
                        f"max_months={period.max_months}，请调整")
        for j, rule in enumerate(w.severity_rules):
            if rule.severity not in w.periods:
                rep.add(f"disclosure_window.severity_rules[{j}].severity",
                        f"{where} 的严重程度 {rule.severity} 没有在 periods 中定义公示期"
                        f"（已定义：{'、'.join(w.periods)}）")
        if w.severity_rules and w.severity_rules[-1].when:
            rep.add("disclosure_window.severity_rules",
                    f"{where} 的 severity_rules 最后一条应不带 when，作为兜底规则（如 - {{severity: general}}）")
        if not w.severity_rules and len(w.periods) != 1:
            rep.add("disclosure_window.periods",
                    f"{where} 定义了多个公示期但没有 severity_rules，无法确定适用哪一个；请补充规则或只保留一个")
        if w.start_field is not None:
            if w.start_field not in codes:
                rep.add("disclosure_window.start_field", f"{where} 的 disclosure_window.start_field 引用了不存在的字段 "
                                                         f"{w.start_field}")
            elif r.field(w.start_field).type != "date":
                rep.add("disclosure_window.start_field", f"{where} 的公示期起算字段 {w.start_field} 类型应为 date")


def _basis_line(rep: _FileReport) -> int | None:
    # An absent legal_basis is best pointed at the key that makes it mandatory.
    lines = rep.lines.lines
    return lines.get("legal_basis") or lines.get("polarity") or lines.get("list") or rep.lines.line("")


def _check_raw_basis(data: dict[str, Any], rep: _FileReport) -> None:
    """The lawfulness rule, checked even when the file has other structural errors."""
    basis = data.get("legal_basis")
    has_basis = isinstance(basis, list) and any(isinstance(b, str) and b.strip() for b in basis)
    if has_basis:
        return
    code = data.get("code", rep.path.stem)
    if data.get("polarity") == "negative":
        rep.add("legal_basis", f"资源 {code} 为失信（负面）信息，必须填写法律依据 legal_basis",
                line=_basis_line(rep))
    elif data.get("list") in ("red", "black", "watch"):
        rep.add("legal_basis", f"资源 {code} 为名单类资源，必须填写认定依据 legal_basis", line=_basis_line(rep))


# --- directory scan -----------------------------------------------------------------------------


def known_department_codes(path: Path | str | None = None) -> frozenset[str]:
    """Department codes registered in the departments YAML (``departments/default.yaml``)."""
    file = Path(path) if path else DEFAULT_DEPARTMENTS_FILE
    data = yaml.safe_load(file.read_text(encoding="utf-8-sig")) or {}
    items = data.get("departments", []) if isinstance(data, dict) else data
    return frozenset(str(d["code"]) for d in items if isinstance(d, dict) and d.get("code"))


def _resource_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def _scan(directory: Path, departments_file: Path | str | None,
          departments: frozenset[str] | None = None) -> tuple[Catalogue | None, list[CatalogueIssue]]:
    issues: list[CatalogueIssue] = []
    if not directory.is_dir():
        issues.append(CatalogueIssue(str(directory), None, "", f"目录 {directory} 不存在或不是文件夹，请检查路径"))
        return None, issues

    if departments is None:
        dept_path = Path(departments_file) if departments_file else DEFAULT_DEPARTMENTS_FILE
        try:
            departments = known_department_codes(dept_path)
        except (OSError, yaml.YAMLError, TypeError, KeyError) as exc:
            issues.append(CatalogueIssue(str(dept_path), None, "",
                                         f"无法读取部门名录 {dept_path.name}（{exc}），无法校验数据来源单位代码"))
            departments = None

    meta = CatalogueMeta()
    resources: dict[str, Resource] = {}
    origin: dict[str, tuple[str, int | None]] = {}
    files = _resource_files(directory)
    for path in files:
        rep = _FileReport(path, str(path), issues)
        if path.name.startswith("_") and path.name != META_FILE:
            rep.add("", f"以下划线开头的文件名保留给目录元数据（只允许 {META_FILE}），请改名", line=1)
            continue
        data = _read_yaml(rep)
        if data is None:
            continue
        model: type[BaseModel] = CatalogueMeta if path.name == META_FILE else Resource
        try:
            obj = model.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                p, msg = _translate(model, err)
                what = "目录元数据" if model is CatalogueMeta else f"资源 {data.get('code', path.stem)}"
                rep.add(p, f"{what}：{msg}")
            if model is Resource:
                _check_raw_basis(data, rep)
            continue
        if isinstance(obj, CatalogueMeta):
            meta = obj
            continue
        assert isinstance(obj, Resource)
        _check_resource(obj, rep, departments)
        line = rep.lines.line("code")
        if obj.code in resources:
            first_file, first_line = origin[obj.code]
            rep.add("code", f"资源代码 {obj.code} 重复：{Path(first_file).name} 第{first_line}行 与 {path.name} "
                            f"第{line}行 都定义了它；资源代码在整个目录中必须唯一，请改名其中之一")
            continue
        resources[obj.code] = obj
        origin[obj.code] = (str(path), line)

    if not any(not p.name.startswith("_") for p in files):
        issues.append(CatalogueIssue(str(directory), None, "",
                                     f"目录 {directory} 中没有任何资源文件（*.yaml），请至少定义一个资源"))
    if issues:
        return None, issues
    catalogue = Catalogue(name=meta.name, edition=meta.edition, description=meta.description,
                          excluded=meta.excluded, resources=resources)
    return catalogue, issues


def _resolve_dir(directory: Path | str | None) -> Path:
    if directory is not None:
        return Path(directory)
    try:
        from xinyong.config import get_settings

        configured = get_settings().catalogue_dir
    except Exception:  # settings are optional here: a broken env must not hide the catalogue
        configured = None
    return Path(configured) if configured else DEFAULT_DIR


def check_catalogue(directory: Path | str | None = None, *,
                    departments_file: Path | str | None = None,
                    departments: frozenset[str] | set[str] | None = None,
                    ) -> tuple[Catalogue | None, list[CatalogueIssue]]:
    """Validate and build in one pass: the catalogue (None if any issue) and every issue."""
    return _scan(_resolve_dir(directory), departments_file,
                 frozenset(departments) if departments is not None else None)


def validate_catalogue(directory: Path | str | None = None, *,
                       departments_file: Path | str | None = None,
                       departments: frozenset[str] | set[str] | None = None) -> list[CatalogueIssue]:
    """Every problem in the catalogue at ``directory`` (default: the configured/default one).

    Department codes come from ``departments`` when given, else from ``departments_file``
    (default ``xinyong/departments/default.yaml``).
    """
    _, issues = _scan(_resolve_dir(directory), departments_file,
                      frozenset(departments) if departments is not None else None)
    return issues


_cache: dict[tuple[str, str], Catalogue] = {}
_cache_lock = threading.Lock()


@lru_cache(maxsize=64)
def _resolved_absolute(path: str) -> str:
    return str(Path(path).resolve())


def cache_key_path(path: Path) -> str:
    """``str(path.resolve())``, memoised for an absolute path: the cached loads are asked on every
    request, and resolving costs a system call per path component each time."""
    return _resolved_absolute(str(path)) if path.is_absolute() else str(path.resolve())


def load_catalogue(directory: Path | str | None = None, *,
                   departments_file: Path | str | None = None,
                   departments: frozenset[str] | set[str] | None = None) -> Catalogue:
    """Load and validate the catalogue; raise ``CatalogueError`` listing every issue.

    With no ``directory``: ``XINYONG_CATALOGUE_DIR`` if set, else the package's ``default/``;
    that load is cached (call ``clear_catalogue_cache`` after editing files at runtime).
    """
    use_cache = directory is None and departments_file is None and departments is None
    resolved = _resolve_dir(directory)
    key = (cache_key_path(resolved), "")
    if use_cache:
        with _cache_lock:
            cached = _cache.get(key)
        if cached is not None:
            return cached
    catalogue, issues = _scan(resolved, departments_file,
                              frozenset(departments) if departments is not None else None)
    if issues or catalogue is None:
        raise CatalogueError(issues)
    if use_cache:
        with _cache_lock:
            _cache[key] = catalogue
    return catalogue


def clear_catalogue_cache() -> None:
    with _cache_lock:
        _cache.clear()
