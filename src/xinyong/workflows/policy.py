"""The workflow policy: disclosure windows on top of the catalogue, deadlines and eligibility.

One loader (``load_policy``) reads the versioned YAML (built-in ``default_policy.yaml`` or
``XINYONG_POLICY_FILE``), checks it against the catalogue and refuses it whole, listing every
problem in Chinese with file and line. The catalogue holds each resource's legal window; the
policy may only tighten it (``overrides``) or supply one where the catalogue has none
(``default_window`` for negative public resources): ``effective_window`` is the single answer.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from xinyong.catalogue import Resource, load_catalogue
from xinyong.catalogue.loader import CatalogueIssue, _FileReport, _read_yaml, _translate
from xinyong.catalogue.schemas import Catalogue, DisclosureWindow, Period
from xinyong.config import get_settings
from xinyong.errors import ConfigurationError

DEFAULT_FILE = Path(__file__).resolve().parent / "default_policy.yaml"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PeriodOverride(_Model):
    min_months: int | None = Field(default=None, ge=0)
    max_months: int | None = Field(default=None, ge=0)
    source: str = Field(min_length=1)


class DefaultWindow(_Model):
    min_months: int = Field(ge=0)
    max_months: int | None = Field(default=None, ge=0)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _order(self) -> DefaultWindow:
        if self.max_months is not None and self.min_months > self.max_months:
            raise ValueError("最短公示期（min_months）不能长于最长公示期（max_months）")
        return self


class DisclosurePolicy(_Model):
    default_window: DefaultWindow
    #: For black and watch lists the catalogue gives no window (serious dishonesty).
    default_list_window: DefaultWindow | None = None
    overrides: dict[str, dict[str, PeriodOverride]] = {}


class ObjectionPolicy(_Model):
    answer_days: int = Field(ge=1, le=365)
    source: str = Field(min_length=1)
    public_may_object: bool = True


class RepairPolicy(_Model):
    review_days: int = Field(ge=1, le=365)
    review_source: str = Field(min_length=1)
    reapply_after_days: int = Field(ge=0, le=3650)
    max_applications_per_record: int = Field(ge=1, le=100)
    limits_source: str = Field(min_length=1)
    not_repairable: dict[str, str] = {}
    commitment_text: str = Field(min_length=10)


class DeterminationPolicy(_Model):
    notice_days: int = Field(ge=1, le=90)
    source: str = Field(min_length=1)
    default_valid_months: int = Field(ge=1, le=600)


class AttachmentPolicy(_Model):
    max_files: int = Field(default=5, ge=0, le=50)
    media_types: list[str] = ["application/pdf", "image/png", "image/jpeg"]


class Policy(_Model):
    version: str = Field(min_length=1)
    name: str = "信用工作流策略"
    disclosure: DisclosurePolicy
    objections: ObjectionPolicy
    repair: RepairPolicy
    determinations: DeterminationPolicy
    attachments: AttachmentPolicy = AttachmentPolicy()

    # -- the one answer to "how long may this resource's records be published" --

    def effective_window(self, resource: Resource) -> DisclosureWindow | None:
        """The catalogue's window with this policy's overrides applied; the policy's default
        window for a negative public resource the catalogue gives none; else None."""
        base = resource.disclosure_window
        overrides = self.disclosure.overrides.get(resource.code, {})
        if base is None:
            if resource.polarity != "negative" or not resource.is_public:
                return None
            base = self._default_window(resource)
        if not overrides:
            return base
        periods = dict(base.periods)
        for severity, o in overrides.items():
            p = periods[severity]
            periods[severity] = Period(min_months=p.min_months if o.min_months is None else o.min_months,
                                       max_months=p.max_months if o.max_months is None else o.max_months)
        note = "；".join(f"{s}：{o.source}" for s, o in overrides.items())
        return base.model_copy(update={"periods": periods, "note": f"{base.note or ''}（本地策略调整：{note}）"})

    def _default_window(self, resource: Resource) -> DisclosureWindow:
        d = self.disclosure.default_window
        if resource.list_kind in ("black", "watch") and self.disclosure.default_list_window is not None:
            d = self.disclosure.default_list_window
        return DisclosureWindow(basis=d.source, periods={"general": Period(min_months=d.min_months,
                                                                          max_months=d.max_months)})

    def repairable(self, resource: Resource) -> tuple[bool, str | None]:
        if resource.polarity != "negative":
            return False, "只有失信（负面）信息可以申请信用修复"
        if resource.code in self.repair.not_repairable:
            return False, self.repair.not_repairable[resource.code]
        return True, None


class PolicyError(ConfigurationError):
    code = "policy_invalid"

    def __init__(self, issues: list[CatalogueIssue]) -> None:
        self.issues = issues
        lines = "\n".join(f"  {i}" for i in issues)
        super().__init__(f"工作流策略文件校验失败，共 {len(issues)} 个问题，请逐条修正后重试：\n{lines}",
                         details=[i.to_dict() for i in issues])


def validate_policy(path: Path | str | None = None, catalogue: Catalogue | None = None
                    ) -> tuple[Policy | None, list[CatalogueIssue]]:
    """Parse and check a policy file; returns (policy or None, every problem found)."""
    path = Path(path) if path else _configured_path()
    issues: list[CatalogueIssue] = []
    report = _FileReport(path, str(path), issues)
    data = _read_yaml(report)
    if data is None:
        return None, issues
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            where, message = _translate(Policy, err)
            report.add(where, message)
        return None, issues
    catalogue = catalogue or load_catalogue()
    for code, severities in policy.disclosure.overrides.items():
        base = f"disclosure.overrides.{code}"
        if code not in catalogue:
            report.add(base, f"信用信息目录中没有资源 {code}，请检查资源代码（见 `xinyong catalogue list`）")
            continue
        res = catalogue.get(code)
        window = res.disclosure_window
        if window is None and res.polarity == "negative" and res.is_public:
            window = policy._default_window(res)
        if window is None:
            report.add(base, f"资源 {code}（{res.name}）没有公示期规则（不是负面公开信息），不能调整公示期")
            continue
        for severity, o in severities.items():
            where = f"{base}.{severity}"
            period = window.periods.get(severity)
            if period is None:
                report.add(where, f"资源 {code} 的公示期没有严重程度 {severity}；可用的有：{'、'.join(window.periods)}")
                continue
            new_min = period.min_months if o.min_months is None else o.min_months
            new_max = period.max_months if o.max_months is None else o.max_months
            if period.max_months is not None and (new_max is None or new_max > period.max_months):
                report.add(where, f"最长公示期不能超过目录规定的 {period.max_months} 个月（{window.basis}）；"
                                  "本地策略只能缩短公示期")
            if new_max is not None and new_min > new_max:
                report.add(where, f"最短公示期 {new_min} 个月长于最长公示期 {new_max} 个月，请调整")
    for code in policy.repair.not_repairable:
        if code not in catalogue:
            report.add(f"repair.not_repairable.{code}", f"信用信息目录中没有资源 {code}，请检查资源代码")
    bad_types = [t for t in policy.attachments.media_types if t not in ATTACHMENT_TYPES]
    if bad_types:
        report.add("attachments.media_types", f"不支持的附件类型：{'、'.join(bad_types)}；"
                                              f"可选：{'、'.join(ATTACHMENT_TYPES)}")
    return (None if issues else policy), issues


#: Media types the platform can recognise from content (see ``attachments``).
ATTACHMENT_TYPES = ("application/pdf", "image/png", "image/jpeg")

_cache: dict[str, Policy] = {}
_lock = threading.Lock()


def _configured_path() -> Path:
    return get_settings().policy_file or DEFAULT_FILE


def load_policy(path: Path | str | None = None) -> Policy:
    """The policy in force (cached per file); raises ``PolicyError`` listing every problem."""
    path = Path(path) if path else _configured_path()
    key = str(path.resolve())
    with _lock:
        if key in _cache:
            return _cache[key]
    policy, issues = validate_policy(path)
    if policy is None:
        raise PolicyError(issues)
    with _lock:
        _cache[key] = policy
    return policy


def clear_policy_cache() -> None:
    with _lock:
        _cache.clear()


def policy_summary(policy: Policy, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """What the policy means for each resource with a window (for `xinyong policy show` and the API)."""
    catalogue = catalogue or load_catalogue()
    windows = {}
    for res in catalogue:
        w = policy.effective_window(res)
        if w is None:
            continue
        windows[res.code] = {"name": res.name, "basis": w.basis,
                             "periods": {s: p.model_dump() for s, p in w.periods.items()},
                             "repairable": policy.repairable(res)[0]}
    return {"version": policy.version, "name": policy.name, "objections": policy.objections.model_dump(),
            "repair": policy.repair.model_dump(), "determinations": policy.determinations.model_dump(),
            "windows": windows}
