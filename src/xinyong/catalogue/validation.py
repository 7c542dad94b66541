"""Row validation driven by the catalogue: the one place that says whether a record is well-formed.

Intake, the API and the synthetic generator's tests all call ``validate_row``. It checks one row
(field code → raw text) against its resource and returns the normalised values plus every
problem found, each with the field, a stable error code and a Chinese message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from stdnum.iso7064 import mod_11_10

from xinyong.catalogue.schemas import Field, Resource
from xinyong.identity.codes import check_citizen_id, check_org_code, check_uscc, mask_citizen_id, normalize_code

_TRUE = {"是", "true", "1", "y", "yes", "t"}
_FALSE = {"否", "false", "0", "n", "no", "f"}
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
_INT = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class RowError:
    field: str | None
    code: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "code": self.code, "message": self.message}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_type(fld: Field, kind: str, text: str, today: date) -> tuple[str | None, RowError | None]:
    """(normalised value, error) for one value of one type."""
    label = fld.label
    if kind in ("string", "text"):
        return text, None
    if kind == "enum":
        values = fld.split(text) if fld.multiple else [text]
        out = []
        for v in values:
            matched = fld.match_enum(v)
            if matched is None:
                allowed = "、".join(o.display for o in fld.enum or [])
                return None, RowError(fld.code, "invalid_enum", f"“{label}”的值“{v}”不在可选范围内，可选：{allowed}。")
            out.append(matched)
        return "；".join(out), None
    if kind == "date":
        try:
            d = date.fromisoformat(text)
        except ValueError:
            return None, RowError(fld.code, "invalid_date", f"“{label}”不是有效日期：{text}。请写作 2024-03-05。")
        return d.isoformat(), None
    if kind == "decimal":
        try:
            dec = Decimal(text.replace(",", ""))
        except InvalidOperation:
            return None, RowError(fld.code, "invalid_decimal", f"“{label}”应为数字：{text}。")
        if not dec.is_finite() or dec < 0:
            return None, RowError(fld.code, "invalid_decimal", f"“{label}”应为不小于0的数字：{text}。")
        return format(dec.normalize(), "f"), None
    if kind == "integer":
        if not _INT.match(text):
            return None, RowError(fld.code, "invalid_integer", f"“{label}”应为整数：{text}。")
        return str(int(text)), None
    if kind == "boolean":
        low = text.lower()
        if low in _TRUE:
            return "true", None
        if low in _FALSE:
            return "false", None
        return None, RowError(fld.code, "invalid_boolean", f"“{label}”应填“是”或“否”：{text}。")
    if kind == "phone":
        compact = re.sub(r"[\s-]", "", text)
        if not _PHONE.match(compact):
            return None, RowError(fld.code, "invalid_phone", f"“{label}”不是有效的电话号码。")
        return compact, None
    if kind == "reg_no":
        code = normalize_code(text)
        if not (len(code) == 15 and code.isdigit() and mod_11_10.is_valid(code)):
            return None, RowError(fld.code, "invalid_reg_no", f"“{label}”应为15位工商注册号且校验位正确：{code}。")
        return code, None
    checker = {"uscc": check_uscc, "org_code": check_org_code, "citizen_id": check_citizen_id}.get(kind)
    if checker is None:
        return text, None
    result = checker(text)
    if not result.valid:
        return None, RowError(fld.code, f"invalid_{kind}", f"“{label}”：{result.message}")
    return result.normalized, None


def validate_row(resource: Resource, row: dict[str, Any], *, today: date | None = None
                 ) -> tuple[dict[str, str | None], list[RowError]]:
    """Validate and normalise one row. ``row`` maps field codes to raw cell text."""
    today = today or date.today()
    raw = {f.code: (None if _blank(row.get(f.code)) else str(row.get(f.code)).strip()) for f in resource.fields}
    out: dict[str, str | None] = {}
    errors: list[RowError] = []
    # Enum fields first: conditions (required_when, validate_as) are written in enum values.
    for fld in sorted(resource.fields, key=lambda f: f.type != "enum"):
        text = raw[fld.code]
        if text is None:
            out[fld.code] = None
            continue
        if fld.max_length and len(text) > fld.max_length:
            errors.append(RowError(fld.code, "too_long", f"“{fld.label}”超过最大长度 {fld.max_length} 个字符（现有 {len(text)} 个）。"))
            out[fld.code] = None
            continue
        value, err = text, None
        for kind in fld.validation_types(out | {k: v for k, v in raw.items() if k not in out}, resource):
            value, err = _check_type(fld, kind, value, today)
            if err:
                break
        if err is None and fld.pattern and not re.fullmatch(fld.pattern, value or ""):
            err = RowError(fld.code, "pattern_mismatch", f"“{fld.label}”的格式不符合要求：{_safe(fld, value)}。")
        if err:
            errors.append(err)
            out[fld.code] = None
        else:
            out[fld.code] = value
    for fld in resource.fields:
        if raw[fld.code] is None and fld.is_required(out, resource):
            why = "" if fld.required else "（根据本行其他字段，此项为条件必填）"
            errors.append(RowError(fld.code, "required", f"“{fld.label}”为必填项{why}，不能为空。"))
    errors.extend(_cross_field(resource, out, today))
    return out, errors


def _safe(fld: Field, value: str | None) -> str:
    if value and fld.personal:
        return mask_citizen_id(value)
    return value or ""


def _cross_field(resource: Resource, out: dict[str, str | None], today: date) -> list[RowError]:
    errors = []
    main = out.get(resource.date_field)
    if main and date.fromisoformat(main) > today:
        label = resource.field(resource.date_field).label
        errors.append(RowError(resource.date_field, "date_in_future", f"“{label}”{main} 晚于今天，请核对。"))
    until_code = resource.valid_until_field
    until = out.get(until_code) if until_code else None
    if main and until and until < main:
        errors.append(RowError(until_code, "until_before_start",
                               f"“{resource.field(until_code).label}”{until} 早于“{resource.field(resource.date_field).label}”{main}。"))
    return errors
