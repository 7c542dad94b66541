"""Scenario reports (专项信用报告): which categories each scenario's rules name.

The definitions live in ``scenarios.yaml`` beside this module and are validated against the
catalogue when loaded: an unknown category or resource, or a non-public one, is refused with
the file name, so a broken scenario never reaches a report.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from xinyong.catalogue import load_catalogue
from xinyong.catalogue.schemas import CATEGORIES, CODE_PATTERN, Catalogue, Resource
from xinyong.errors import ConfigurationError, InvalidInput

SCENARIOS_FILE = Path(__file__).with_name("scenarios.yaml")


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=CODE_PATTERN, max_length=64)
    name: str = Field(min_length=1, max_length=50)
    description: str = Field(min_length=1)
    basis: list[str] = Field(min_length=1)
    categories: list[str] = []
    resources: list[str] = []
    since_months: int | None = Field(default=None, ge=1, le=600)

    def resource_codes(self, catalogue: Catalogue) -> list[str]:
        """Public resources this scenario covers, in catalogue order."""
        wanted = set(self.resources)
        return [r.code for r in catalogue if r.is_public and (r.category in self.categories or r.code in wanted)]

    def covers(self, resource: Resource) -> bool:
        return resource.is_public and (resource.category in self.categories or resource.code in self.resources)


def _validate(items: list[Scenario], catalogue: Catalogue, source: str) -> None:
    seen: set[str] = set()
    for s in items:
        where = f"{source}：场景 {s.code}"
        if s.code in seen:
            raise ConfigurationError(f"{where} 重复定义。")
        seen.add(s.code)
        if not s.categories and not s.resources:
            raise ConfigurationError(f"{where} 未列出任何类别（categories）或信息资源（resources）。")
        for c in s.categories:
            if c not in CATEGORIES:
                raise ConfigurationError(f"{where} 的类别“{c}”不在全国公共信用信息基础目录中，可选：{'、'.join(CATEGORIES)}。")
        for code in s.resources:
            if code not in catalogue:
                raise ConfigurationError(f"{where} 引用了信用信息目录中不存在的资源 {code}。")
            if not catalogue.get(code).is_public:
                raise ConfigurationError(f"{where} 引用了非社会公开的资源 {code}（{catalogue.get(code).name}）："
                                         "专项报告只能包含社会公开信息。")


def parse_scenarios(text: str, *, source: str = "场景配置", catalogue: Catalogue | None = None) -> dict[str, Scenario]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{source} 不是有效的 YAML：{exc}") from exc
    raw = data.get("scenarios") if isinstance(data, dict) else None
    if not isinstance(raw, list) or not raw:
        raise ConfigurationError(f"{source} 应包含非空的 scenarios 列表。")
    items = []
    for i, item in enumerate(raw, 1):
        try:
            items.append(Scenario.model_validate(item))
        except ValidationError as exc:
            problems = "；".join(f"{'.'.join(str(p) for p in e['loc']) or '（整体）'}：{e['msg']}" for e in exc.errors())
            raise ConfigurationError(f"{source} 第 {i} 个场景有误：{problems}") from exc
    _validate(items, catalogue or load_catalogue(), source)
    return {s.code: s for s in items}


@lru_cache(maxsize=1)
def load_scenarios() -> dict[str, Scenario]:
    return parse_scenarios(SCENARIOS_FILE.read_text(encoding="utf-8"), source=str(SCENARIOS_FILE))


def get_scenario(code: str | None) -> Scenario:
    scenarios = load_scenarios()
    if not code:
        raise InvalidInput(f"专项报告需要指定场景，可选：{scenarios_help()}。", code="scenario_required")
    found = scenarios.get(code.strip())
    if found is None:
        shown = code[:32] if code.isprintable() else "（无法识别）"
        raise InvalidInput(f"没有专项报告场景“{shown}”，可选：{scenarios_help()}。", code="unknown_scenario")
    return found


def scenarios_help() -> str:
    return "、".join(f"{s.code}（{s.name}）" for s in load_scenarios().values())
