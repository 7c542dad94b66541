"""Indicator definitions (YAML): loading and validation with Chinese messages and line numbers.

A definition names a numerator and (for a rate) a denominator from the measure vocabulary in
``measures.py``, the groupings it can be drilled into, and the plan's target. Everything is
checked before a single query runs; a bad file is refused whole with every problem listed.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from xinyong.catalogue import load_catalogue
from xinyong.errors import ConfigurationError

from .measures import DIMENSIONS, MEASURES, FilterSpec, Measure

DEFAULT_FILE = Path(__file__).parent / "default.yaml"
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
DEPT_CODE = re.compile(r"^[a-z][a-z0-9_]*$")
#: Path segments of the dashboard's own routes: never an indicator code.
RESERVED_CODES = frozenset({"league", "report", "static", "export", "refresh", "api"})
UNITS = {"percent": "百分比", "count": "数量"}
DIRECTIONS = {"at_least": "不低于", "at_most": "不高于"}
INDICATOR_KEYS = {"code", "name", "section", "description", "unit", "numerator", "denominator", "groupings",
                  "target", "public", "league", "league_label"}
TARGET_KEYS = {"value", "direction", "year", "amber_within", "source"}
REF_KEYS = {"measure", "filters"}


class DefinitionError(ConfigurationError):
    code = "indicator_definitions_invalid"

    def __init__(self, problems: list[str], source: str) -> None:
        head = f"指标定义文件 {source} 有 {len(problems)} 处错误，未加载：\n" + "\n".join(f"· {p}" for p in problems)
        super().__init__(head, details=problems)
        self.problems = problems


@dataclass(frozen=True)
class MeasureRef:
    measure: str
    filters: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> str:
        return json.dumps({"m": self.measure, "f": self.filters}, sort_keys=True, ensure_ascii=False)

    @property
    def spec(self) -> Measure:
        return MEASURES[self.measure]

    def describe(self) -> str:
        return self.spec.describe(self.filters)


@dataclass(frozen=True)
class Target:
    value: float
    direction: str
    year: int
    amber_within: float
    source: str

    def describe(self, unit: str) -> str:
        shown = f"{self.value * 100:g}%" if unit == "percent" else f"{self.value:g}"
        return f"{DIRECTIONS[self.direction]} {shown}（{self.year} 年）"


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    section: str
    description: str
    unit: str
    numerator: MeasureRef
    denominator: MeasureRef | None
    groupings: tuple[str, ...]
    target: Target | None
    public: bool
    league: bool
    league_label: str
    line: int

    @property
    def pending(self) -> list[Measure]:
        refs = [self.numerator] + ([self.denominator] if self.denominator else [])
        return [r.spec for r in refs if r.spec.pending]


@dataclass
class Definitions:
    indicators: dict[str, Indicator]
    source: str
    digest: str

    def __iter__(self):
        return iter(self.indicators.values())

    def get(self, code: str) -> Indicator | None:
        return self.indicators.get(code)


# --- line numbers ----------------------------------------------------------------------------------


class _Lines:
    """Line numbers of the indicators and their keys, from the YAML node tree."""

    def __init__(self, text: str) -> None:
        self.items: list[tuple[int, dict[str, int]]] = []
        try:
            root = yaml.compose(text)
        except yaml.YAMLError:
            return
        if not isinstance(root, yaml.MappingNode):
            return
        for k, v in root.value:
            if k.value == "indicators" and isinstance(v, yaml.SequenceNode):
                for item in v.value:
                    keys = {}
                    if isinstance(item, yaml.MappingNode):
                        keys = {kk.value: kk.start_mark.line + 1 for kk, _ in item.value}
                    self.items.append((item.start_mark.line + 1, keys))

    def at(self, i: int, key: str | None = None) -> int | None:
        if i >= len(self.items):
            return None
        line, keys = self.items[i]
        return keys.get(key, line) if key else line


# --- validation ------------------------------------------------------------------------------------


class _Problems:
    def __init__(self, lines: _Lines) -> None:
        self.lines = lines
        self.items: list[str] = []

    def add(self, i: int | None, code: str | None, key: str | None, message: str) -> None:
        where = []
        line = self.lines.at(i, key) if i is not None else None
        if line:
            where.append(f"第 {line} 行")
        if code:
            where.append(f"指标 {code}")
        self.items.append(f"{'（' + '，'.join(where) + '）' if where else ''}{message}")


def _vocab(name: str) -> set[str]:
    cat = load_catalogue()
    if name == "resource":
        return set(cat.resources)
    if name == "sector":
        return set(cat.sectors)
    return set()


def _check_filter(key: str, spec: FilterSpec, value: Any) -> tuple[Any, str | None]:
    """The normalised value, or a Chinese message saying what is wrong and how to fix it."""
    if spec.kind == "bool":
        if not isinstance(value, bool):
            return None, f"条件“{key}”（{spec.label}）只能写 true 或 false，而不是 {value!r}"
        return value, None
    if spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value < (spec.minimum or 0):
            return None, f"条件“{key}”（{spec.label}）须为不小于 {spec.minimum or 0} 的整数，而不是 {value!r}"
        return value, None
    if spec.kind == "choice":
        if not isinstance(value, str) or value not in (spec.choices or ()):
            return None, f"条件“{key}”（{spec.label}）只能是 {'、'.join(spec.choices or ())} 之一，而不是 {value!r}"
        return value, None
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).strip()
                             for v in values):
        return None, f"条件“{key}”（{spec.label}）须为非空文本或文本列表，而不是 {value!r}"
    values = [str(v).strip() for v in values]
    allowed: set[str] | None = set(spec.choices) if spec.choices else None
    if spec.vocab in ("resource", "sector"):
        allowed = _vocab(spec.vocab)
    if allowed is not None:
        bad = [v for v in values if v not in allowed]
        if bad:
            shown = "、".join(sorted(allowed)) if len(allowed) <= 40 else f"共 {len(allowed)} 个，见信用信息目录"
            return None, f"条件“{key}”（{spec.label}）的取值 {'、'.join(bad)} 不存在；可用取值：{shown}"
    if spec.vocab == "department":
        bad = [v for v in values if not DEPT_CODE.match(v)]
        if bad:
            return None, f"条件“{key}”（{spec.label}）须为部门代码（如 market_regulation），而不是 {'、'.join(bad)}"
    return sorted(set(values)), None


def _check_ref(p: _Problems, i: int, code: str, key: str, raw: Any) -> MeasureRef | None:
    part = "分子" if key == "numerator" else "分母"
    if not isinstance(raw, dict):
        p.add(i, code, key, f"{part}（{key}）须写成 {{measure: 统计量, filters: {{…}}}}")
        return None
    unknown = set(raw) - REF_KEYS
    if unknown:
        p.add(i, code, key, f"{part}有未知的键 {'、'.join(sorted(map(str, unknown)))}；只能写 measure、filters")
    name = raw.get("measure")
    if not isinstance(name, str) or name not in MEASURES:
        p.add(i, code, key, f"{part}的统计量“{name}”不存在；可用：{'、'.join(MEASURES)}")
        return None
    measure = MEASURES[name]
    filters_raw = raw.get("filters") or {}
    if not isinstance(filters_raw, dict):
        p.add(i, code, key, f"{part}的 filters 须为“条件: 取值”的映射")
        return None
    filters: dict[str, Any] = {}
    for fk, fv in filters_raw.items():
        spec = measure.filters.get(fk) if isinstance(fk, str) else None
        if spec is None:
            allowed = "、".join(measure.filters) or "（该统计量不接受条件）"
            p.add(i, code, key, f"{part}的统计量 {name} 没有条件“{fk}”；可用条件：{allowed}")
            continue
        value, problem = _check_filter(fk, spec, fv)
        if problem:
            p.add(i, code, key, f"{part}：{problem}")
        else:
            filters[fk] = value
    return MeasureRef(name, filters)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v  # noqa: PLR0124 (NaN check)


def _check_target(p: _Problems, i: int, code: str, raw: Any, unit: str) -> Target | None:
    if not isinstance(raw, dict):
        p.add(i, code, "target", "目标（target）须写成 {value, direction, year, source}")
        return None
    ok = True
    unknown = set(raw) - TARGET_KEYS
    if unknown:
        p.add(i, code, "target", f"目标有未知的键 {'、'.join(sorted(map(str, unknown)))}；可用：{'、'.join(sorted(TARGET_KEYS))}")
        ok = False
    value = raw.get("value")
    if not _number(value) or (unit == "percent" and not 0 <= value <= 1) or value < 0:
        hint = "百分比指标写 0 到 1 之间的小数，如 85% 写 0.85" if unit == "percent" else "须为非负数"
        p.add(i, code, "target", f"目标值 value={value!r} 无效：{hint}")
        ok = False
    direction = raw.get("direction", "at_least")
    if direction not in DIRECTIONS:
        p.add(i, code, "target", f"目标方向 direction 只能是 at_least（不低于）或 at_most（不高于），而不是 {direction!r}")
        ok = False
    year = raw.get("year")
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
        p.add(i, code, "target", f"目标年份 year 须为 2000–2100 之间的年份，而不是 {year!r}")
        ok = False
    amber = raw.get("amber_within", 0.05 if unit == "percent" else 0)
    if not _number(amber) or amber < 0 or (unit == "percent" and amber > 1):
        p.add(i, code, "target", f"黄灯区间 amber_within 须为非负数（百分比指标为 0 到 1 的小数），而不是 {amber!r}")
        ok = False
    source = raw.get("source")
    if not isinstance(source, str) or not source.strip():
        p.add(i, code, "target", "目标须注明出处 source（如《滕州市社会信用体系建设规划（2018—2020年）》主要指标第4项）")
        ok = False
    if not ok:
        return None
    return Target(float(value), direction, year, float(amber), source.strip())


def parse_definitions(text: str, source: str = "指标定义") -> Definitions:
    lines = _Lines(text)
    p = _Problems(lines)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行：" if mark else ""
        raise DefinitionError([(f"{where}YAML 格式错误（{getattr(exc, 'problem', None) or exc}），"
                                "请检查缩进和冒号")], source) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("indicators"), list):
        raise DefinitionError(["文件须包含 indicators: 列表，每项定义一个指标"], source)
    out: dict[str, Indicator] = {}
    for i, raw in enumerate(doc["indicators"]):
        if not isinstance(raw, dict):
            p.add(i, None, None, "每个指标须为“键: 值”的映射")
            continue
        code = raw.get("code")
        if not isinstance(code, str) or not CODE_PATTERN.match(code):
            p.add(i, None, "code", f"指标代码 code={code!r} 无效：须为 2–64 位小写字母、数字和下划线，以字母开头")
            code = None
        elif code in RESERVED_CODES:
            p.add(i, code, "code", f"指标代码 {code} 是系统保留字（{'、'.join(sorted(RESERVED_CODES))}），请换一个")
        elif code in out:
            p.add(i, code, "code", f"指标代码 {code} 重复（第 {out[code].line} 行已定义）")
        unknown = set(raw) - INDICATOR_KEYS
        if unknown:
            p.add(i, code, None, f"未知的键 {'、'.join(sorted(map(str, unknown)))}；可用：{'、'.join(sorted(INDICATOR_KEYS))}")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            p.add(i, code, "name", "须填写指标中文名称 name")
        unit = raw.get("unit", "percent")
        if unit not in UNITS:
            p.add(i, code, "unit", f"单位 unit 只能是 percent（百分比）或 count（数量），而不是 {unit!r}")
            unit = "percent"
        num = _check_ref(p, i, code, "numerator", raw.get("numerator")) if "numerator" in raw else None
        if "numerator" not in raw:
            p.add(i, code, None, "须填写分子 numerator")
        den = None
        if unit == "percent":
            if "denominator" not in raw:
                p.add(i, code, None, "百分比指标须填写分母 denominator")
            else:
                den = _check_ref(p, i, code, "denominator", raw.get("denominator"))
        elif raw.get("denominator") is not None:
            p.add(i, code, "denominator", "数量指标（unit: count）不写分母；要算比率请用 unit: percent")
        groupings = raw.get("groupings", [])
        if not isinstance(groupings, list) or not all(isinstance(g, str) for g in groupings):
            p.add(i, code, "groupings", "分组 groupings 须为列表，如 [department, sector, month]")
            groupings = []
        for g in groupings:
            if g not in DIMENSIONS:
                p.add(i, code, "groupings", f"分组“{g}”不存在；可用：" +
                      "、".join(f"{k}（{v}）" for k, v in DIMENSIONS.items()))
                continue
            if num and g not in num.spec.dims:
                p.add(i, code, "groupings", f"分子的统计量 {num.measure} 不能按{DIMENSIONS[g]}分组")
            elif num and num.spec.dims.get(g) == "constant" and (den is None or den.spec.dims.get(g) == "constant"):
                p.add(i, code, "groupings", f"按{DIMENSIONS[g]}分组时分子须随分组变化（{num.measure} 对各{DIMENSIONS[g]}都相同）")
            if den and g not in den.spec.dims:
                p.add(i, code, "groupings", f"分母的统计量 {den.measure} 不能按{DIMENSIONS[g]}分组")
        if len(set(groupings)) != len(groupings):
            p.add(i, code, "groupings", "分组 groupings 有重复项")
        target = _check_target(p, i, code, raw["target"], unit) if raw.get("target") is not None else None
        flags = {}
        for flag in ("public", "league"):
            v = raw.get(flag, False)
            if not isinstance(v, bool):
                p.add(i, code, flag, f"{flag} 只能写 true 或 false")
                v = False
            flags[flag] = v
        if flags["league"] and "department" not in groupings:
            p.add(i, code, "league", "列入部门排行榜（league: true）的指标须能按部门分组（groupings 含 department）")
        for key in ("section", "description", "league_label"):
            if key in raw and not isinstance(raw[key], str):
                p.add(i, code, key, f"{key} 须为文本")
        if code and isinstance(name, str) and num and (unit == "count" or den):
            out.setdefault(code, Indicator(
                code=code, name=name.strip(), section=str(raw.get("section") or "其他"),
                description=str(raw.get("description") or ""), unit=unit, numerator=num, denominator=den,
                groupings=tuple(dict.fromkeys(g for g in groupings if g in DIMENSIONS)), target=target,
                public=flags["public"], league=flags["league"],
                league_label=str(raw.get("league_label") or name).strip(), line=lines.at(i) or 0))
    if p.items:
        raise DefinitionError(p.items, source)
    if not out:
        raise DefinitionError(["没有定义任何指标"], source)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
    return Definitions(out, source, digest)


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime: float) -> Definitions:
    text = Path(path).read_text(encoding="utf-8")
    return parse_definitions(text, Path(path).name)


def definitions_path() -> Path:
    from .settings import get_indicator_settings

    return get_indicator_settings().indicators_file or DEFAULT_FILE


def load_definitions(path: Path | str | None = None) -> Definitions:
    p = Path(path) if path else definitions_path()
    if not p.is_file():
        raise DefinitionError([f"找不到文件 {p}：请检查 XINYONG_INDICATORS_FILE 或命令参数"], p.name)
    return _load_cached(str(p.resolve()), p.stat().st_mtime)
