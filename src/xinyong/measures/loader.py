"""Load and validate the measures catalogue (YAML under ``measures/default/``).

Validated like the information catalogue (``xinyong.catalogue.loader``, whose YAML reader and
Chinese error translation are reused): every problem is reported with file, line and a Chinese
message, and a catalogue with any problem is refused as a whole (``MeasuresError``). Lawfulness
is a design rule: a measure without a legal basis (法律依据) is refused.

Cross-references are checked against the information catalogue and the departments registry:
list triggers must name a list resource of the right colour (rewards ← red lists, punishments ←
black or watch lists), record triggers an existing resource (a punishment only a negative one)
with known severities and fields, grade triggers grades of the rating scale, commitment-breach
triggers domains of the credit_commitments resource.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from xinyong.catalogue import Catalogue, load_catalogue
from xinyong.catalogue.loader import (
    CatalogueIssue,
    _FileReport,
    _read_yaml,
    _translate,
    cache_key_path,
    known_department_codes,
)
from xinyong.errors import ConfigurationError

from .schemas import (
    CATEGORIES,
    COMMITMENT_RESOURCE,
    STRENGTHS,
    MeasureDef,
    MeasureFile,
    MeasuresCatalogue,
    MeasuresMeta,
)

DEFAULT_DIR = Path(__file__).resolve().parent / "default"
META_FILE = "_measures.yaml"


class MeasuresError(ConfigurationError):
    """The measures catalogue cannot be loaded; ``issues`` lists every problem."""

    code = "measures_invalid"

    def __init__(self, issues: list[CatalogueIssue]) -> None:
        self.issues = list(issues)
        lines = "\n".join(f"  {i}" for i in self.issues)
        super().__init__(f"联合奖惩措施清单校验失败，共 {len(self.issues)} 个问题，请逐条修正后重试：\n{lines}",
                         details=[i.to_dict() for i in self.issues])


def _basis_missing(raw: Any) -> bool:
    return not (isinstance(raw, list) and raw and all(isinstance(b, str) and b.strip() for b in raw))


def _check_measure(m: MeasureDef, p: str, rep: _FileReport, cat: Catalogue, meta: MeasuresMeta | None,
                   departments: frozenset[str] | None) -> None:
    where = f"措施 {m.code}（{m.name}）"
    if m.strength not in STRENGTHS[m.kind]:
        rep.add(f"{p}.strength", f"{where} 的强度「{m.strength}」不适用于{m.kind_label}措施，"
                                 f"可选：{'、'.join(STRENGTHS[m.kind])}")
    if m.category is not None and m.category not in CATEGORIES:
        rep.add(f"{p}.category", f"{where} 的类别「{m.category}」未知，可选：{'、'.join(CATEGORIES)}")
    if meta is not None:
        known = {s.code for s in meta.scenarios}
        for j, s in enumerate(m.scenarios):
            if s not in known:
                rep.add(f"{p}.scenarios[{j}]", f"{where} 的应用场景 {s} 未在 {META_FILE} 中定义，"
                                               f"可选：{'、'.join(sorted(known))}")
    if departments is not None:
        for j, d in enumerate(m.departments):
            if d not in departments:
                rep.add(f"{p}.departments[{j}]", f"{where} 的实施部门代码 {d} 不存在；请使用部门名录中已登记的单位代码")
    for j, t in enumerate(m.triggers):
        tp = f"{p}.triggers[{j}]"
        types = t.set_types
        if len(types) != 1:
            rep.add(tp, f"{where} 的第 {j + 1} 个触发条件应当且只能写 list、record、grade、commitment_breach 之一"
                        f"（当前：{'、'.join(types) or '都没写'}）")
            continue
        kind = types[0]
        if kind != "record" and (t.severity or t.when):
            rep.add(tp, f"{where} 的第 {j + 1} 个触发条件：severity 和 when 只能用于 record（失信记录）触发条件")
        if kind in ("grade", "commitment_breach") and t.within_months is not None:
            rep.add(f"{tp}.within_months", f"{where} 的第 {j + 1} 个触发条件：{kind} 条件不支持 within_months"
                                           + ("（请写在 commitment_breach 内）" if kind == "commitment_breach" else ""))
        if kind == "list":
            res = cat.resources.get(t.list_ or "")
            if res is None or not res.is_list:
                lists = "、".join(f"{r.code}（{r.name}）" for r in cat.lists())
                rep.add(f"{tp}.list", f"{where} 引用的名单 {t.list_} 不存在或不是名单类资源；可用的名单：{lists}")
            elif m.kind == "reward" and res.list_kind != "red":
                rep.add(f"{tp}.list", f"{where} 是守信激励措施，只能由红名单触发，{res.name} 不是红名单")
            elif m.kind == "punishment" and res.list_kind == "red":
                rep.add(f"{tp}.list", f"{where} 是失信惩戒措施，不能由红名单 {res.name} 触发")
        elif kind == "record":
            res = cat.resources.get(t.record or "")
            if res is None:
                rep.add(f"{tp}.record", f"{where} 引用的信息资源 {t.record} 不在信用信息目录中")
                continue
            if m.kind == "punishment" and res.polarity != "negative":
                rep.add(f"{tp}.record", f"{where} 是失信惩戒措施，只能由失信（负面）信息触发，{res.name} 不是失信信息")
            if m.kind == "reward" and res.polarity == "negative":
                rep.add(f"{tp}.record", f"{where} 是守信激励措施，不能由失信信息 {res.name} 触发")
            periods = set(res.disclosure_window.periods) if res.disclosure_window else set()
            for s in t.severity:
                if s not in periods:
                    rep.add(f"{tp}.severity", f"{where} 的严重程度 {s} 不是资源 {res.code} 定义的严重程度"
                                              f"（可选：{'、'.join(sorted(periods)) or '该资源未区分严重程度'}）")
            for code, values in (t.when or {}).items():
                if not res.has_field(code):
                    rep.add(f"{tp}.when.{code}", f"{where} 的条件 when 引用了资源 {res.code} 不存在的字段 {code}")
                    continue
                f = res.field(code)
                bad = [v for v in values if f.enum and f.match_enum(v) is None]
                if bad:
                    rep.add(f"{tp}.when.{code}", f"{where} 的条件中字段 {code} 的取值「{'、'.join(bad)}」不在其 enum 中"
                                                 f"（可选：{'、'.join(f.enum_values)}）")
        elif kind == "grade":
            if m.kind == "punishment" and not t.grade:
                rep.add(f"{tp}.grade", f"{where} 的 grade 条件至少要写一个等级")
            if meta is not None:
                bad = [g for g in t.grade or [] if g not in meta.grades]
                if bad or not t.grade:
                    rep.add(f"{tp}.grade", f"{where} 的信用评价等级「{'、'.join(bad) or '（空）'}」不在等级表中"
                                           f"（可选：{'、'.join(meta.grades)}）")
        elif kind == "commitment_breach":
            if m.kind != "punishment":
                rep.add(f"{tp}.commitment_breach", f"{where} 是守信激励措施，不能由承诺未履行触发")
            res = cat.resources.get(COMMITMENT_RESOURCE)
            if res is None:
                rep.add(f"{tp}.commitment_breach", f"信用信息目录中没有 {COMMITMENT_RESOURCE}（信用承诺信息），"
                                                   f"{where} 的承诺未履行条件无法使用")
            elif t.commitment_breach and t.commitment_breach.domains:
                f = res.field("commitment_domain")
                bad = [d for d in t.commitment_breach.domains if f.match_enum(d) is None]
                if bad:
                    rep.add(f"{tp}.commitment_breach.domains", f"{where} 的承诺领域「{'、'.join(bad)}」未知"
                                                               f"（可选：{'、'.join(f.enum_values)}）")
    basis = [b for b in m.legal_basis if b and b.strip()]
    if not basis:
        rep.add(f"{p}.legal_basis", f"{where} 没有法律依据：每项措施都必须在 legal_basis 中写明法律、法规或"
                                    f"国家政策文件依据，否则不得加载")
    elif len(basis) != len(m.legal_basis):
        rep.add(f"{p}.legal_basis", f"{where} 的 legal_basis 中有空白条目，请删除或补全")


def _scan(directory: Path, catalogue: Catalogue | None,
          departments: frozenset[str] | None) -> tuple[MeasuresCatalogue | None, list[CatalogueIssue]]:
    issues: list[CatalogueIssue] = []
    if not directory.is_dir():
        return None, [CatalogueIssue(str(directory), None, "", f"目录 {directory} 不存在或不是文件夹，请检查路径")]
    cat = catalogue or load_catalogue()
    files = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
    meta: MeasuresMeta | None = None
    meta_path = directory / META_FILE
    if not meta_path.exists():
        issues.append(CatalogueIssue(str(meta_path), None, "", f"缺少 {META_FILE}（应用场景、评价等级与反馈期限），请补上"))
    measures: dict[str, MeasureDef] = {}
    origin: dict[str, str] = {}
    parsed: list[tuple[Path, _FileReport, MeasureFile]] = []
    for path in files:
        rep = _FileReport(path, str(path), issues)
        data = _read_yaml(rep)
        if data is None:
            continue
        if path.name == META_FILE:
            try:
                meta = MeasuresMeta.model_validate(data)
            except ValidationError as exc:
                for err in exc.errors():
                    p, msg = _translate(MeasuresMeta, err)
                    rep.add(p, f"措施清单元数据：{msg}")
                continue
            codes = [s.code for s in meta.scenarios]
            for dup in sorted({c for c in codes if codes.count(c) > 1}):
                rep.add("scenarios", f"应用场景代码 {dup} 重复")
            continue
        if path.name.startswith("_"):
            rep.add("", f"以下划线开头的文件名保留给元数据（只允许 {META_FILE}），请改名", line=1)
            continue
        try:
            parsed.append((path, rep, MeasureFile.model_validate(data)))
        except ValidationError as exc:
            raw = data.get("measures") if isinstance(data, dict) else None
            for err in exc.errors():
                p, msg = _translate(MeasureFile, err)
                idx = err["loc"][1] if len(err["loc"]) > 1 and isinstance(err["loc"][1], int) else None
                item = raw[idx] if isinstance(raw, list) and idx is not None and idx < len(raw) else None
                code = item.get("code") if isinstance(item, dict) else None
                rep.add(p, f"措施 {code}：{msg}" if code else msg)
            # Lawfulness first: a measure with no basis is named even when other keys are wrong.
            for i, item in enumerate(raw if isinstance(raw, list) else []):
                if isinstance(item, dict) and _basis_missing(item.get("legal_basis")):
                    rep.add(f"measures[{i}].legal_basis", f"措施 {item.get('code', i + 1)}（{item.get('name', '')}）"
                                                          f"没有法律依据：每项措施都必须在 legal_basis 中写明依据，否则不得加载")
    for path, rep, mf in parsed:
        for i, m in enumerate(mf.measures):
            p = f"measures[{i}]"
            _check_measure(m, p, rep, cat, meta, departments)
            if m.code in measures:
                rep.add(f"{p}.code", f"措施代码 {m.code} 重复：{Path(origin[m.code]).name} 与 {path.name} 都定义了它")
                continue
            measures[m.code] = m
            origin[m.code] = str(path)
    if not parsed and not issues:
        issues.append(CatalogueIssue(str(directory), None, "", f"目录 {directory} 中没有任何措施文件"))
    if issues or meta is None:
        return None, issues
    feedback_days = meta.feedback_days
    env = os.environ.get("XINYONG_MEASURES_FEEDBACK_DAYS")
    if env:
        try:
            feedback_days = max(1, int(env))
        except ValueError:
            raise ConfigurationError(f"XINYONG_MEASURES_FEEDBACK_DAYS 应为正整数（天数），当前为「{env[:20]}」。") from None
    payload = json.dumps({"meta": meta.model_dump(mode="json"), "m": {k: v.model_dump(mode="json", by_alias=True)
                                                                      for k, v in sorted(measures.items())}},
                         ensure_ascii=False, sort_keys=True)
    result = MeasuresCatalogue(name=meta.name, scenarios={s.code: s for s in meta.scenarios}, grades=list(meta.grades),
                               feedback_days=feedback_days, measures=measures,
                               version=hashlib.sha256(payload.encode()).hexdigest()[:12])
    return result, issues


def _resolve(directory: Path | str | None) -> Path:
    if directory is not None:
        return Path(directory)
    env = os.environ.get("XINYONG_MEASURES_DIR")
    return Path(env) if env else DEFAULT_DIR


def validate_measures(directory: Path | str | None = None, *, catalogue: Catalogue | None = None,
                      departments: frozenset[str] | set[str] | None = None) -> list[CatalogueIssue]:
    """Every problem of the measures catalogue at ``directory`` (default: the built-in one)."""
    depts = frozenset(departments) if departments is not None else known_department_codes()
    return _scan(_resolve(directory), catalogue, depts)[1]


_cache: dict[tuple[str, str], MeasuresCatalogue] = {}
_lock = threading.Lock()


def load_measures(directory: Path | str | None = None, *, catalogue: Catalogue | None = None,
                  departments: frozenset[str] | set[str] | None = None) -> MeasuresCatalogue:
    """Load and validate; raise ``MeasuresError`` listing every problem. The default load
    (``XINYONG_MEASURES_DIR`` or the built-in folder) is cached."""
    resolved = _resolve(directory)
    use_cache = directory is None and catalogue is None and departments is None
    key = (cache_key_path(resolved), os.environ.get("XINYONG_MEASURES_FEEDBACK_DAYS", ""))
    if use_cache:
        with _lock:
            if key in _cache:
                return _cache[key]
    depts = frozenset(departments) if departments is not None else known_department_codes()
    result, issues = _scan(resolved, catalogue, depts)
    if issues or result is None:
        raise MeasuresError(issues)
    if use_cache:
        with _lock:
            _cache[key] = result
    return result


def clear_measures_cache() -> None:
    with _lock:
        _cache.clear()
