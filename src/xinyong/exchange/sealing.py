"""Personal fields in exchange packages, sealed for the receiving platform.

A package never carries a citizen ID number or phone number in clear. Each platform has an
X25519 key pair derived from its master secret (nothing new to store or back up); it publishes
the public half (``xinyong exchange key``) to the upstream platform — ``xinyong exchange pull``
sends it with each request — which seals the personal fields of every row for it:

* per package: a fresh ephemeral X25519 key; content key = HKDF-SHA256(ECDH(ephemeral,
  recipient), info = tag ‖ package id). The manifest names the algorithm, the recipient's
  public key and the ephemeral public key, under the package signature.
* per row: ``sealed`` = base64(nonce ‖ AES-256-GCM(JSON of the personal fields)), with the
  package id and the change's sequence number as associated data, so a sealed value cannot be
  moved to another row or package unnoticed.

Only the recipient's master secret opens them. Without a recipient key, an export leaves the
personal fields out.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from xinyong.config import Settings, get_settings
from xinyong.errors import InvalidInput
from xinyong.identity.crypto import derive_key

ALG = "X25519-HKDF-SHA256-AES256GCM"
_INFO = b"xinyong-exchange-package-v1:"
_NONCE = 12


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _raw(public: X25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def own_private_key(settings: Settings | None = None) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(derive_key(settings or get_settings(), b"exchange-package-x25519"))


def own_public_key(settings: Settings | None = None) -> str:
    """This platform's public exchange key (base64), to give to upstream platforms."""
    return _b64(_raw(own_private_key(settings).public_key()))


def parse_public_key(text: str) -> X25519PublicKey:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
        if len(raw) != 32:
            raise ValueError
        return X25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError, AttributeError):
        raise InvalidInput("接收平台的交换公钥格式不正确：应为接收平台 `xinyong exchange key` 给出的 44 个字符"
                           "（base64 编码的 32 字节）。", code="invalid_recipient_key") from None


def _content_key(shared: bytes, package_id: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=_INFO + package_id.encode("ascii")).derive(shared)


def _aad(package_id: str, seq: int) -> bytes:
    return f"{package_id}:{seq}".encode("ascii")


class Sealer:
    """Seals rows' personal fields of one package for one recipient."""

    def __init__(self, recipient: str, package_id: str) -> None:
        public = parse_public_key(recipient)
        ephemeral = X25519PrivateKey.generate()
        self.package_id = package_id
        self.header = {"alg": ALG, "recipient": _b64(_raw(public)), "ephemeral": _b64(_raw(ephemeral.public_key()))}
        self._aes = AESGCM(_content_key(ephemeral.exchange(public), package_id))

    def seal(self, seq: int, fields: dict[str, Any]) -> str:
        nonce = os.urandom(_NONCE)
        plain = json.dumps(fields, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return _b64(nonce + self._aes.encrypt(nonce, plain, _aad(self.package_id, seq)))


class Opener:
    """Opens a package's sealed values with this platform's key; refuses with Chinese messages
    (``refuse`` builds the error the caller raises)."""

    def __init__(self, header: Any, package_id: str, refuse) -> None:
        self.refuse, self.package_id = refuse, package_id
        if not isinstance(header, dict) or header.get("alg") != ALG:
            raise refuse(f"交换包中个人信息的加密方式不受支持（应为 {ALG}）。", "package_invalid")
        mine = own_private_key()
        if header.get("recipient") != _b64(_raw(mine.public_key())):
            raise refuse("交换包中的个人信息是为另一个平台加密的，本平台无法解密：请把本平台的交换公钥"
                         "（`xinyong exchange key`）交给上游平台，请其重新导出。", "wrong_recipient")
        try:
            ephemeral = parse_public_key(str(header.get("ephemeral") or ""))
        except InvalidInput:
            raise refuse("交换包清单中的加密参数已损坏，已拒绝导入。", "package_tampered") from None
        self._aes = AESGCM(_content_key(mine.exchange(ephemeral), package_id))

    def open(self, seq: Any, sealed: Any) -> dict[str, Any]:
        try:
            blob = base64.b64decode(str(sealed), validate=True)
            plain = self._aes.decrypt(blob[:_NONCE], blob[_NONCE:], _aad(self.package_id, int(seq)))
            fields = json.loads(plain)
            if not isinstance(fields, dict):
                raise ValueError
            return fields
        except (binascii.Error, InvalidTag, ValueError, TypeError):
            raise self.refuse(f"交换包第 {seq} 条变更中加密的个人信息无法解密（被篡改或被移动），已拒绝导入。",
                              "package_tampered") from None


__all__ = ["ALG", "Opener", "Sealer", "own_private_key", "own_public_key", "parse_public_key"]
