"""Offline verification of a report file (PDF or JSON) against the published public keys.

Needs no database and no network: only the key set (the platform's
``/.well-known/xinyong-report-keys.json``, or the local key directory on the server).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from xinyong.reports.keys import KeySet
from xinyong.reports.signing import check_envelope

MAX_FILE = 200 * 1024 * 1024


@dataclass
class Verification:
    ok: bool
    reason: str | None  # stable code when rejected
    message: str  # Chinese: what was found, and what it means
    format: str | None = None
    number: str | None = None
    subject: str | None = None
    kind: str | None = None
    issued_at: str | None = None
    key_id: str | None = None
    content_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _about(result: Verification, data: dict[str, Any]) -> Verification:
    report = data.get("report") or {}
    result.number = report.get("number")
    result.subject = (report.get("subject") or {}).get("name")
    result.kind = report.get("kind_label")
    result.issued_at = report.get("issued_at")
    return result


def verify_envelope_bytes(raw: bytes, keys: KeySet, *, fmt: str = "json") -> Verification:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return Verification(False, "not_a_report", "文件不是有效的 JSON（可能已损坏或被截断），无法核验。", fmt)
    check = check_envelope(data, keys)
    result = Verification(check.ok, check.reason, check.message, fmt, key_id=check.kid, content_hash=check.hash)
    if isinstance(data, dict):
        _about(result, data)
    return result


def verify_pdf_bytes(data: bytes, keys: KeySet) -> Verification:
    from xinyong.reports.pdf import embedded_report, read_seal

    seal = read_seal(data)
    if seal is None:
        return Verification(False, "no_seal", "PDF 中没有平台签章：该文件不是本平台出具的报告，"
                                               "或已被其他软件编辑、重新保存。", "pdf")
    if seal == "many":
        return Verification(False, "no_seal", "PDF 中有多个签章位置：文件被改动过。", "pdf")
    entry = keys.get(seal.kid)
    if entry is None:
        return Verification(False, "unknown_key", f"PDF 签章使用的密钥 {seal.kid} 不是平台公布的报告签名密钥："
                                                  "该文件不是本平台出具的。", "pdf", key_id=seal.kid)
    try:
        entry.public_key.verify(seal.signature, seal.message)
    except InvalidSignature:
        return Verification(False, "file_modified", "PDF 文件在出具后被修改：文件内容与平台签章不符"
                                                    "（哪怕只改动一个字节也会如此）。请向报告提供方索取原始文件，"
                                                    "或扫描二维码在线核验。", "pdf", key_id=seal.kid)
    embedded = embedded_report(data)
    if embedded is None:
        return Verification(False, "no_embedded_report", "PDF 签章有效，但文件中没有附带签名的报告数据，无法核验报告内容。",
                            "pdf", key_id=seal.kid)
    inner = verify_envelope_bytes(embedded, keys, fmt="pdf")
    if not inner.ok:
        return inner
    inner.message = "报告真实：PDF 文件与平台签章一致，未被改动；报告内容的数字签名有效。"
    return inner


def verify_bytes(data: bytes, keys: KeySet) -> Verification:
    if data[:5] == b"%PDF-" or data[:1024].lstrip().startswith(b"%PDF-"):
        return verify_pdf_bytes(data, keys)
    result = verify_envelope_bytes(data, keys)
    if result.ok:
        result.message = "报告真实：JSON 报告内容的数字签名有效，内容与平台出具时一致。"
    return result


def verify_file(path: Path | str, keys: KeySet) -> Verification:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE:
            return Verification(False, "too_large", f"文件过大（超过 {MAX_FILE // 1024 // 1024} MB），不是平台报告。")
        data = p.read_bytes()
    except FileNotFoundError:
        return Verification(False, "not_found", f"找不到文件 {p}。")
    except IsADirectoryError:
        return Verification(False, "not_found", f"{p} 是目录，请指定报告文件（.pdf 或 .json）。")
    return verify_bytes(data, keys)
