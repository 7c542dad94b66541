"""Purpose of access (查询事由): the configurable list and the header/query parser."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote

import yaml

from xinyong.accounts.roles import ROLES
from xinyong.errors import ConfigurationError, Forbidden
from xinyong.logging import mask_personal_data

PURPOSES_FILE = Path(__file__).with_name("purposes.yaml")
MAX_TEXT = 200
SELF_QUERY = "self_query"


@dataclass(frozen=True)
class PurposeDef:
    code: str
    name: str
    roles: frozenset[str]
    text_required: bool = False


@dataclass(frozen=True)
class Purpose:
    """A declared purpose: its code, Chinese name and the caller's free text."""

    code: str
    name: str
    text: str | None = None


@lru_cache(maxsize=4)
def load_purposes(path: Path = PURPOSES_FILE) -> dict[str, PurposeDef]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, PurposeDef] = {}
    for item in data.get("purposes", []):
        code = str(item.get("code", ""))
        roles = frozenset(item.get("roles") or ())
        if not code.isascii() or not code.replace("_", "").isalnum() or not item.get("name"):
            raise ConfigurationError(f"查询事由配置有误：代码“{code}”无效或缺少名称（{path}）。")
        if unknown := roles - set(ROLES):
            raise ConfigurationError(f"查询事由 {code} 配置了未知角色：{'、'.join(sorted(unknown))}。")
        if code in out:
            raise ConfigurationError(f"查询事由代码重复：{code}。")
        out[code] = PurposeDef(code=code, name=str(item["name"]), roles=roles,
                               text_required=bool(item.get("text_required", False)))
    if not out:
        raise ConfigurationError(f"查询事由列表为空：{path}。")
    return out


def purposes_help(role: str | None = None) -> str:
    defs = load_purposes().values()
    return "、".join(f"{d.code}（{d.name}）" for d in defs if role is None or role in d.roles)


def _header_text(raw: str) -> str:
    """Headers arrive as latin-1; undo that when a client sent raw UTF-8 instead of %-escapes."""
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def _decode(value: str, from_header: bool) -> str:
    # Query parameters are already decoded by the framework; headers carry %-escapes.
    return unquote(_header_text(value), errors="replace") if from_header else value


def parse_purpose(code: str | None, text: str | None, *, role: str | None = None,
                  from_header: bool = False) -> Purpose:
    """Validate a declared purpose; raises Forbidden (403) with the valid codes listed.

    ``code`` may be the code or its Chinese name; ``text`` is URL-decoded (%-escapes) UTF-8.
    Citizen IDs and phone numbers in the free text are masked: it is stored in the audit log.
    """
    defs = load_purposes()
    raw_code = _decode(code or "", from_header).strip()
    if not raw_code:
        raise Forbidden("查询非公开信息必须说明查询事由：请在请求头 X-Purpose（或参数 purpose）中填写事由代码，"
                        f"可选：{purposes_help(role)}。", code="purpose_required")
    found = defs.get(raw_code) or next((d for d in defs.values() if d.name == raw_code), None)
    if found is None:
        shown = raw_code[:32] if raw_code.isprintable() else "（无法识别）"
        raise Forbidden(f"查询事由“{shown}”无效，可选：{purposes_help(role)}。", code="invalid_purpose")
    if role is not None and role not in found.roles:
        raise Forbidden(f"当前角色不能以“{found.name}”为事由查询，可选：{purposes_help(role) or '（无）'}。",
                        code="purpose_not_allowed")
    clean = None
    if text:
        decoded = unicodedata.normalize("NFC", _decode(text, from_header)).strip()
        if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in decoded) or "\ufffd" in decoded:
            raise Forbidden("查询事由说明包含无法识别或不可见的字符，请使用 UTF-8 并进行 URL 编码。",
                            code="invalid_purpose_text")
        if len(decoded) > MAX_TEXT:
            raise Forbidden(f"查询事由说明过长：不超过 {MAX_TEXT} 个字符。", code="invalid_purpose_text")
        clean = mask_personal_data(decoded) or None
    if found.text_required and not clean:
        raise Forbidden(f"以“{found.name}”为事由查询时必须填写事由说明（请求头 X-Purpose-Text 或参数 purpose_text），"
                        "例如案号或文书编号。", code="purpose_text_required")
    return Purpose(code=found.code, name=found.name, text=clean)
