"""Row validation driven by the catalogue: the one place that says whether a record is well-formed.

Intake, the API and the synthetic generator's tests all call ``validate_row``. It checks one row
(field code → raw text) against its resource and returns the normalised values plus every
problem found, each with the field, a stable error code and a Chinese message.

What departments really send is accepted and normalised:

* dates written 2024-03-05, 2024/3/5, 2024.3.5, 2024年3月5日, 20240305 or as an Excel serial
  number (45356), with full-width digits or a trailing time; "长期" where the field has an
  open-ended value. Stored as ISO ``YYYY-MM-DD``;
* codes in full width, lower case, with spaces or hyphens: stored half-width upper case;
* cells holding only dashes ("-", "——") mean "no value" and count as blank.

Formula-like cells are **rejected** (code ``formula_like``): a text cell starting with ``=``,
``+``, ``-`` or ``@`` is what a spreadsheet export leaves when a formula was exported instead of
its value, and must never reach a spreadsheet the platform produces. Numbers are the exception:
"-5" or "+5" in a numeric field is judged as a number (negatives are refused there anyway).

Rules are compiled once per resource (``RowValidator``): intake validates millions of rows.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from operator import itemgetter, mul
from typing import Any

from stdnum.iso7064 import mod_11_10

from xinyong.catalogue.schemas import Field, Resource, normalize_value
from xinyong.identity.codes import (
    check_citizen_id,
    check_org_code,
    check_uscc,
    mask_citizen_id,
    normalize_code,
)

_TRUE = {"是", "true", "1", "y", "yes", "t"}
_FALSE = {"否", "false", "0", "n", "no", "f"}
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
_INT = re.compile(r"^[+-]?\d+$")

#: First characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = frozenset("=+-@")
# A cell made only of dashes is a "no value" placeholder, not a formula.
_PLACEHOLDER = re.compile(r"^[-－—–‐‑‒―_]+$")
#: Words meaning "no end date", mapped to a field's ``open_ended_value``.
OPEN_ENDED_WORDS = frozenset({"长期", "长期有效", "永久", "永久有效", "无期限"})
_NUMERIC_TYPES = frozenset({"decimal", "integer"})

# --- dates ---------------------------------------------------------------------------------------

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)
_TRAILING_TIME = re.compile(r"[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?$", re.ASCII)
_SEPARATED = re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})$", re.ASCII)
_CHINESE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})[日号]?$", re.ASCII)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$", re.ASCII)
_SERIAL = re.compile(r"^(\d{5})(?:\.\d+)?$", re.ASCII)
_EXCEL_EPOCH = date(1899, 12, 30)  # serial 1 = 1900-01-01, counting Excel's phantom 1900-02-29
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2099, 12, 31)
DATE_HINT = "可写作 2024-03-05、2024/3/5、2024.3.5、2024年3月5日 或 20240305"


def parse_date(value: Any) -> date | None:
    """A date in any format departments use, or None. Years 1900–2099 only.

    ``date``/``datetime`` objects (spreadsheet cells) pass through; text may be written
    2024-03-05, 2024/3/5, 2024.3.5, 2024年3月5日, 20240305 or as an Excel serial (45356),
    in full or half width, with inner spaces or a trailing time of day.
    """
    if isinstance(value, datetime):
        d = value.date()
    elif isinstance(value, date):
        d = value
    else:
        d = _parse_date_text(str(value))
    if d is None or not MIN_DATE <= d <= MAX_DATE:
        return None
    return d


def _parse_date_text(text: str) -> date | None:
    if _ISO.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = "".join(_TRAILING_TIME.sub("", text.strip()).split())
    m = _SEPARATED.match(text)
    if m:
        return _ymd(int(m.group(1)), int(m.group(3)), int(m.group(4)))
    m = _CHINESE.match(text) or _COMPACT.match(text)
    if m:
        return _ymd(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _SERIAL.match(text)
    if m:
        return _EXCEL_EPOCH + timedelta(days=int(m.group(1)))
    return None


def _ymd(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def excel_serial(d: date) -> int:
    """The Excel serial number of a date (tests and fixtures write dates this way)."""
    return (d - _EXCEL_EPOCH).days


# --- errors --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    field: str | None
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "code": self.code, "message": self.message}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def clean_cell(value: Any) -> str | None:
    """Raw cell → stripped text, or None for blank cells and dash-only placeholders."""
    if value is None:
        return None
    if not isinstance(value, str):
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        elif isinstance(value, datetime):
            value = value.date() if value.time() == datetime.min.time() else value
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        value = str(value)
    text = value.strip()
    if not text or (text[0] in "-－—–‐‑‒―_" and _PLACEHOLDER.match(text)):
        return None
    return text


def is_formula_like(text: str) -> bool:
    return text[:1] in FORMULA_PREFIXES


# --- type checks ---------------------------------------------------------------------------------

Checker = Callable[[str], tuple[str | None, RowError | None]]
class _Cells:
    """One per-cell check applied to whole columns, each distinct text checked once and its
    result remembered (bounded): the same dates, enums, authorities and companies recur."""

    limit = 50_000

    def __init__(self, check: Checker) -> None:
        self.check = check
        self.values: dict[str, str | None] = {}
        self.errors: dict[str, RowError] = {}
        self.lock = threading.Lock()  # validators are shared (API threads)

    def column(self, vals: Sequence[str | None]) -> tuple[list[str | None], dict[str, RowError]]:
        """(normalised values, {text: error} of the texts that failed)."""
        with self.lock:
            return self._column(vals)

    def _column(self, vals: Sequence[str | None]) -> tuple[list[str | None], dict[str, RowError]]:
        uniq = set(vals)
        uniq.discard(None)
        new = uniq.difference(self.values.keys(), self.errors.keys())
        if new:
            if len(self.values) + len(self.errors) + len(new) > self.limit:
                self.values.clear()
                self.errors.clear()
                new = uniq
            for u in new:
                value, err = self.check(u)
                if err is None:
                    self.values[u] = value
                else:
                    self.errors[u] = err
        failed = uniq.intersection(self.errors.keys())
        return list(map(self.values.get, vals)), {u: self.errors[u] for u in failed}


def _type_checker(fld: Field, kind: str) -> Checker | None:
    """A function text → (normalised value, error) for one type; None for free text."""
    label, code = fld.label, fld.code
    if kind in ("string", "text"):
        return None
    if kind == "enum":
        allowed = "、".join(o.display for o in fld.enum or [])

        def check_enum(text: str) -> tuple[str | None, RowError | None]:
            out = []
            for v in (fld.split(text) if fld.multiple else [text]):
                matched = fld.match_enum(v)
                if matched is None:
                    return None, RowError(code, "invalid_enum", f"“{label}”的值“{v}”不在可选范围内，可选：{allowed}。")
                if matched not in out:
                    out.append(matched)
            return "；".join(out), None

        return check_enum
    if kind == "date":
        open_end = fld.open_ended_value

        def check_date(text: str) -> tuple[str | None, RowError | None]:
            if open_end and text in OPEN_ENDED_WORDS:
                return open_end, None
            d = parse_date(text)
            if d is None:
                return None, RowError(code, "invalid_date", f"“{label}”不是有效日期：{text}。{DATE_HINT}。")
            return d.isoformat(), None

        return check_date
    if kind == "decimal":
        def check_decimal(text: str) -> tuple[str | None, RowError | None]:
            try:
                dec = Decimal(unicodedata.normalize("NFKC", text).replace(",", "").replace(" ", ""))
            except InvalidOperation:
                return None, RowError(code, "invalid_decimal", f"“{label}”应为数字：{text}。")
            if not dec.is_finite() or dec < 0:
                return None, RowError(code, "invalid_decimal", f"“{label}”应为不小于0的数字：{text}。")
            out = format(dec.normalize(), "f")
            return ("0" if out == "-0" else out), None

        return check_decimal
    if kind == "integer":
        def check_integer(text: str) -> tuple[str | None, RowError | None]:
            t = unicodedata.normalize("NFKC", text).replace(",", "")
            t = t.removesuffix(".0")  # a spreadsheet number cell
            if not _INT.match(t):
                return None, RowError(code, "invalid_integer", f"“{label}”应为整数：{text}。")
            return str(int(t)), None

        return check_integer
    if kind == "boolean":
        def check_boolean(text: str) -> tuple[str | None, RowError | None]:
            low = unicodedata.normalize("NFKC", text).lower()
            if low in _TRUE:
                return "true", None
            if low in _FALSE:
                return "false", None
            return None, RowError(code, "invalid_boolean", f"“{label}”应填“是”或“否”：{text}。")

        return check_boolean
    if kind == "phone":
        def check_phone(text: str) -> tuple[str | None, RowError | None]:
            compact = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", text))
            if not _PHONE.match(compact):
                return None, RowError(code, "invalid_phone", f"“{label}”不是有效的电话号码。")
            return compact, None

        return check_phone
    if kind == "reg_no":
        def check_reg_no(text: str) -> tuple[str | None, RowError | None]:
            value = normalize_code(text)
            if not (len(value) == 15 and value.isascii() and value.isdigit() and mod_11_10.is_valid(value)):
                return None, RowError(code, "invalid_reg_no", f"“{label}”应为15位工商注册号且校验位正确：{value}。")
            return value, None

        return check_reg_no
    checker = {"uscc": check_uscc, "org_code": check_org_code, "citizen_id": check_citizen_id}.get(kind)
    if checker is None:
        return None

    def check_code(text: str) -> tuple[str | None, RowError | None]:
        result = checker(text)
        if not result.valid:
            return None, RowError(code, f"invalid_{kind}", f"“{label}”：{result.message}")
        return result.normalized, None

    return check_code


# --- fast paths for valid codes ------------------------------------------------------------------
# Intake checks millions of codes; nearly all are valid. These agree with identity.codes on what is
# valid (a property test holds them to it) and defer to it for everything else, so the messages
# stay identity.codes' own.

_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {c: i for i, c in enumerate(_USCC_CHARS)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_FAST = re.compile(r"[0-9]{8}[0-9A-HJ-NPQRTUWXY]{10}")
_ID_FAST = re.compile(r"[0-9]{17}[0-9X]")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_PROVINCES = frozenset(["11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83"])


def fast_valid_uscc(code: str) -> bool:
    if not _USCC_FAST.fullmatch(code):
        return False
    total = sum(map(mul, map(_USCC_VALUES.__getitem__, code[:17]), _USCC_WEIGHTS))
    return code[17] == _USCC_CHARS[-total % 31]


def fast_valid_citizen_id(code: str, today: date) -> bool:
    if not _ID_FAST.fullmatch(code) or code[:2] not in _PROVINCES:
        return False
    try:
        born = date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        return False
    if born.year < 1900 or born > today:
        return False
    total = sum(map(mul, map(int, code[:17]), _ID_WEIGHTS))
    return code[17] == "10X98765432"[total % 11]


def _code_checker(fld: Field, kind: str, today: date) -> Checker | None:
    checker = {"uscc": check_uscc, "org_code": check_org_code, "citizen_id": check_citizen_id}.get(kind)
    if checker is None:
        return None
    label, code = fld.label, fld.code
    fast = {"uscc": fast_valid_uscc,
            "citizen_id": lambda v: fast_valid_citizen_id(v, today)}.get(kind, lambda v: False)

    def check_code(text: str) -> tuple[str | None, RowError | None]:
        if fast(text):
            return text, None
        result = checker(text, today=today) if kind == "citizen_id" else checker(text)
        if not result.valid:
            return None, RowError(code, f"invalid_{kind}", f"“{label}”：{result.message}")
        return result.normalized, None

    return check_code


# --- compiled conditions -------------------------------------------------------------------------


def _contains(value: str, targets: frozenset[str]) -> bool:
    return value in targets or ("；" in value and not targets.isdisjoint(value.split("；")))


class _Condition:
    """A catalogue condition, pre-normalised. Conditions on enum fields (the usual case) are
    tested on already-normalised columns; anything else defers to ``Resource.matches``."""

    def __init__(self, resource: Resource, condition: Mapping[str, Sequence[str]]) -> None:
        self.resource = resource
        self.condition = condition
        self.parts: list[tuple[str, frozenset[str]]] | None = []
        for code, wanted in condition.items():
            f = resource.field(code) if resource.has_field(code) else None
            if f is None or f.type != "enum" or f.validate_as:
                self.parts = None
                break
            self.parts.append((code, frozenset((f.match_enum(w) or normalize_value(w)) for w in wanted)))

    def mask(self, out: Mapping[str, list], raw: Mapping[str, list], n: int) -> list[bool]:
        if self.parts is None:
            rows = []
            for i in range(n):
                record = {k: v[i] for k, v in raw.items() if v[i] is not None}
                record.update({k: v[i] for k, v in out.items() if v[i] is not None})
                rows.append(self.resource.matches(self.condition, record))
            return rows
        result: list[bool] | None = None
        for code, targets in self.parts:
            col = out[code]
            truth = {u: _contains(u, targets) for u in set(col) if u is not None}
            truth[None] = False
            part = list(map(truth.__getitem__, col))
            result = part if result is None else [a and b for a, b in zip(result, part)]
        return result if result is not None else [True] * n


# --- the compiled validator ----------------------------------------------------------------------


@dataclass
class _FieldPlan:
    field: Field
    code: str
    label: str
    kind: str
    max_length: int | None
    checker: Checker | None  # None: free text
    extra: list[tuple[_Condition, Checker]]  # validate_as types
    pattern: re.Pattern | None
    required: bool
    required_when: _Condition | None
    numeric: bool
    cells: _Cells | None = None

    def __post_init__(self) -> None:
        self.cells = _Cells(self.check_value)
        self.extra = [(condition, _Cells(checker)) for condition, checker in self.extra]

    def check_value(self, text: str) -> tuple[str | None, RowError | None]:
        """Everything about one cell that does not depend on the rest of the row."""
        if self.max_length and len(text) > self.max_length:
            return None, RowError(self.code, "too_long",
                                  f"“{self.label}”超过最大长度 {self.max_length} 个字符（现有 {len(text)} 个）。")
        if text[0] in FORMULA_PREFIXES and not (self.numeric and text[1:2].isdigit()):
            return None, RowError(self.code, "formula_like",
                                  f"“{self.label}”以“{text[0]}”开头，疑似电子表格公式，已拒收：请填写公式的计算结果"
                                  "或去掉开头的符号。")
        value = text
        if self.checker is not None:
            value, err = self.checker(text)
            if err is not None:
                return None, err
        if self.pattern is not None and not self.pattern.fullmatch(value):
            half = unicodedata.normalize("NFKC", value)
            if not self.pattern.fullmatch(half):
                return None, RowError(self.code, "pattern_mismatch",
                                      f"“{self.label}”的格式不符合要求：{_safe(self.field, value)}。")
            value = half
        return value, None


_SPECIAL_FIRST = frozenset("-－—–‐‑‒―_=+@")
_STR_ONLY = {str}


_first = itemgetter(0)


def clean_column(col: Sequence[Any]) -> list[str | None]:
    """``clean_cell`` over a column; C-level passes for the usual all-text column."""
    if set(map(type, col)) <= _STR_ONLY:
        vals = list(map(str.strip, col))
        if "" in vals:
            vals = [c or None for c in vals]
    else:
        vals = [(c.strip() or None) if c.__class__ is str else clean_cell(c) for c in col]
    if any(map(_SPECIAL_FIRST.__contains__, map(_first, filter(None, vals)))):
        for i, c in enumerate(vals):
            if c is not None and c[0] in _SPECIAL_FIRST and _PLACEHOLDER.match(c):
                vals[i] = None
    return vals


@dataclass
class Validated:
    """Column-wise result: normalised values per field (None when blank or invalid) and the
    errors of each row that has any, by row index."""

    values: dict[str, list[str | None]]
    errors: dict[int, list[RowError]]
    n: int

    def row(self, i: int) -> dict[str, str | None]:
        return {code: col[i] for code, col in self.values.items()}


class RowValidator:
    """A resource's rules compiled once and applied a column at a time (intake validates
    chunks of thousands of rows; the same code validates a single row)."""

    def __init__(self, resource: Resource, today: date) -> None:
        self.resource = resource
        self.today = today
        plans = []
        for fld in resource.fields:
            extra = []
            for kind, condition in (fld.validate_as or {}).items():
                if kind != fld.type:
                    checker = _code_checker(fld, kind, today) or _type_checker(fld, kind)
                    if checker is not None:
                        extra.append((_Condition(resource, condition), checker))
            checker = _code_checker(fld, fld.type, today) or _type_checker(fld, fld.type)
            plans.append(_FieldPlan(
                field=fld, code=fld.code, label=fld.label, kind=fld.type, max_length=fld.max_length,
                checker=checker, extra=extra, pattern=re.compile(fld.pattern) if fld.pattern else None,
                required=fld.required,
                required_when=_Condition(resource, fld.required_when) if fld.required_when else None,
                numeric=fld.type in _NUMERIC_TYPES))
        # Enum fields first: conditions (required_when, validate_as) are written in enum values.
        self.plans = sorted(plans, key=lambda p: p.kind != "enum")
        self.field_order = [p.code for p in plans]
        self._by_code = {p.code: p for p in plans}
        self.main_date = resource.date_field if resource.has_field(resource.date_field) else None
        self.main_label = resource.field(resource.date_field).label if self.main_date else ""
        self.until = resource.valid_until_field if resource.valid_until_field and \
            resource.has_field(resource.valid_until_field) else None
        self.until_label = resource.field(self.until).label if self.until else ""

    def _column(self, p: _FieldPlan, vals: list[str | None], errors: dict[int, list[RowError]]
                ) -> list[str | None]:
        """Per-cell checks of one column, each distinct value checked once."""
        if p.checker is None and p.pattern is None:
            # Free text: only length and formula-like cells can be wrong (C-level test first).
            present = list(filter(None, vals))
            if not any(map(FORMULA_PREFIXES.__contains__, map(_first, present))) and (
                    p.max_length is None or max(map(len, present), default=0) <= p.max_length):
                return vals
            bad = [i for i, c in enumerate(vals) if c is not None and (
                c[0] in FORMULA_PREFIXES or (p.max_length is not None and len(c) > p.max_length))]
            if not bad:
                return vals
            out = list(vals)
            for i in bad:
                out[i], err = p.check_value(vals[i])
                errors.setdefault(i, []).append(err)
            return out
        out, failed = p.cells.column(vals)
        if failed:
            for i, c in enumerate(vals):
                err = failed.get(c)
                if err is not None:
                    errors.setdefault(i, []).append(err)
        return out

    def validate_columns(self, columns: Mapping[str, Sequence[Any]], n: int) -> Validated:
        """Validate ``n`` rows given as columns (field code → raw cells; missing field = blank)."""
        blank = [None] * n
        raw = {code: clean_column(columns[code]) if code in columns else blank for code in self.field_order}
        out: dict[str, list[str | None]] = {}
        errors: dict[int, list[RowError]] = {}
        for p in self.plans:
            vals = raw[p.code]
            if vals is blank:
                out[p.code] = blank
                continue
            col = self._column(p, vals, errors)
            for condition, cells in p.extra:
                mask = condition.mask(out, raw, n)
                todo = [i for i, (m, v) in enumerate(zip(mask, col)) if m and v is not None]
                if not todo:
                    continue
                col = list(col) if col is vals else col
                texts = [col[i] for i in todo]
                checked, failed = cells.column(texts)
                for i, text, value in zip(todo, texts, checked):
                    col[i] = value
                    if value is None:
                        errors.setdefault(i, []).append(failed[text])
            out[p.code] = col
        for code in self.field_order:
            vals = raw[code]
            p = self._by_code[code]
            if not (p.required or p.required_when) or (vals is not blank and None not in vals):
                continue
            if p.required:
                missing = range(n) if vals is blank else [i for i, v in enumerate(vals) if v is None]
                why = ""
            else:
                mask = p.required_when.mask(out, raw, n)
                missing = [i for i in range(n) if mask[i] and vals[i] is None]
                why = "（根据本行其他字段，此项为条件必填）"
            if missing:
                err = RowError(code, "required", f"“{p.label}”为必填项{why}，不能为空。")
                for i in missing:
                    errors.setdefault(i, []).append(err)
        if self.main_date and out[self.main_date] is not blank:
            today = self.today.isoformat()
            main = out[self.main_date]
            for i, d in enumerate(main):
                if d is not None and d > today:
                    errors.setdefault(i, []).append(
                        RowError(self.main_date, "date_in_future", f"“{self.main_label}”{d} 晚于今天，请核对。"))
            if self.until and out[self.until] is not blank:
                for i, (d, u) in enumerate(zip(main, out[self.until])):
                    if d is not None and u is not None and u < d:
                        errors.setdefault(i, []).append(RowError(
                            self.until, "until_before_start", f"“{self.until_label}”{u} 早于“{self.main_label}”{d}。"))
        return Validated(values={code: out[code] for code in self.field_order}, errors=errors, n=n)

    def validate(self, row: Mapping[str, Any]) -> tuple[dict[str, str | None], list[RowError]]:
        result = self.validate_columns({code: [row.get(code)] for code in self.field_order}, 1)
        return result.row(0), result.errors.get(0, [])

    def key_columns(self, columns: Mapping[str, Sequence[Any]], codes: Sequence[str], n: int
                    ) -> list[tuple[str, ...] | None] | None:
        """Normalised values of a few fields (the natural key) of each row, without validating
        the whole row: None for a row where one is blank or invalid. None overall when a key
        field has conditional rules, so that only full validation can tell."""
        cols = []
        for code in codes:
            p = self._by_code[code]
            if p.extra:
                return None
            if code not in columns:
                return [None] * n
            vals = clean_column(columns[code])
            if p.checker is None and p.pattern is None:
                # Free text (document numbers: all distinct): the column check, not the cache.
                cols.append(self._column(p, vals, {}))
            else:
                cols.append(p.cells.column(vals)[0])
        return [None if None in key else key for key in zip(*cols)]


_compiled: dict[tuple[int, date], tuple[Resource, RowValidator]] = {}
_compiled_lock = threading.Lock()


def row_validator(resource: Resource, today: date | None = None) -> RowValidator:
    """The compiled validator of a resource for a given day (cached)."""
    key = (id(resource), today or date.today())
    hit = _compiled.get(key)
    if hit is not None and hit[0] is resource:
        return hit[1]
    validator = RowValidator(resource, key[1])
    with _compiled_lock:
        if len(_compiled) > 256:
            _compiled.clear()
        _compiled[key] = (resource, validator)  # holding the resource keeps its id unique
    return validator


def validate_row(resource: Resource, row: Mapping[str, Any], *, today: date | None = None
                 ) -> tuple[dict[str, str | None], list[RowError]]:
    """Validate and normalise one row. ``row`` maps field codes to raw cell values.

    Returns every field's normalised value (None when blank or invalid) and the errors found.
    """
    return row_validator(resource, today).validate(row)


def _safe(fld: Field, value: str | None) -> str:
    if value and fld.personal:
        return mask_citizen_id(value)
    return value or ""
