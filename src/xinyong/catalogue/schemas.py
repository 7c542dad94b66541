"""Pydantic types of the credit information catalogue (信用信息目录).

The catalogue is data: one YAML file per resource under ``catalogue/default/``. These models
give it a typed shape; ``loader.py`` adds the cross-reference checks and the line numbers.
Everything a user reads (labels, messages) is Chinese; identifiers are English.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PrivateAttr,
    model_validator,
)
from pydantic import (
    Field as PydanticField,
)

from xinyong.errors import NotFound

# --- Vocabularies -------------------------------------------------------------------------------

#: National base catalogue categories (全国公共信用信息基础目录), in their official order.
CATEGORIES: tuple[str, ...] = (
    "登记注册基本信息",
    "司法裁判及执行信息",
    "行政管理信息",
    "职称和职业资格信息",
    "经营异常名录",
    "严重失信主体名单",
    "合同履行信息",
    "信用承诺及履行情况",
    "信用评价结果",
    "遵守法律法规情况",
    "诚实守信相关荣誉",
    "自愿提供信息",
)

#: Subject kinds and the Chinese value departments write in a "类别" column.
SUBJECT_KINDS: dict[str, str] = {
    "legal_entity": "法人及非法人组织",
    "individual_business": "个体工商户",
    "natural_person": "自然人",
}

FIELD_TYPES: dict[str, str] = {
    "string": "文本",
    "text": "长文本",
    "integer": "整数",
    "decimal": "数值",
    "date": "日期",
    "boolean": "是/否",
    "enum": "代码值（枚举）",
    "uscc": "统一社会信用代码",
    "org_code": "组织机构代码",
    "citizen_id": "公民身份号码",
    "reg_no": "工商注册号",
    "phone": "电话号码",
}

POLARITIES: dict[str, str] = {"positive": "守信（正面）", "neutral": "中性", "negative": "失信（负面）"}

DISCLOSURES: dict[str, str] = {
    "public": "社会公开",
    "government": "政务共享",
    "subject": "仅主体本人",
    "internal": "内部",
}

LIST_KINDS: dict[str, str] = {"red": "红名单", "black": "严重失信主体名单（黑名单）", "watch": "重点关注名单"}

#: Display names of the severities the default catalogue uses (severity codes are free-form).
SEVERITY_LABELS: dict[str, str] = {
    "minor": "轻微", "general": "一般", "serious": "严重", "until_performed": "履行完毕前持续公示",
}

Category = Literal[
    "登记注册基本信息", "司法裁判及执行信息", "行政管理信息", "职称和职业资格信息", "经营异常名录",
    "严重失信主体名单", "合同履行信息", "信用承诺及履行情况", "信用评价结果", "遵守法律法规情况",
    "诚实守信相关荣誉", "自愿提供信息",
]
SubjectKind = Literal["legal_entity", "individual_business", "natural_person"]
FieldType = Literal[
    "string", "text", "integer", "decimal", "date", "boolean", "enum",
    "uscc", "org_code", "citizen_id", "reg_no", "phone",
]
Polarity = Literal["positive", "neutral", "negative"]
Disclosure = Literal["public", "government", "subject", "internal"]
ListKind = Literal["red", "black", "watch"]

CODE_PATTERN = r"^[a-z][a-z0-9_]*$"

#: Separators departments use between several values of a multiple enum.
MULTI_VALUE_SEPARATORS = re.compile(r"[；;、,，|]")
# Separators that may also occur inside a value (e.g. "以伪造证据、暴力、威胁等方法妨碍、抗拒执行").
_STRONG_SEPARATORS = re.compile(r"[；;|]")
_WEAK_SEPARATORS = re.compile(r"([、,，])")

# Brackets NFKC leaves alone but departments use interchangeably with ().
_BRACKETS = str.maketrans({"【": "(", "】": ")", "〔": "(", "〕": ")", "[": "(", "]": ")", "〈": "(", "〉": ")"})
_WHITESPACE = re.compile(r"\s+")
_OUTER_INNER = re.compile(r"^(?P<outer>.*?)\((?P<inner>[^()]+)\)$")


def normalize_header(text: str) -> str:
    """Canonical form of a column header: half-width, no whitespace, no required-marker star.

    ``" 行政相对人代码_1（统一社会信用代码） "`` and ``"行政相对人代码_1(统一社会信用代码)"`` give
    the same key, so a header index built once matches every variant departments produce.
    """
    text = unicodedata.normalize("NFKC", str(text)).translate(_BRACKETS)
    text = _WHITESPACE.sub("", text).strip("*")
    return text.casefold()


def normalize_value(value: Any) -> str:
    """Canonical form of a cell value for comparisons in conditions (half-width, trimmed)."""
    return unicodedata.normalize("NFKC", str(value)).strip()


def _as_str(value: Any) -> Any:
    # YAML turns 2099-12-31 into a date and 1 into an int; the catalogue stores text.
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, _dt.date)):
        return str(value)
    return value


def _as_str_list(value: Any) -> Any:
    if value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_as_str(v) for v in value]
    return [_as_str(value)]


StrValue = Annotated[str, BeforeValidator(_as_str)]
ValueList = Annotated[list[StrValue], BeforeValidator(_as_str_list)]
#: ``{field_code: [value, ...]}`` — every key must match, each any-of its values.
Condition = dict[str, ValueList]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class UnknownResource(NotFound, KeyError):
    """Raised by ``Catalogue.get`` — a KeyError with a Chinese message."""

    code = "unknown_resource"

    def __str__(self) -> str:  # KeyError would print the repr
        return self.message


class UnknownField(NotFound, KeyError):
    """Raised by ``Resource.field`` for a field code the resource does not have."""

    code = "unknown_field"

    def __str__(self) -> str:
        return self.message


# --- Field --------------------------------------------------------------------------------------


class EnumOption(_Model):
    """One code value. YAML may write a plain string (value = label) or ``{value, label}``."""

    value: StrValue
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_scalar(cls, data: Any) -> Any:
        if isinstance(data, (str, int, float)) and not isinstance(data, bool):
            return {"value": str(data)}
        return data

    @property
    def display(self) -> str:
        return self.label or self.value


class Field(_Model):
    """One information item (信息项) of a resource."""

    code: str = PydanticField(pattern=CODE_PATTERN)
    label: str = PydanticField(min_length=1)
    aliases: list[str] = []
    type: FieldType = "string"
    required: bool = False
    required_when: Condition | None = None
    enum: list[EnumOption] | None = None
    multiple: bool = False
    pattern: str | None = None
    max_length: int | None = PydanticField(default=None, gt=0)
    personal: bool = False
    public: bool = True
    unit: str | None = None
    description: str | None = None
    #: Extra validation depending on other fields, e.g. ``{citizen_id: {id_type: [身份证]}}``.
    validate_as: dict[FieldType, Condition] | None = None
    #: A sentinel meaning "no end" (e.g. ``2099-12-31`` for 有效期至).
    open_ended_value: StrValue | None = None

    _enum_lookup: dict[str, str] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any) -> None:
        lookup: dict[str, str] = {}
        for option in self.enum or ():
            # Labels first so that a value always wins over a coinciding label.
            if option.label:
                lookup.setdefault(normalize_value(option.label), option.value)
        for option in self.enum or ():
            lookup[normalize_value(option.value)] = option.value
        self._enum_lookup = lookup

    @property
    def enum_values(self) -> list[str]:
        return [o.value for o in self.enum or ()]

    def enum_label(self, value: str) -> str:
        """Label of a code value (``"1"`` → ``"有效"``); the value itself when unlabelled."""
        for option in self.enum or ():
            if option.value == value:
                return option.display
        return value

    def match_enum(self, text: Any) -> str | None:
        """The code value for a cell that holds either a value or a label; None if no match."""
        return self._enum_lookup.get(normalize_value(text))

    def split(self, raw: Any) -> list[str]:
        """Values of a cell: several for a ``multiple`` field (``警告；罚款``), else one."""
        if raw is None:
            return []
        if isinstance(raw, (list, tuple, set)):
            items = [normalize_value(v) for v in raw]
        elif self.multiple:
            items = []
            for part in _STRONG_SEPARATORS.split(str(raw)):
                items.extend(self._split_weak(normalize_value(part)))
        else:
            items = [normalize_value(raw)]
        return [v for v in items if v]

    def _split_weak(self, part: str) -> list[str]:
        """Split on 、/, only where that does not cut an enum value in two (longest match wins)."""
        if not part or self.match_enum(part) is not None or not self.enum:
            return [part]
        tokens = _WEAK_SEPARATORS.split(part)  # values at even positions, separators between
        out, start = [], 0
        while start < len(tokens):
            for end in range(len(tokens), start, -2):
                candidate = "".join(tokens[start:end])
                if self.match_enum(candidate) is not None or end == start + 1:
                    out.append(normalize_value(candidate))
                    start = end + 1
                    break
        return out

    def is_required(self, record: Mapping[str, Any], resource: Resource | None = None) -> bool:
        """Whether this field must be filled in for ``record`` (a mapping field code → value)."""
        if self.required:
            return True
        if self.required_when and resource is not None:
            return resource.matches(self.required_when, record)
        return False

    def validation_types(self, record: Mapping[str, Any], resource: Resource) -> list[str]:
        """The field's type plus every ``validate_as`` type whose condition holds for ``record``."""
        types = [self.type]
        for extra, condition in (self.validate_as or {}).items():
            if resource.matches(condition, record) and extra not in types:
                types.append(extra)
        return types

    def header_keys(self) -> list[tuple[str, bool]]:
        """Normalised header keys for this field, each flagged primary (label/code/alias) or derived."""
        keys: list[tuple[str, bool]] = []
        for text in (self.label, self.code, *self.aliases):
            norm = normalize_header(text)
            keys.append((norm, True))
            # 行政相对人代码_1(统一社会信用代码) is also written as either part alone, but a bare
            # unit such as (万元) identifies nothing.
            m = _OUTER_INNER.match(norm)
            if m:
                if m["outer"]:
                    keys.append((m["outer"], False))
                if not self.unit or m["inner"] != normalize_header(self.unit):
                    keys.append((m["inner"], False))
        return keys

    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of one cell value, for API documentation of records."""
        schema: dict[str, Any] = {"title": self.label}
        if self.description:
            schema["description"] = self.description
        if self.type == "integer":
            schema["type"] = "integer"
        elif self.type == "decimal":
            schema["type"] = "number"
        elif self.type == "boolean":
            schema["type"] = "boolean"
        else:
            schema["type"] = "string"
            if self.type == "date":
                schema["format"] = "date"
            if self.max_length:
                schema["maxLength"] = self.max_length
            if self.pattern:
                schema["pattern"] = self.pattern
        if self.enum:
            if self.multiple:
                schema["type"] = "array"
                schema["items"] = {"type": "string", "enum": self.enum_values}
            else:
                schema["enum"] = self.enum_values
        if self.unit:
            schema["x-unit"] = self.unit
        if self.personal:
            schema["x-personal"] = True
        return schema


# --- Resource -----------------------------------------------------------------------------------


class SubjectFields(_Model):
    """Which fields identify the subject of a record (used by intake to find the subject)."""

    name: str
    category: str | None = None
    uscc: str | None = None
    reg_no: str | None = None
    org_code: str | None = None
    tax_no: str | None = None
    institution_no: str | None = None
    social_org_no: str | None = None
    citizen_id: str | None = None
    id_type: str | None = None

    @property
    def identifiers(self) -> dict[str, str]:
        """Identifier kind → field code, most authoritative first (uscc, citizen_id, legacy codes)."""
        order = ("uscc", "citizen_id", "reg_no", "org_code", "tax_no", "institution_no", "social_org_no")
        return {k: getattr(self, k) for k in order if getattr(self, k)}

    def referenced(self) -> dict[str, str]:
        """Every role → field code that is set."""
        return {k: v for k, v in self.model_dump().items() if v}


class SeverityRule(_Model):
    severity: str = PydanticField(min_length=1)
    #: No ``when`` = always matches (use it as the final fallback rule).
    when: Condition | None = None


class Period(_Model):
    """Months before repair/early removal is possible, and the longest publication.

    ``max_months: null`` means no fixed maximum (publication ends by ``ends_when`` or the
    record's valid-until date); ``0/0`` means the record is not published at all.
    """

    min_months: int = PydanticField(default=0, ge=0)
    max_months: int | None = PydanticField(default=None, ge=0)

    @property
    def published(self) -> bool:
        return not (self.min_months == 0 and self.max_months == 0)


class DisclosureWindow(_Model):
    """How long a record may be published (公示期), by severity, with its legal basis."""

    basis: str = PydanticField(min_length=1)
    #: Date field the period counts from; defaults to the resource's ``date_field``.
    start_field: str | None = None
    #: First match wins.
    severity_rules: list[SeverityRule] = []
    periods: dict[str, Period] = PydanticField(min_length=1)
    #: Publication stops as soon as the record matches (e.g. 履行情况 = 全部履行).
    ends_when: Condition | None = None
    note: str | None = None


class Resource(_Model):
    """One information resource (信息资源) of the catalogue, e.g. 行政处罚信息."""

    code: str = PydanticField(pattern=CODE_PATTERN)
    name: str = PydanticField(min_length=1)
    description: str | None = None
    category: Category
    subcategory: str | None = None
    sector: str = PydanticField(min_length=1)
    subject_kinds: list[SubjectKind] = PydanticField(min_length=1)
    polarity: Polarity
    disclosure: Disclosure
    double_publicity: bool = False
    list_kind: ListKind | None = PydanticField(default=None, alias="list")
    update_cycle: str | None = None
    source_departments: list[str] = PydanticField(min_length=1)
    legal_basis: list[str] = []
    natural_key: list[str] = PydanticField(min_length=1)
    subject_fields: SubjectFields
    date_field: str
    valid_until_field: str | None = None
    disclosure_window: DisclosureWindow | None = None
    fields: list[Field] = PydanticField(min_length=1)

    _by_code: dict[str, Field] = PrivateAttr(default_factory=dict)
    _header_index: dict[str, str] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any) -> None:
        self._by_code = {f.code: f for f in self.fields}
        # Built once: intake matches every header of every file against it.
        primary: dict[str, str] = {}
        derived: dict[str, set[str]] = {}
        for f in self.fields:
            for key, is_primary in f.header_keys():
                if is_primary:
                    primary.setdefault(key, f.code)
                else:
                    derived.setdefault(key, set()).add(f.code)
        index = {key: codes.pop() for key, codes in derived.items() if len(codes) == 1}
        index.update(primary)
        self._header_index = index

    # -- lookups --

    def field(self, code: str) -> Field:
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownField(f"资源 {self.code}（{self.name}）没有信息项 {code}") from None

    def has_field(self, code: str) -> bool:
        return code in self._by_code

    def field_by_header(self, header: str) -> Field | None:
        """The field a column header means: by label, code or alias, tolerating bracket width,
        surrounding spaces, a trailing ``*`` and the bracketed part alone; None if unknown."""
        code = self._header_index.get(normalize_header(header))
        return self._by_code[code] if code else None

    def map_headers(self, headers: Sequence[str]) -> list[Field | None]:
        """``field_by_header`` for each header of a file, aligned with ``headers``."""
        return [self.field_by_header(h) for h in headers]

    @property
    def field_codes(self) -> list[str]:
        return [f.code for f in self.fields]

    @property
    def labels(self) -> dict[str, str]:
        return {f.code: f.label for f in self.fields}

    @property
    def required_fields(self) -> list[Field]:
        """Unconditionally required fields (see ``Field.is_required`` for conditional ones)."""
        return [f for f in self.fields if f.required]

    def required_for(self, record: Mapping[str, Any]) -> list[Field]:
        """Fields that must be filled in for ``record``: required ones plus those whose
        ``required_when`` condition holds (e.g. 罚款金额 when 处罚类别 includes 罚款)."""
        return [f for f in self.fields
                if f.required or (f.required_when and self.matches(f.required_when, record))]

    @property
    def public_fields(self) -> list[Field]:
        """Fields that may appear on public surfaces; empty unless the resource is public.
        Personal fields in this list must still be shown masked."""
        if self.disclosure != "public":
            return []
        return [f for f in self.fields if f.public]

    @property
    def personal_fields(self) -> list[Field]:
        """Personal data: encrypted at rest and masked everywhere."""
        return [f for f in self.fields if f.personal]

    @property
    def is_list(self) -> bool:
        return self.list_kind is not None

    @property
    def is_public(self) -> bool:
        return self.disclosure == "public"

    @property
    def subject_kind_labels(self) -> list[str]:
        return [SUBJECT_KINDS[k] for k in self.subject_kinds]

    # -- rules --

    def values_of(self, code: str, record: Mapping[str, Any]) -> list[str]:
        """Canonical values of ``code`` in ``record`` (split when multiple, enum labels → values)."""
        if code not in record:
            return []
        f = self._by_code.get(code)
        if f is None:
            return [normalize_value(record[code])] if record[code] not in (None, "") else []
        values = f.split(record[code])
        if f.enum:
            values = [f.match_enum(v) or v for v in values]
        return values

    def matches(self, condition: Mapping[str, Sequence[str]] | None, record: Mapping[str, Any]) -> bool:
        """Whether ``record`` satisfies a catalogue condition: every field has any of the values."""
        if not condition:
            return True
        for code, wanted in condition.items():
            f = self._by_code.get(code)
            targets = {(f.match_enum(w) if f and f.enum else None) or normalize_value(w) for w in wanted}
            if not targets.intersection(self.values_of(code, record)):
                return False
        return True

    def severity_of(self, record: Mapping[str, Any]) -> str | None:
        """The severity of a record under the disclosure window rules (first match wins)."""
        window = self.disclosure_window
        if window is None:
            return None
        if not window.severity_rules:
            return next(iter(window.periods))
        for rule in window.severity_rules:
            if self.matches(rule.when, record):
                return rule.severity
        return None

    def disclosure_period(self, record: Mapping[str, Any]) -> Period | None:
        """The publication period that applies to ``record``; None when the resource has no rule."""
        severity = self.severity_of(record)
        if severity is None or self.disclosure_window is None:
            return None
        return self.disclosure_window.periods.get(severity)

    def record_json_schema(self) -> dict[str, Any]:
        """JSON Schema of one record of this resource (API documentation, form generation)."""
        return {
            "title": self.name,
            "type": "object",
            "properties": {f.code: f.json_schema() for f in self.fields},
            "required": [f.code for f in self.fields if f.required],
            "additionalProperties": False,
        }

    def dump(self) -> dict[str, Any]:
        """Plain JSON-ready dict in the YAML's own vocabulary (``list``, not ``list_kind``)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- Catalogue ----------------------------------------------------------------------------------


class ExcludedCategory(_Model):
    """A category deliberately left out of the catalogue, with the reason (shown to users)."""

    name: str
    reason: str


class CatalogueMeta(_Model):
    """Contents of ``_catalogue.yaml``."""

    name: str = "公共信用信息目录"
    edition: StrValue | None = None
    description: str | None = None
    excluded: list[ExcludedCategory] = []


class Catalogue(_Model):
    """The loaded catalogue: resources by code in a stable order (category order, then code)."""

    name: str = "公共信用信息目录"
    edition: str | None = None
    description: str | None = None
    excluded: list[ExcludedCategory] = []
    resources: dict[str, Resource] = {}
    #: Short hash of the canonical content: changes whenever any resource changes.
    version: str = ""

    @model_validator(mode="after")
    def _order_and_version(self) -> Catalogue:
        rank = {c: i for i, c in enumerate(CATEGORIES)}
        ordered = dict(sorted(self.resources.items(), key=lambda kv: (rank[kv[1].category], kv[0])))
        object.__setattr__(self, "resources", ordered)
        if not self.version:
            object.__setattr__(self, "version", self.content_hash())
        return self

    def content_hash(self) -> str:
        payload = self.model_dump(mode="json", by_alias=True, exclude={"version"})
        text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def get(self, code: str) -> Resource:
        try:
            return self.resources[code]
        except KeyError:
            raise UnknownResource(
                f"信用信息目录中没有资源 {code}。可用的资源代码：{'、'.join(self.resources) or '（无）'}"
            ) from None

    def __contains__(self, code: object) -> bool:
        return code in self.resources

    def __iter__(self) -> Iterator[Resource]:  # type: ignore[override]
        return iter(self.resources.values())

    def __len__(self) -> int:
        return len(self.resources)

    @property
    def codes(self) -> list[str]:
        return list(self.resources)

    @property
    def sectors(self) -> list[str]:
        return sorted({r.sector for r in self})

    def by_category(self) -> dict[str, list[Resource]]:
        grouped: dict[str, list[Resource]] = {}
        for r in self:
            grouped.setdefault(r.category, []).append(r)
        return grouped

    def lists(self, kind: str | None = None) -> list[Resource]:
        """List resources (red/black/watch), optionally of one kind."""
        return [r for r in self if r.list_kind and (kind is None or r.list_kind == kind)]

    def double_publicity(self) -> list[Resource]:
        return [r for r in self if r.double_publicity]

    def filter(self, *, category: str | None = None, sector: str | None = None,
               polarity: str | None = None, disclosure: str | None = None,
               department: str | None = None) -> list[Resource]:
        """Resources matching every given attribute."""
        return [
            r for r in self
            if (category is None or r.category == category)
            and (sector is None or r.sector == sector)
            and (polarity is None or r.polarity == polarity)
            and (disclosure is None or r.disclosure == disclosure)
            and (department is None or department in r.source_departments)
        ]

    def for_department(self, department: str) -> list[Resource]:
        """Resources a department supplies (what its intake templates cover)."""
        return self.filter(department=department)


def iter_condition_refs(resource: Resource) -> Iterable[tuple[str, str, Mapping[str, Sequence[str]]]]:
    """Every condition of a resource as (path, description, condition) — for the validator."""
    for i, f in enumerate(resource.fields):
        if f.required_when:
            yield f"fields[{i}].required_when", "required_when", f.required_when
        for t, cond in (f.validate_as or {}).items():
            yield f"fields[{i}].validate_as.{t}", "validate_as", cond
    w = resource.disclosure_window
    if w:
        for j, rule in enumerate(w.severity_rules):
            if rule.when:
                yield f"disclosure_window.severity_rules[{j}].when", "severity_rules", rule.when
        if w.ends_when:
            yield "disclosure_window.ends_when", "ends_when", w.ends_when
