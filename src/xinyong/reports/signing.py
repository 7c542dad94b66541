"""Canonical JSON of a report, its hash, and the Ed25519 signature over it.

Canonical form: ``json.dumps(content, ensure_ascii=False, sort_keys=True,
separators=(",", ":"))`` encoded as UTF-8. The content holds only objects, arrays, strings,
integers, booleans and null (no floats: amounts are strings), so any JSON parser that keeps
strings and integers exactly reproduces the same bytes.

* hash: SHA-256 of the canonical bytes (``sha256:<hex>``);
* signature: Ed25519 over ``b"xinyong-report-v1:" + <hex>``. The prefix separates this use
  of the key from the PDF seal (``xinyong.reports.pdf``), so one can never stand in for the other.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from xinyong.reports.keys import KeySet

CONTENT_PREFIX = b"xinyong-report-v1:"
ENVELOPE_FORMAT = "xinyong-signed-report/1"


def _reject_floats(value: Any, path: str = "report") -> None:
    if isinstance(value, float):
        raise TypeError(f"{path}: floats are not allowed in canonical report JSON")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"{path}: keys must be strings")
            _reject_floats(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _reject_floats(v, f"{path}[{i}]")


def canonical_bytes(content: dict[str, Any]) -> bytes:
    _reject_floats(content)
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def content_hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(content)).hexdigest()


def sign_hash(private: Ed25519PrivateKey, digest_hex: str) -> str:
    return base64.b64encode(private.sign(CONTENT_PREFIX + digest_hex.encode("ascii"))).decode("ascii")


@dataclass(frozen=True)
class Signature:
    kid: str
    hash: str  # hex SHA-256 of the canonical content
    value: str  # base64 Ed25519 signature

    def to_dict(self) -> dict[str, str]:
        return {"alg": "Ed25519", "key_id": self.kid, "hash": f"sha256:{self.hash}", "value": self.value}


def sign_content(content: dict[str, Any], kid: str, private: Ed25519PrivateKey) -> Signature:
    digest = content_hash(content)
    return Signature(kid, digest, sign_hash(private, digest))


def envelope(content: dict[str, Any], signature: Signature) -> dict[str, Any]:
    """The JSON file a user downloads: the report and its signature side by side."""
    return {"format": ENVELOPE_FORMAT, "report": content, "signature": signature.to_dict()}


def envelope_bytes(content: dict[str, Any], signature: Signature) -> bytes:
    return (json.dumps(envelope(content, signature), ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


@dataclass
class Check:
    ok: bool
    reason: str | None  # stable code when not ok
    message: str  # Chinese, for people
    kid: str | None = None
    hash: str | None = None


def check_envelope(data: Any, keys: KeySet) -> Check:
    """Verify a parsed envelope against the trusted keys; the reason says what failed."""
    if not isinstance(data, dict) or not isinstance(data.get("report"), dict) or not isinstance(
            data.get("signature"), dict):
        return Check(False, "not_a_report", "不是本平台签发的信用报告：缺少 report 或 signature 部分。")
    sig = data["signature"]
    kid, claimed, value = sig.get("key_id"), str(sig.get("hash") or ""), sig.get("value")
    if sig.get("alg") != "Ed25519" or not isinstance(kid, str) or not isinstance(value, str) \
            or not claimed.startswith("sha256:"):
        return Check(False, "malformed_signature", "签名信息不完整或格式不正确（应为 Ed25519 签名、密钥编号和 sha256 摘要）。")
    try:
        actual = content_hash(data["report"])
    except (TypeError, ValueError):
        return Check(False, "content_modified", "报告内容含有平台不会写入的数值格式：内容已被修改。", kid)
    if actual != claimed[7:]:
        return Check(False, "content_modified",
                     "报告内容与签名记录的摘要不一致：报告内容在签发后被修改。", kid, actual)
    entry = keys.get(kid)
    if entry is None:
        return Check(False, "unknown_key",
                     f"签名密钥 {kid[:32]} 不是平台公布的报告签名密钥：该报告不是本平台签发的。", kid, actual)
    try:
        raw = base64.b64decode(value, validate=True)
        entry.public_key.verify(raw, CONTENT_PREFIX + actual.encode("ascii"))
    except (InvalidSignature, binascii.Error, ValueError):
        return Check(False, "bad_signature",
                     f"签名无效：签名不是由平台密钥 {kid} 对该报告内容作出的（签名被伪造或被篡改）。", kid, actual)
    return Check(True, None, "签名有效：报告内容与平台签发时一致。", kid, actual)
