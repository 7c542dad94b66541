"""The scorecard model as data: load, validate (Chinese messages), describe.

The model is a YAML file (default: ``default_model.yaml`` beside this module; a deployment sets
``XINYONG_RATING_MODEL_FILE``). Loading checks every key and refuses a model with any problem,
listing them all. The model's version and a digest of its full text are stored with every score.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from xinyong.errors import ConfigurationError

DEFAULT_MODEL = Path(__file__).with_name("default_model.yaml")
SOURCES = {"subject_fields": "主体登记信息", "records": "信用记录", "objections": "主体提出的异议"}
SUBJECT_FIELDS = {"uscc": "统一社会信用代码", "legal_rep": "法定代表人（负责人）", "region": "所属区划",
                  "established": "成立日期", "address": "住所（经营场所）", "reg_status": "登记状态"}
SEVERITIES = {"serious": "严重", "general": "一般", "minor": "轻微"}
OBJECTION_STATES = {"upheld": "维持原记录", "corrected": "已更正记录", "record_withdrawn": "已撤销记录"}
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
#: Explanation line for a total outside the score range (keeps base + factors == score).
RANGE_FACTOR = "_range"
RANGE_FACTOR_NAME = "分值范围调整"


class ModelError(ConfigurationError):
    def __init__(self, issues: list[str], path: Path | None = None) -> None:
        where = f"（{path}）" if path else ""
        super().__init__(f"评价模型{where}有 {len(issues)} 处错误，请修改后重新加载：\n" + "\n".join(
            f"  {i + 1}. {m}" for i, m in enumerate(issues)), code="rating_model_invalid", details=issues)
        self.issues = issues


@dataclass(frozen=True)
class Band:
    within_months: int
    percent: int


@dataclass(frozen=True)
class Dimension:
    code: str
    name: str
    description: str
    source: str
    cap_min: int | None = None
    cap_max: int | None = None
    fields: dict[str, int] = field(default_factory=dict)
    resources: tuple[str, ...] = ()
    points: int | None = None
    severity_points: dict[str, int] = field(default_factory=dict)
    field_name: str | None = None
    field_values: dict[str, int] = field(default_factory=dict)
    decay: tuple[Band, ...] = ()
    aggregate: str = "sum"
    states: tuple[str, ...] = ()

    @property
    def inert(self) -> bool:
        """Nothing can ever score (every point value is 0): not computed, still published."""
        values = [*self.fields.values(), *self.severity_points.values(), *self.field_values.values()]
        if self.points is not None:
            values.append(self.points)
        return not any(values)

    def cap(self, total: int) -> int:
        if self.cap_min is not None and total < self.cap_min:
            return self.cap_min
        if self.cap_max is not None and total > self.cap_max:
            return self.cap_max
        return total

    def rule_text(self) -> str:
        """The scoring rule in words (the public model page)."""
        parts: list[str] = []
        if self.source == "subject_fields":
            parts.append("、".join(f"{SUBJECT_FIELDS[f]}有值 {p:+d} 分" for f, p in self.fields.items()))
        elif self.source == "objections":
            parts.append("、".join(OBJECTION_STATES[s] for s in self.states) + f"的异议每件 {self.points or 0:+d} 分")
        else:
            if self.points is not None:
                parts.append(f"每条 {self.points:+d} 分")
            if self.severity_points:
                parts.append("，".join(f"{SEVERITIES[s]} {p:+d} 分" for s, p in self.severity_points.items()))
            if self.field_values:
                parts.append(f"按“{self.field_name}”：" + "，".join(f"{v} {p:+d} 分" for v, p in self.field_values.items()))
            if self.aggregate == "latest":
                parts.append("只取最近一条")
            if self.decay:
                parts.append("时间衰减：" + "，".join(f"{b.within_months} 个月内 {b.percent}%" for b in self.decay)
                             + "，更早不计分")
        if self.cap_min is not None or self.cap_max is not None:
            lo = f"最低 {self.cap_min:+d} 分" if self.cap_min is not None else ""
            hi = f"最高 {self.cap_max:+d} 分" if self.cap_max is not None else ""
            parts.append("，".join(p for p in (lo, hi) if p))
        return "；".join(p for p in parts if p)


@dataclass(frozen=True)
class Grade:
    code: str
    label: str
    min: int
    supervision: str


@dataclass(frozen=True)
class Scorecard:
    version: str
    name: str
    description: str
    score_min: int
    score_max: int
    base: int
    repaired: str
    under_objection: str
    grades: tuple[Grade, ...]
    dimensions: tuple[Dimension, ...]
    digest: str
    text: str

    def grade_for(self, score: int) -> str:
        for g in self.grades:
            if score >= g.min:
                return g.code
        return self.grades[-1].code

    def dimension(self, code: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.code == code), None)

    def dimension_name(self, code: str) -> str:
        if code == RANGE_FACTOR:
            return RANGE_FACTOR_NAME
        d = self.dimension(code)
        return d.name if d else code

    def grade(self, code: str) -> Grade | None:
        return next((g for g in self.grades if g.code == code), None)

    @property
    def grade_codes(self) -> list[str]:
        return [g.code for g in self.grades]

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "name": self.name, "description": self.description,
                "digest": self.digest, "score": {"min": self.score_min, "max": self.score_max, "base": self.base},
                "rules": {"repaired": self.repaired, "under_objection": self.under_objection},
                "grades": [{"code": g.code, "label": g.label, "min": g.min, "supervision": g.supervision}
                           for g in self.grades],
                "dimensions": [{"code": d.code, "name": d.name, "description": d.description, "source": d.source,
                                "rule": d.rule_text(), "cap": {"min": d.cap_min, "max": d.cap_max},
                                "resources": list(d.resources)} for d in self.dimensions]}


def _int(value: Any, where: str, issues: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        issues.append(f"{where} 应为整数（得到 {value!r}）；分值一律用整数，便于逐项核对。")
        return None
    return value


def _points_map(raw: Any, where: str, allowed: dict[str, str] | None, issues: list[str]) -> dict[str, int]:
    if not isinstance(raw, dict) or not raw:
        issues.append(f"{where} 应为“取值: 分值”的映射，且不能为空。")
        return {}
    out: dict[str, int] = {}
    for k, v in raw.items():
        key = str(k)
        if allowed is not None and key not in allowed:
            issues.append(f"{where} 中的“{key}”不可用，只能是：{'、'.join(allowed)}。")
            continue
        p = _int(v, f"{where}.{key}", issues)
        if p is not None:
            out[key] = p
    return out


def _dimension(raw: Any, i: int, resource_codes: set[str] | None, issues: list[str]) -> Dimension | None:
    where = f"dimensions 第 {i + 1} 项"
    if not isinstance(raw, dict):
        issues.append(f"{where} 应为映射（code、name、source …）。")
        return None
    known = {"code", "name", "description", "source", "fields", "resources", "points", "severity_points",
             "field_points", "decay", "aggregate", "states", "cap"}
    for k in raw:
        if k not in known:
            issues.append(f"{where} 有未知的键“{k}”，可用的键：{'、'.join(sorted(known))}。")
    code = str(raw.get("code") or "")
    if not CODE_RE.match(code):
        issues.append(f"{where} 的 code“{code}”应为小写字母开头的 snake_case，最长 32 个字符。")
    where = f"维度 {code or i + 1}"
    name = str(raw.get("name") or "").strip()
    if not name:
        issues.append(f"{where} 缺少中文名称 name。")
    source = raw.get("source")
    if source not in SOURCES:
        issues.append(f"{where} 的 source 只能是：{'、'.join(SOURCES)}（得到 {source!r}）。")
        return None
    cap = raw.get("cap") or {}
    cap_min = cap_max = None
    if not isinstance(cap, dict) or set(cap) - {"min", "max"}:
        issues.append(f"{where} 的 cap 应写作 {{min: 下限, max: 上限}}。")
    else:
        cap_min = _int(cap["min"], f"{where}.cap.min", issues) if "min" in cap else None
        cap_max = _int(cap["max"], f"{where}.cap.max", issues) if "max" in cap else None
        if cap_min is not None and cap_max is not None and cap_min > cap_max:
            issues.append(f"{where} 的下限 {cap_min} 大于上限 {cap_max}。")
    kw: dict[str, Any] = {}
    if source == "subject_fields":
        kw["fields"] = _points_map(raw.get("fields"), f"{where}.fields", SUBJECT_FIELDS, issues)
    elif source == "objections":
        states = raw.get("states") or []
        if not isinstance(states, list) or not states or any(s not in OBJECTION_STATES for s in states):
            issues.append(f"{where}.states 应为异议办理结果列表，可用：{'、'.join(OBJECTION_STATES)}。")
        else:
            kw["states"] = tuple(states)
        kw["points"] = _int(raw.get("points", 0), f"{where}.points", issues)
    else:
        resources = raw.get("resources")
        if not isinstance(resources, list) or not resources:
            issues.append(f"{where} 缺少 resources（参与计分的目录资源代码列表）。")
            resources = []
        for r in resources:
            if resource_codes is not None and r not in resource_codes:
                issues.append(f"{where} 的资源“{r}”不在信用信息目录中；请先在目录中登记该资源，或改正代码。")
        kw["resources"] = tuple(str(r) for r in resources)
        ways = [k for k in ("points", "severity_points", "field_points") if k in raw]
        if len(ways) != 1:
            issues.append(f"{where} 须且只须写一种计分方式：points（每条分值）、severity_points（按严重程度）"
                          f"或 field_points（按字段取值）。")
        if "points" in raw:
            kw["points"] = _int(raw["points"], f"{where}.points", issues)
        if "severity_points" in raw:
            kw["severity_points"] = _points_map(raw["severity_points"], f"{where}.severity_points", SEVERITIES,
                                                issues)
        if "field_points" in raw:
            fp = raw["field_points"]
            if not isinstance(fp, dict) or not fp.get("field") or set(fp) - {"field", "values"}:
                issues.append(f"{where}.field_points 应写作 {{field: 字段代码, values: {{取值: 分值}}}}。")
            else:
                kw["field_name"] = str(fp["field"])
                kw["field_values"] = _points_map(fp.get("values"), f"{where}.field_points.values", None, issues)
        decay = raw.get("decay") or []
        bands: list[Band] = []
        if not isinstance(decay, list):
            issues.append(f"{where}.decay 应为列表：[{{within_months: 月数, percent: 百分比}}, …]。")
            decay = []
        last = 0
        for j, b in enumerate(decay):
            if not isinstance(b, dict) or set(b) != {"within_months", "percent"}:
                issues.append(f"{where}.decay 第 {j + 1} 档应写作 {{within_months: 月数, percent: 百分比}}。")
                continue
            m = _int(b["within_months"], f"{where}.decay 第 {j + 1} 档 within_months", issues)
            p = _int(b["percent"], f"{where}.decay 第 {j + 1} 档 percent", issues)
            if m is None or p is None:
                continue
            if m <= last:
                issues.append(f"{where}.decay 的月数应逐档递增（第 {j + 1} 档 {m} 个月不大于上一档 {last} 个月）。")
            if not 0 <= p <= 100:
                issues.append(f"{where}.decay 第 {j + 1} 档的百分比应在 0–100 之间（得到 {p}）。")
            last = m
            bands.append(Band(m, p))
        kw["decay"] = tuple(bands)
        agg = raw.get("aggregate", "sum")
        if agg not in ("sum", "latest"):
            issues.append(f"{where}.aggregate 只能是 sum（逐条求和）或 latest（只取最近一条）。")
        kw["aggregate"] = agg
    return Dimension(code=code, name=name, description=str(raw.get("description") or "").strip(), source=source,
                     cap_min=cap_min, cap_max=cap_max, **kw)


def parse_model(text: str, *, path: Path | None = None, check_catalogue: bool = True) -> Scorecard:
    """Parse and validate a model's YAML text; raise ``ModelError`` listing every problem."""
    issues: list[str] = []
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelError([f"YAML 格式错误：{exc}"], path) from None
    if not isinstance(raw, dict):
        raise ModelError(["模型文件应为一个映射（version、name、score、grades、dimensions …）。"], path)
    known = {"version", "name", "description", "score", "rules", "grades", "dimensions"}
    for k in raw:
        if k not in known:
            issues.append(f"未知的键“{k}”，可用的键：{'、'.join(sorted(known))}。")
    version = str(raw.get("version") or "").strip()
    if not version or len(version) > 32:
        issues.append("缺少模型版本号 version（如 \"2026.1\"，最长 32 个字符）；每次修改模型都应更新版本号。")
    name = str(raw.get("name") or "").strip()
    if not name:
        issues.append("缺少模型名称 name。")
    score = raw.get("score") or {}
    lo = hi = base = 0
    if not isinstance(score, dict) or set(score) != {"min", "max", "base"}:
        issues.append("score 应写作 {min: 最低分, max: 最高分, base: 基础分}。")
    else:
        lo = _int(score["min"], "score.min", issues) or 0
        hi = _int(score["max"], "score.max", issues) or 0
        base = _int(score["base"], "score.base", issues) or 0
        if not lo < hi:
            issues.append(f"分值范围有误：最低分 {lo} 应小于最高分 {hi}。")
        elif not lo <= base <= hi:
            issues.append(f"基础分 {base} 应在分值范围 {lo}–{hi} 之内。")
    rules = raw.get("rules") or {}
    repaired = rules.get("repaired", "exclude") if isinstance(rules, dict) else None
    under_objection = rules.get("under_objection", "count") if isinstance(rules, dict) else None
    if repaired not in ("exclude", "count"):
        issues.append("rules.repaired 只能是 exclude（已修复记录不再计分）或 count（照常计分）。")
    if under_objection not in ("exclude", "count"):
        issues.append("rules.under_objection 只能是 count（异议期间照常计分）或 exclude（异议办结前暂不计分）。")
    grades: list[Grade] = []
    raw_grades = raw.get("grades")
    if not isinstance(raw_grades, list) or len(raw_grades) < 2:
        issues.append("grades 应列出至少两个等级，自高到低：[{code: A, label: 诚信, min: 780, supervision: …}, …]。")
        raw_grades = []
    for i, g in enumerate(raw_grades):
        if not isinstance(g, dict) or not g.get("code") or "min" not in g:
            issues.append(f"grades 第 {i + 1} 项应写作 {{code: 等级代码, label: 名称, min: 最低分, supervision: 监管方式}}。")
            continue
        m = _int(g["min"], f"等级 {g['code']} 的 min", issues)
        code = str(g["code"])
        if len(code) > 8:
            issues.append(f"等级代码“{code}”过长（最长 8 个字符）。")
        grades.append(Grade(code, str(g.get("label") or code), m if m is not None else 0,
                            str(g.get("supervision") or "")))
    codes = [g.code for g in grades]
    if len(set(codes)) != len(codes):
        issues.append(f"等级代码重复：{'、'.join(codes)}。")
    for a, b in zip(grades, grades[1:], strict=False):
        if not a.min > b.min:
            issues.append(f"等级应自高到低排列：{a.code}（≥{a.min}）的最低分应大于 {b.code}（≥{b.min}）。")
    if grades and grades[-1].min != lo:
        issues.append(f"最后一个等级 {grades[-1].code} 的 min 应等于分值下限 {lo}，保证每个得分都有等级。")
    resource_codes: set[str] | None = None
    if check_catalogue:
        from xinyong.catalogue import load_catalogue

        resource_codes = {r.code for r in load_catalogue()}
    dims: list[Dimension] = []
    raw_dims = raw.get("dimensions")
    if not isinstance(raw_dims, list) or not raw_dims:
        issues.append("dimensions 应列出至少一个评价维度。")
        raw_dims = []
    for i, d in enumerate(raw_dims):
        dim = _dimension(d, i, resource_codes, issues)
        if dim is not None:
            dims.append(dim)
    dcodes = [d.code for d in dims]
    dup = sorted({c for c in dcodes if dcodes.count(c) > 1})
    if dup:
        issues.append(f"维度代码重复：{'、'.join(dup)}。")
    if issues:
        raise ModelError(issues, path)
    return Scorecard(version=version, name=name, description=str(raw.get("description") or "").strip(),
                     score_min=lo, score_max=hi, base=base, repaired=repaired, under_objection=under_objection,
                     grades=tuple(grades), dimensions=tuple(dims),
                     digest=hashlib.sha256(text.encode()).hexdigest(), text=text)


def model_path() -> Path:
    from xinyong.rating.settings import get_rating_settings

    return get_rating_settings().rating_model_file or DEFAULT_MODEL


@lru_cache(maxsize=8)
def _load(path: str, mtime: float) -> Scorecard:
    p = Path(path)
    return parse_model(p.read_text(encoding="utf-8"), path=p)


def load_model(path: Path | None = None) -> Scorecard:
    p = path or model_path()
    if not p.exists():
        raise ModelError([f"找不到评价模型文件 {p}；请检查 XINYONG_RATING_MODEL_FILE。"])
    return _load(str(p), p.stat().st_mtime)
