"""Pydantic types of the measures catalogue (联合奖惩措施清单).

A measure is a reward (守信激励) or a punishment (失信惩戒) with a strength, the business
scenarios it applies in, the departments that implement it, its legal basis (required) and the
conditions that trigger it. Any one trigger is enough:

* ``list``: membership of a catalogue list (red / black / watch) — an in-force list record;
* ``record``: an open record of a (negative) catalogue resource, optionally only of some
  severities, only within the last ``within_months`` months, or matching ``when``;
* ``grade``: the subject's public credit rating grade (from ``xinyong.rating`` once it lands);
* ``commitment_breach``: a breached credit commitment (履行状态 未履行), optionally by domain.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField

from xinyong.catalogue.schemas import CODE_PATTERN, Condition, SubjectKind

MeasureKind = Literal["reward", "punishment"]
KIND_LABELS: dict[str, str] = {"reward": "守信激励", "punishment": "失信惩戒"}

#: Strengths by kind, strongest first (the plans' wording).
STRENGTHS: dict[str, tuple[str, ...]] = {
    "punishment": ("禁止", "限制", "从严审核", "列为重点监管"),
    "reward": ("绿色通道", "优先办理", "简化程序", "重点支持", "降低检查频次"),
}
#: The five kinds of punishment the national guidance names, and the reward families.
CATEGORIES: tuple[str, ...] = ("行政性惩戒", "司法性惩戒", "市场性惩戒", "行业性惩戒", "社会性惩戒",
                               "行政性激励", "市场性激励", "社会性激励")
TRIGGER_TYPES: dict[str, str] = {"list": "名单", "record": "失信记录", "grade": "信用评价等级",
                                 "commitment_breach": "信用承诺未履行"}
COMMITMENT_RESOURCE = "credit_commitments"
BREACH_VALUE = "未履行"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class CommitmentBreach(_Model):
    #: 承诺领域 values of the catalogue's credit_commitments resource; empty = any domain.
    domains: list[str] = []
    within_months: int | None = PydanticField(default=None, gt=0)


class Trigger(_Model):
    """Exactly one of ``list``, ``record``, ``grade``, ``commitment_breach``."""

    list_: str | None = PydanticField(default=None, alias="list")
    record: str | None = None
    grade: list[str] | None = None
    commitment_breach: CommitmentBreach | None = None
    #: record triggers: severities (under the resource's disclosure window rules); empty = any.
    severity: list[str] = []
    #: record and list triggers: only records dated within the last N months.
    within_months: int | None = PydanticField(default=None, gt=0)
    #: record triggers: a catalogue condition on the record's fields.
    when: Condition | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        # `- commitment_breach: true` / `{}` is the plain form.
        if isinstance(data, dict) and data.get("commitment_breach") in (True, {}):
            data = {**data, "commitment_breach": {}}
        if isinstance(data, dict) and isinstance(data.get("grade"), str):
            data = {**data, "grade": [data["grade"]]}
        return data

    @property
    def type(self) -> str:
        for name, value in (("list", self.list_), ("record", self.record), ("grade", self.grade),
                            ("commitment_breach", self.commitment_breach)):
            if value is not None:
                return name
        return "none"

    @property
    def set_types(self) -> list[str]:
        return [n for n, v in (("list", self.list_), ("record", self.record), ("grade", self.grade),
                               ("commitment_breach", self.commitment_breach)) if v is not None]

    @property
    def resource(self) -> str | None:
        if self.list_ is not None:
            return self.list_
        if self.record is not None:
            return self.record
        if self.commitment_breach is not None:
            return COMMITMENT_RESOURCE
        return None


class MeasureDef(_Model):
    """One measure (措施)."""

    code: str = PydanticField(pattern=CODE_PATTERN, max_length=64)
    name: str = PydanticField(min_length=1, max_length=200)
    kind: MeasureKind
    strength: str = PydanticField(min_length=1)
    category: str | None = None
    text: str = PydanticField(min_length=1)
    triggers: list[Trigger] = PydanticField(min_length=1)
    scenarios: list[str] = PydanticField(min_length=1)
    departments: list[str] = PydanticField(min_length=1)
    legal_basis: list[str] = []
    subject_kinds: list[SubjectKind] = []

    @property
    def kind_label(self) -> str:
        return KIND_LABELS[self.kind]


class MeasureFile(_Model):
    measures: list[MeasureDef] = PydanticField(min_length=1)


class Scenario(_Model):
    """A business step where a check is embedded (应用场景)."""

    code: str = PydanticField(pattern=CODE_PATTERN, max_length=64)
    name: str = PydanticField(min_length=1)
    description: str | None = None
    #: The purpose of access (查询事由, accounts/purposes.yaml) recorded for a check in this scenario.
    purpose: str = PydanticField(min_length=1)


class MeasuresMeta(_Model):
    """``_measures.yaml``: scenarios, rating grades, feedback deadline."""

    name: str = "联合奖惩措施清单"
    scenarios: list[Scenario] = PydanticField(min_length=1)
    #: Grades a ``grade`` trigger may name (the public credit rating's scale).
    grades: list[str] = PydanticField(min_length=1)
    #: Days a department has to report what it did after a check (overridable by
    #: ``XINYONG_MEASURES_FEEDBACK_DAYS``).
    feedback_days: int = PydanticField(default=15, gt=0)


class MeasuresCatalogue(_Model):
    name: str
    scenarios: dict[str, Scenario]
    grades: list[str]
    feedback_days: int
    measures: dict[str, MeasureDef]
    version: str = ""

    def scenario(self, code: str) -> Scenario:
        from xinyong.errors import InvalidInput

        found = self.scenarios.get(code) or next((s for s in self.scenarios.values() if s.name == code), None)
        if found is None:
            raise InvalidInput(f"未知的应用场景“{str(code)[:32]}”。可选场景："
                               + "、".join(f"{s.code}（{s.name}）" for s in self.scenarios.values()),
                               code="unknown_scenario")
        return found

    def for_scenario(self, code: str) -> list[MeasureDef]:
        return [m for m in self.measures.values() if code in m.scenarios]
