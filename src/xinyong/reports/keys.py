"""The platform's Ed25519 report-signing keys: created on first use, rotated, published.

Layout of the key directory (``XINYONG_REPORT_KEY_DIR``, default ``var/report-keys``; never
commit it, back it up with the database):

* ``<kid>.pem`` — one private key per key id (PKCS#8 PEM, mode 0600);
* ``keys.json`` — the public half of every key ever used, with its creation and retirement
  time. This file *is* the published key set (``/.well-known/xinyong-report-keys.json``):
  rotation appends a key and retires the previous one, but never removes it, so every report
  signed earlier still verifies.

A key id is the first 16 hex digits of SHA-256 over the raw public key: it names the key
without a registry, and a report cannot claim a key id that belongs to another public key.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from xinyong.config import Settings, get_settings
from xinyong.errors import ConfigurationError, InvalidInput

KEYSET_FORMAT = "xinyong-report-keys/1"
KID_LEN = 16


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:KID_LEN]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def public_key_b64(public: Ed25519PublicKey) -> str:
    return _b64(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


@dataclass(frozen=True)
class PublicKeyEntry:
    kid: str
    public_key: Ed25519PublicKey
    created: str
    retired: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kid": self.kid, "alg": "Ed25519", "public_key": public_key_b64(self.public_key),
                "created": self.created, "retired": self.retired}


class KeySet:
    """Public keys by id: what a verifier trusts (the platform's published set)."""

    def __init__(self, entries: list[PublicKeyEntry], issuer: str | None = None) -> None:
        self.entries = entries
        self.issuer = issuer
        self._by_kid = {e.kid: e for e in entries}

    def get(self, kid: str) -> PublicKeyEntry | None:
        return self._by_kid.get(kid)

    def __contains__(self, kid: object) -> bool:
        return kid in self._by_kid

    def __len__(self) -> int:
        return len(self.entries)

    def to_dict(self) -> dict[str, Any]:
        return {"format": KEYSET_FORMAT, "issuer": self.issuer, "alg": "Ed25519",
                "keys": [e.to_dict() for e in self.entries]}

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "公钥文件") -> KeySet:
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise InvalidInput(f"{source}格式不正确：应为平台公布的 JSON 公钥集（含 keys 列表）。",
                               code="invalid_keyset")
        entries = []
        for i, item in enumerate(data["keys"], 1):
            try:
                raw = base64.b64decode(item["public_key"], validate=True)
                public = Ed25519PublicKey.from_public_bytes(raw)
            except (KeyError, TypeError, ValueError) as exc:
                raise InvalidInput(f"{source}第 {i} 个公钥无法读取：应为 base64 编码的 32 字节 Ed25519 公钥。",
                                   code="invalid_keyset") from exc
            kid = key_id(public)
            if item.get("kid") != kid:
                raise InvalidInput(f"{source}第 {i} 个公钥的 kid 与公钥不符（应为 {kid}）。", code="invalid_keyset")
            entries.append(PublicKeyEntry(kid, public, str(item.get("created") or ""), item.get("retired")))
        return cls(entries, data.get("issuer"))

    @classmethod
    def load(cls, path: Path) -> KeySet:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInput(f"找不到公钥文件 {path}。", code="keyset_not_found") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"公钥文件 {path} 不是有效的 JSON。", code="invalid_keyset") from exc
        return cls.from_dict(data, source=f"公钥文件 {path} ")


def key_dir(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    return settings.report_key_dir or (settings.var_dir / "report-keys")


class KeyStore:
    """The signing side: private keys in the key directory."""

    def __init__(self, directory: Path | None = None) -> None:
        self.dir = Path(directory) if directory else key_dir()
        self._private: dict[str, Ed25519PrivateKey] = {}

    @property
    def index_path(self) -> Path:
        return self.dir / "keys.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # Several processes (server workers, a batch) may create the first key at once.
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.dir / ".lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _read_index(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"报告签名公钥索引 {self.index_path} 已损坏，请从备份恢复。") from exc
        return list(data.get("keys", []))

    def _write_index(self, keys: list[dict[str, Any]]) -> None:
        tmp = self.index_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"format": KEYSET_FORMAT, "alg": "Ed25519", "keys": keys},
                                  ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.index_path)

    def _new_key(self, keys: list[dict[str, Any]]) -> str:
        private = Ed25519PrivateKey.generate()
        kid = key_id(private.public_key())
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        fd = os.open(self.dir / f"{kid}.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for k in keys:
            if not k.get("retired"):
                k["retired"] = now
        keys.append({"kid": kid, "alg": "Ed25519", "public_key": public_key_b64(private.public_key()),
                     "created": now, "retired": None})
        self._write_index(keys)
        self._private[kid] = private
        return kid

    def ensure(self) -> tuple[str, bool]:
        """The current key id, creating the first key if there is none. (kid, created?)"""
        current = self._current(self._read_index())
        if current:
            return current, False
        with self._locked():
            keys = self._read_index()
            current = self._current(keys)
            if current:
                return current, False
            return self._new_key(keys), True

    def rotate(self) -> str:
        """A new signing key; the previous one is retired but stays published."""
        with self._locked():
            return self._new_key(self._read_index())

    @staticmethod
    def _current(keys: list[dict[str, Any]]) -> str | None:
        live = [k for k in keys if not k.get("retired")]
        return live[-1]["kid"] if live else None

    def signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        kid, _ = self.ensure()
        if kid not in self._private:
            path = self.dir / f"{kid}.pem"
            try:
                private = serialization.load_pem_private_key(path.read_bytes(), password=None)
            except FileNotFoundError:
                raise ConfigurationError(f"缺少报告签名私钥文件 {path}：请从备份恢复，或运行 "
                                         "`xinyong report keys --rotate` 启用新密钥。") from None
            if not isinstance(private, Ed25519PrivateKey) or key_id(private.public_key()) != kid:
                raise ConfigurationError(f"报告签名私钥文件 {path} 与公钥索引不符，请从备份恢复。")
            self._private[kid] = private
        return kid, self._private[kid]

    def keyset(self, issuer: str | None = None) -> KeySet:
        data = {"keys": self._read_index(), "issuer": issuer}
        return KeySet.from_dict(data, source=f"公钥索引 {self.index_path} ")


_stores: dict[Path, KeyStore] = {}


def get_keystore(settings: Settings | None = None) -> KeyStore:
    """One store per key directory per process (keeps the loaded private key)."""
    directory = key_dir(settings).resolve()
    store = _stores.get(directory)
    if store is None:
        store = _stores[directory] = KeyStore(directory)
    return store


def published_keyset(settings: Settings | None = None) -> KeySet:
    settings = settings or get_settings()
    store = get_keystore(settings)
    store.ensure()
    return store.keyset(issuer=settings.site_name)
