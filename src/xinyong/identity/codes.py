"""Validation and normalisation of identity codes (标识码校验).

* 统一社会信用代码 (USCC, GB 32100-2015): check digit from ``stdnum.cn.uscc``.
* 组织机构代码 (GB 11714-1997): implemented here, python-stdnum has no module for it.
* 公民身份号码 (GB 11643-1999): check digit from ``stdnum.cn.ric``; legacy 15-digit
  numbers are upgraded to 18 digits.

Messages are Chinese and user-facing, and they never contain a full citizen ID because
results get logged. ``CodeResult.normalized`` does hold the full value, so anything that
prints or returns results to a client should use ``CodeResult.to_public_dict()``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Literal

from stdnum.cn import ric, uscc

from xinyong.identity.regions import region_name

CodeKind = Literal["uscc", "org_code", "citizen_id"]

KIND_LABELS: dict[str, str] = {
    "uscc": "统一社会信用代码",
    "org_code": "组织机构代码",
    "citizen_id": "公民身份号码",
}

_DIGITS = "0123456789"
# GB 32100 code set (the same as stdnum's): I, O, S, V, Z are left out to avoid misreading.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# GB 11714 body characters; a character's value is its index (A=10 … Z=35).
_ORG_BODY_CHARS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ORG_VALUES = {ch: value for value, ch in enumerate(_ORG_BODY_CHARS)}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# Fast paths: the character-by-character loops below only run to explain a failure.
_PLAIN = re.compile(r"[0-9A-Z]*")
_USCC_SHAPE = re.compile(f"[0-9]{{8}}[{_USCC_ALPHABET}]{{10}}")
_ID18_SHAPE = re.compile(r"[0-9]{17}[0-9X]")

# Province-level prefixes of GB/T 2260, plus 71 台湾, 81 香港, 82 澳门 and 83 (台湾居民居住证).
_PROVINCES = frozenset(
    ["11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83"]
)
# Nobody born before 1900 is alive to hold an 18-digit number; earlier years are typos.
_MIN_BIRTH_YEAR = 1900

# Registration authority (第1位) and organisation type (第2位) codes of GB 32100-2015.
_AUTHORITIES = {
    "1": "机构编制",
    "2": "外交",
    "3": "司法行政",
    "4": "文化",
    "5": "民政",
    "6": "旅游",
    "7": "宗教",
    "8": "工会",
    "9": "工商/市场监管",
}
_ORG_TYPES = {
    "1": {"1": "机关", "2": "事业单位", "3": "中央编办直接管理机构编制的群众团体", "9": "其他"},
    "2": {"1": "外国常住新闻机构", "9": "其他"},
    "3": {
        "1": "律师执业机构",
        "2": "公证处",
        "3": "基层法律服务所",
        "4": "司法鉴定机构",
        "5": "仲裁委员会",
        "9": "其他",
    },
    "4": {"1": "外国在华文化中心", "9": "其他"},
    "5": {"1": "社会团体", "2": "民办非企业单位", "3": "基金会", "9": "其他"},
    "6": {"1": "外国旅游部门常驻代表机构", "2": "港澳台地区旅游部门常驻内地（大陆）代表机构", "9": "其他"},
    "7": {"1": "宗教活动场所", "2": "宗教院校", "9": "其他"},
    "8": {"1": "基层工会", "9": "其他"},
    "9": {"1": "企业", "2": "个体工商户", "3": "农民专业合作社"},
}

# Letters people type where a digit belongs; used only to suggest a fix.
_LOOKALIKE_DIGITS = {"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8", "G": "6"}

_AMBIGUOUS_USCC_MESSAGE = (
    "统一社会信用代码有效。注意：它的格式也像公民身份号码，但作为身份号码校验不通过；"
    "如果输入的是身份号码，请逐位核对"
)
_UNRECOGNISED_HINT = "应为18位统一社会信用代码、9位组织机构代码或18位公民身份号码"


@dataclass(frozen=True)
class CodeResult:
    valid: bool
    kind: CodeKind | None  # None when the value is unrecognisable
    normalized: str  # always filled, even when invalid
    message: str  # Chinese, user-facing; never contains a full citizen ID
    error: str | None = None  # stable machine code, None when valid
    parts: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, complete (the normalised citizen ID is in clear)."""
        return {
            "valid": self.valid,
            "kind": self.kind,
            "normalized": self.normalized,
            "message": self.message,
            "error": self.error,
            "parts": dict(self.parts),
        }

    def to_public_dict(self) -> dict[str, Any]:
        """Like ``to_dict`` but safe to print, log or send to a browser.

        Values that are or may be citizen IDs are masked, and the parts that would
        give the masked digits back (region, birth date) are dropped.
        """
        data = self.to_dict()
        if needs_masking(self):
            data["normalized"] = mask_citizen_id(self.normalized)
            data["parts"] = {k: v for k, v in self.parts.items() if k in ("gender", "converted_from_15")}
        return data


# --- normalisation -------------------------------------------------------------------

# Full-width ASCII (U+FF01–U+FF5E) maps to ASCII by a fixed offset, as NFKC does there.
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
# Hyphens and dashes people put between groups; "－" is already ASCII after _FULLWIDTH.
_DASHES = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63")
# Zero-width characters that survive copy and paste from web pages and Word.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff")


def normalize_code(value: str) -> str:
    """Full-width → half-width, upper case, drop whitespace (incl. U+3000, NBSP) and dashes."""
    if _PLAIN.fullmatch(value):
        return value
    text = value.translate(_FULLWIDTH).upper()
    return "".join(ch for ch in text if not (ch.isspace() or ch in _DASHES or ch in _INVISIBLE))


def _digit_hint(ch: str) -> str:
    guess = _LOOKALIKE_DIGITS.get(ch)
    return f"，是否应为数字 {guess}？" if guess else "，请核对"


def _fail(kind: CodeKind | None, normalized: str, error: str, message: str, parts: dict[str, str] | None = None) -> CodeResult:
    return CodeResult(False, kind, normalized, message, error, dict(parts or {}))


# --- 统一社会信用代码 -----------------------------------------------------------------


def check_uscc(value: str) -> CodeResult:
    """Validate a USCC. Accepts exactly what ``stdnum.cn.uscc.is_valid`` accepts (after normalising)."""
    code = normalize_code(value)
    if not code:
        return _fail("uscc", code, "empty", "统一社会信用代码为空：请输入18位代码（数字或大写字母）")
    if len(code) != 18:
        return _fail(
            "uscc", code, "bad_length",
            f"统一社会信用代码应为18位，当前为{len(code)}位：请检查是否漏输或多输了字符",
        )
    if not _USCC_SHAPE.fullmatch(code):
        return _uscc_format_error(code)
    parts = _uscc_parts(code)
    expected = uscc.calc_check_digit(code)
    if code[-1] != expected:
        return _fail(
            "uscc", code, "bad_check_digit",
            f"统一社会信用代码校验位错误：按前17位计算，最后一位应为 {expected}（输入为 {code[-1]}）。"
            "请对照营业执照等证照逐位核对，错误多半在前面某一位，不要只改最后一位",
            parts,
        )
    return CodeResult(True, "uscc", code, "统一社会信用代码有效", None, parts)


def _uscc_format_error(code: str) -> CodeResult:
    for pos, ch in enumerate(code, 1):
        if pos <= 8 and ch not in _DIGITS:
            return _fail(
                "uscc", code, "bad_format",
                f"统一社会信用代码第{pos}位“{ch}”有误：前8位（登记管理部门、机构类别和行政区划码）"
                f"应为数字{_digit_hint(ch)}",
            )
        if ch not in _USCC_ALPHABET:
            return _fail(
                "uscc", code, "bad_format",
                f"统一社会信用代码第{pos}位“{ch}”有误：第9–18位只能是数字或大写字母"
                f"（不使用 I、O、S、V、Z）{_digit_hint(ch)}",
            )
    raise AssertionError("called for a well-formed USCC")


def _uscc_parts(code: str) -> dict[str, str]:
    authority, org_type, region, org_code = code[0], code[1], code[2:8], code[8:17]
    parts = {
        "registration_authority": authority,
        "registration_authority_label": _AUTHORITIES.get(authority, "其他"),
        "org_type": org_type,
    }
    org_type_label = _ORG_TYPES.get(authority, {}).get(org_type)
    if org_type_label:
        parts["org_type_label"] = org_type_label
    parts["region"] = region
    name = region_name(region)
    if name:
        parts["region_name"] = name
    # Individual businesses and post-2015 registrations often carry a body that is not a
    # GB 11714 code, so the embedded code is reported, never a reason to reject.
    parts["org_code"] = org_code
    parts["org_code_valid"] = "true" if _org_code_ok(org_code) else "false"
    return parts


# --- 组织机构代码 ---------------------------------------------------------------------


def org_code_check_char(body: str) -> str:
    """GB 11714: C9 = 11 - (Σ value×weight mod 11); 10 → X, 11 → 0."""
    total = sum(_ORG_VALUES[ch] * w for ch, w in zip(body, _ORG_WEIGHTS, strict=True))
    c9 = 11 - total % 11
    return "X" if c9 == 10 else "0" if c9 == 11 else str(c9)


def _org_code_ok(code: str) -> bool:
    return len(code) == 9 and all(ch in _ORG_VALUES for ch in code[:8]) and code[8] == org_code_check_char(code[:8])


def check_org_code(value: str) -> CodeResult:
    """Validate a GB 11714 organisation code, with or without the hyphen ("D2143569-X")."""
    code = normalize_code(value)
    if not code:
        return _fail("org_code", code, "empty", "组织机构代码为空：请输入9位代码（8位本体代码加1位校验码，如 D2143569-X）")
    if len(code) != 9:
        return _fail(
            "org_code", code, "bad_length",
            f"组织机构代码应为9位（8位本体代码加1位校验码，可写作 XXXXXXXX-X），当前为{len(code)}位："
            "请检查是否漏输或多输了字符",
        )
    for pos, ch in enumerate(code[:8], 1):
        if ch not in _ORG_BODY_CHARS:
            return _fail(
                "org_code", code, "bad_format",
                f"组织机构代码第{pos}位“{ch}”有误：前8位只能是数字或大写字母，请核对",
            )
    if code[8] not in _DIGITS + "X":
        return _fail(
            "org_code", code, "bad_format",
            f"组织机构代码第9位（校验码）“{code[8]}”有误：只能是数字或 X{_digit_hint(code[8])}",
        )
    parts = {"body": code[:8], "check_digit": code[8], "formatted": f"{code[:8]}-{code[8]}"}
    expected = org_code_check_char(code[:8])
    if code[8] != expected:
        return _fail(
            "org_code", code, "bad_check_digit",
            f"组织机构代码校验码错误：按前8位计算，校验码应为 {expected}（输入为 {code[8]}）。"
            "请对照证书逐位核对，错误多半在前8位，不要只改校验码",
            parts,
        )
    return CodeResult(True, "org_code", code, "组织机构代码有效", None, parts)


# --- 公民身份号码 ---------------------------------------------------------------------


def upgrade_citizen_id(legacy: str) -> str:
    """15-digit legacy number → 18 digits: insert "19" before YYMMDD and append the check digit."""
    if len(legacy) != 15 or any(ch not in _DIGITS for ch in legacy):
        raise ValueError("legacy citizen ID must be 15 ASCII digits")
    body = legacy[:6] + "19" + legacy[6:]
    return body + ric.calc_check_digit(body + "0")  # stdnum ignores the last character


def check_citizen_id(value: str, *, today: date | None = None) -> CodeResult:
    """Validate a citizen ID (GB 11643), 18 digits or legacy 15 digits.

    Unknown region codes are accepted: numbers keep the code they were issued under and
    regions are renamed and merged, so a code missing from the table is not an error.
    Only a non-existent province prefix is rejected (``bad_region``).
    """
    raw = normalize_code(value)
    if not raw:
        return _fail("citizen_id", raw, "empty", "公民身份号码为空：请输入18位号码（最后一位可以是 X）")
    converted = False
    if len(raw) == 15:
        for pos, ch in enumerate(raw, 1):
            if ch not in _DIGITS:
                return _fail(
                    "citizen_id", raw, "bad_format",
                    f"公民身份号码第{pos}位“{ch}”有误：15位旧号码应全部为数字{_digit_hint(ch)}",
                )
        code, converted, date_span = upgrade_citizen_id(raw), True, "第7–12位"
    elif len(raw) == 18:
        if not _ID18_SHAPE.fullmatch(raw):
            return _citizen_format_error(raw)
        code, date_span = raw, "第7–14位"
    else:
        return _fail(
            "citizen_id", raw, "bad_length",
            f"公民身份号码应为18位（旧版为15位），当前为{len(raw)}位：请检查是否漏输或多输了数字",
        )

    if code[:2] not in _PROVINCES:
        return _fail(
            "citizen_id", code, "bad_region",
            f"公民身份号码前两位“{code[:2]}”不是有效的省级行政区划代码：请核对号码开头的地区码",
        )
    try:
        born = date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        return _fail(
            "citizen_id", code, "bad_birth_date",
            f"公民身份号码中的出生日期（{date_span}）不是有效日期：请核对年、月、日这几位数字",
        )
    if born.year < _MIN_BIRTH_YEAR:
        return _fail(
            "citizen_id", code, "bad_birth_date",
            f"公民身份号码中的出生年份早于{_MIN_BIRTH_YEAR}年，不合常理：请核对出生年份（{date_span}）",
        )
    if born > (today or date.today()):
        return _fail(
            "citizen_id", code, "bad_birth_date",
            f"公民身份号码中的出生日期晚于今天：请核对出生年份（{date_span}）",
        )
    if not converted:
        expected = ric.calc_check_digit(code)
        if code[17] != expected:
            return _fail(
                "citizen_id", code, "bad_check_digit",
                f"公民身份号码校验码错误：按前17位计算，最后一位应为 {expected}（输入为 {code[17]}）。"
                "请对照证件逐位核对，错误多半在前面某一位，不要只改最后一位",
            )

    parts = {"region": code[:6]}
    name = region_name(code[:6])
    if name:
        parts["region_name"] = name
    parts["birth_date"] = born.isoformat()
    parts["gender"] = "男" if int(code[16]) % 2 else "女"
    if converted:
        parts["converted_from_15"] = "true"
        message = "公民身份号码有效（15位旧号码已升级为18位）"
    else:
        message = "公民身份号码有效"
    return CodeResult(True, "citizen_id", code, message, None, parts)


def _citizen_format_error(raw: str) -> CodeResult:
    for pos, ch in enumerate(raw[:17], 1):
        if ch not in _DIGITS:
            return _fail(
                "citizen_id", raw, "bad_format",
                f"公民身份号码第{pos}位“{ch}”有误：前17位只能是数字{_digit_hint(ch)}",
            )
    return _fail(
        "citizen_id", raw, "bad_format",
        f"公民身份号码最后一位（校验码）“{raw[17]}”有误：只能是数字或 X{_digit_hint(raw[17])}",
    )


def mask_citizen_id(value: str) -> str:
    """Keep the first 4 and last 4 of a 15/18-char ID; otherwise all but the last 2."""
    n = len(value)
    if n in (15, 18):
        return value[:4] + "*" * (n - 8) + value[-4:]
    if n <= 2:
        return "*" * n
    return "*" * (n - 2) + value[-2:]


def looks_like_citizen_id(code: str) -> bool:
    """Shape test on a normalised value: 15 digits, or 17 digits + digit/X with a real
    province prefix and a birth year starting 19 or 20.

    Month and day are deliberately not checked, so that a typo there is still diagnosed
    (and masked) as a citizen-ID problem instead of being reported as a broken USCC.
    """
    if len(code) == 15:
        return all(ch in _DIGITS for ch in code)
    return (
        len(code) == 18
        and all(ch in _DIGITS for ch in code[:17])
        and code[17] in _DIGITS + "X"
        and code[:2] in _PROVINCES
        and code[6:8] in ("19", "20")
    )


def needs_masking(result: CodeResult) -> bool:
    """True when ``result.normalized`` is, or may be, a citizen ID and must not be shown in clear."""
    if result.kind == "citizen_id" or result.kind is None:
        return True
    # Otherwise only all-digit values can be IDs, e.g. one checked with kind="uscc" by
    # mistake, with a typo or a digit missing. Invalid ones are masked on suspicion.
    code = result.normalized
    if not (14 <= len(code) <= 19 and all(ch in _DIGITS for ch in code[:-1]) and code[-1] in _DIGITS + "X"):
        return False
    if not result.valid:
        return True
    # About 1 in 31 IDs, right or mistyped, also passes the USCC check digit (see
    # detect_and_check); an all-digit USCC that is shaped like an ID is masked as well.
    return looks_like_citizen_id(code)


# --- detection ------------------------------------------------------------------------


def detect_and_check(value: str, *, today: date | None = None) -> CodeResult:
    """Guess the kind from the shape of the normalised value, then validate it."""
    code = normalize_code(value)
    if not code:
        return _fail(None, code, "empty", f"未输入代码：请输入代码，{_UNRECOGNISED_HINT}")
    if len(code) == 18:
        if looks_like_citizen_id(code):
            # Both check digits can pass: stdnum's USCC rules accept any 18 digits whose last
            # character matches, so about 1 in 31 citizen IDs, right or mistyped, is also a
            # "valid USCC". A valid citizen ID wins: reading a person's ID as a company code
            # would print it unmasked, the other way round only masks a company code. Next a
            # valid USCC wins, as the standard says it is one, but the message warns that it
            # may be a mistyped ID. If neither is valid, the shape says person, so the
            # citizen-ID diagnosis is reported. Output of all these is masked (needs_masking).
            person = check_citizen_id(code, today=today)
            if person.valid:
                return person
            company = check_uscc(code)
            if company.valid:
                return replace(company, message=_AMBIGUOUS_USCC_MESSAGE)
            return person
        return check_uscc(code)
    if len(code) == 9:
        return check_org_code(code)
    if len(code) == 15 and looks_like_citizen_id(code):
        return check_citizen_id(code, today=today)
    return _fail(
        None, code, "unrecognised",
        f"无法识别的代码（当前为{len(code)}位）：{_UNRECOGNISED_HINT}，请检查是否漏输或多输了字符",
    )


def check_code(value: str, kind: CodeKind | None = None, *, today: date | None = None) -> CodeResult:
    """Validate as ``kind``, or auto-detect when ``kind`` is None."""
    if kind is None:
        return detect_and_check(value, today=today)
    if kind == "uscc":
        return check_uscc(value)
    if kind == "org_code":
        return check_org_code(value)
    if kind == "citizen_id":
        return check_citizen_id(value, today=today)
    raise ValueError(f"unknown code kind: {kind!r}")


# --- generators (synthetic data and tests) -------------------------------------------


def _require_digits(name: str, value: str, length: int) -> None:
    if len(value) != length or any(ch not in _DIGITS for ch in value):
        raise ValueError(f"{name} must be {length} ASCII digit(s), got {value!r}")


def generate_org_code(rng: random.Random) -> str:
    """A valid GB 11714 code (9 chars, no hyphen). The body uses the USCC alphabet so
    the code can be embedded in a USCC."""
    body = "".join(rng.choices(_USCC_ALPHABET, k=8))
    return body + org_code_check_char(body)


def generate_uscc(rng: random.Random, *, authority: str = "9", org_type: str = "1", region: str = "440604") -> str:
    """A valid USCC whose embedded organisation code (positions 9–17) is a valid GB 11714 code."""
    # stdnum (and so check_uscc) only accepts digits in the first 8 positions.
    _require_digits("authority", authority, 1)
    _require_digits("org_type", org_type, 1)
    _require_digits("region", region, 6)
    body = authority + org_type + region + generate_org_code(rng)
    return body + uscc.calc_check_digit(body)


def generate_citizen_id(
    rng: random.Random,
    *,
    region: str = "440604",
    birth_from: date = date(1950, 1, 1),
    birth_to: date = date(2005, 12, 31),
    gender: Literal["男", "女"] | None = None,
) -> str:
    """A valid 18-digit citizen ID born in [birth_from, birth_to]."""
    _require_digits("region", region, 6)
    if birth_to < birth_from:
        raise ValueError("birth_to is before birth_from")
    born = birth_from + timedelta(days=rng.randint(0, (birth_to - birth_from).days))
    seq = rng.randint(1, 999)  # 000 is not issued
    if gender is not None and (seq % 2 == 1) != (gender == "男"):
        seq = seq + 1 if seq < 999 else seq - 1
    body = f"{region}{born.year:04d}{born.month:02d}{born.day:02d}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")
