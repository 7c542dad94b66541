"""Packages between platforms (上下级平台交换包): export the feed since a cursor as signed NDJSON,
import it on another instance through the intake service, or pull it over HTTP.

A package is a directory:

* ``<resource>.ndjson`` — one line per change, in feed order: ``upsert`` (the record's full row
  at that version, as intake accepts it), ``withdraw``, ``repair``, ``window_closed``,
  ``list_removed`` — each with the record's natural key;
* ``manifest.json`` — ``{"manifest": …, "signature": …}``: platform, package id, cursors,
  catalogue version, per resource the file's line count, SHA-256 and field definitions, the
  departments named; signed with the platform's Ed25519 key (``xinyong.reports.keys``) over the
  canonical JSON (``xinyong.reports.signing``), under its own domain tag so a package signature
  can never pass for a report's.

Import verifies the signature against *trusted* key sets (``xinyong exchange trust``), every
file's hash and count, the catalogue's compatibility and the department mapping, then applies
everything in **one transaction** through ``intake.service.ingest_rows`` (versioned, validated,
subjects matched) with the upstream platform and package as provenance. Re-importing a package
changes nothing.

Personal fields (citizen ID and phone numbers) never travel in clear: they are sealed for the
receiving platform's exchange key (``exchange.sealing``), which ``pull`` sends with each
request and ``xinyong exchange key`` prints for a hand-carried package; without a recipient key
they are left out. The directory is written with owner-only permissions all the same.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import tempfile
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import select
from sqlalchemy.orm import Session

from xinyong.accounts.actor import Actor
from xinyong.audit.service import record_event
from xinyong.catalogue import load_catalogue
from xinyong.catalogue.schemas import Resource
from xinyong.config import get_settings
from xinyong.db.base import utcnow
from xinyong.departments.models import Department
from xinyong.errors import InvalidInput, NotFound, XinyongError
from xinyong.identity.crypto import get_keyring
from xinyong.intake.models import Record, RecordVersion
from xinyong.reports.keys import KeySet, get_keystore
from xinyong.reports.signing import canonical_bytes, content_hash

from .feed import decode_cursor, encode_cursor, readable_resources, sequence_pending
from .models import ExchangeChange, ImportedPackage, Peer
from .sealing import Opener, Sealer, own_public_key
from .settings import get_exchange_settings

FORMAT = "xinyong-exchange-package/1"
SIGN_PREFIX = b"xinyong-exchange-v1:"
READ_CHUNK = 5000
OPS = {"record.created": "upsert", "record.updated": "upsert", "record.withdrawn": "withdraw",
       "record.repaired": "repair", "record.window_closed": "window_closed", "list.removed": "list_removed"}


class PackageRefused(InvalidInput):
    """The package cannot be imported as it is (the message says why, in Chinese)."""

    def __init__(self, message: str, code: str = "package_refused") -> None:
        super().__init__(message, code=code)


def platform_name() -> str:
    return get_exchange_settings().platform or get_settings().site_name


def trusted_dir() -> Path:
    return get_settings().var_dir / "exchange" / "trusted"


# --- export ---------------------------------------------------------------------------------------


def _field_defs(res: Resource) -> list[dict[str, Any]]:
    return [{"code": f.code, "type": f.type, "personal": f.personal, "multiple": f.multiple,
             "enum": f.enum_values or None} for f in res.fields]


def _personal_of(personal_enc: bytes | None, keyring) -> dict[str, Any]:
    return json.loads(keyring.decrypt(personal_enc)) if personal_enc else {}


def export_package(session: Session, to_dir: Path | str, *, since: str | None = None, actor: Actor | None = None,
                   resources: list[str] | None = None, limit: int | None = None,
                   include_personal: bool = True, recipient_key: str | None = None) -> dict[str, Any]:
    """Write the changes after ``since`` (visible to ``actor``) as a signed package in ``to_dir``.
    Returns the manifest. ``limit`` caps the changes per package (``has_more`` says there are more).
    Personal fields go in only sealed for ``recipient_key`` (and when ``include_personal``)."""
    actor = actor or Actor.cli()
    package_id = uuid.uuid4().hex
    sealer = Sealer(recipient_key, package_id) if include_personal and recipient_key else None
    position = decode_cursor(since)
    cat = load_catalogue()
    visible = readable_resources(actor, resources)
    out = Path(to_dir)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    if any(out.iterdir()):
        raise InvalidInput(f"目标目录 {out} 不是空目录：请指定一个新目录，以免与旧的交换包混在一起。", code="dir_not_empty")
    sequence_pending(session)
    keyring = get_keyring()
    depts = {d.id: d for d in session.scalars(select(Department))}
    files: dict[str, Any] = {}
    handles: dict[str, Any] = {}
    hashes: dict[str, Any] = {}
    counts: dict[str, int] = defaultdict(int)
    used_depts: set[str] = set()
    last = position
    total = 0
    more = False
    try:
        while True:
            take = READ_CHUNK if limit is None else min(READ_CHUNK, limit - total)
            if take <= 0:
                more = session.scalar(select(ExchangeChange.seq).where(
                    ExchangeChange.seq > last, ExchangeChange.resource.in_(visible)).limit(1)) is not None
                break
            rows = list(session.scalars(select(ExchangeChange).where(
                ExchangeChange.seq > last, ExchangeChange.resource.in_(visible))
                .order_by(ExchangeChange.seq).limit(take)))
            if not rows:
                break
            ids = {c.record_id for c in rows if c.record_id is not None}
            records = {r.id: r for r in session.scalars(select(Record).where(Record.id.in_(ids)))}
            versions = {(v.record_id, v.version): v for v in session.scalars(
                select(RecordVersion).where(RecordVersion.record_id.in_(ids)))}
            for c in rows:
                rec = records.get(c.record_id)
                res = cat.resources.get(c.resource)
                if rec is None or res is None:
                    continue
                ver = versions.get((rec.id, c.version)) if c.version is not None else None
                src = ver if ver is not None else rec
                row = dict(src.data or {})
                key = {k: row.get(k) for k in res.natural_key}  # natural keys hold no personal field
                dept = depts.get(c.department_id or rec.department_id)
                line: dict[str, Any] = {"seq": c.seq, "op": OPS.get(c.kind, c.kind), "kind": c.kind,
                                        "department": dept.code if dept else None, "key": key,
                                        "version": c.version,
                                        "occurred_at": c.occurred_at.isoformat() if c.occurred_at else None}
                if line["op"] == "upsert":
                    line["row"] = row
                    personal = _personal_of(src.personal_enc, keyring) if sealer else {}
                    if personal:
                        line["sealed"] = sealer.seal(c.seq, personal)
                if ver is not None and ver.reason:
                    line["reason"] = ver.reason
                if dept:
                    used_depts.add(dept.code)
                if c.resource not in handles:
                    name = f"{c.resource}.ndjson"
                    handles[c.resource] = open(out / name, "wb")  # noqa: SIM115 - closed below
                    hashes[c.resource] = hashlib.sha256()
                    files[c.resource] = name
                data = (json.dumps(line, ensure_ascii=False, sort_keys=True, separators=(",", ":")) + "\n").encode()
                handles[c.resource].write(data)
                hashes[c.resource].update(data)
                counts[c.resource] += 1
            last = rows[-1].seq
            total += len(rows)
    finally:
        for fh in handles.values():
            fh.close()
    for name in files.values():
        os.chmod(out / name, 0o600)
    manifest = {
        "format": FORMAT, "package_id": package_id, "platform": platform_name(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cursor_from": encode_cursor(position), "cursor_to": encode_cursor(last), "has_more": more,
        "catalogue": {"name": cat.name, "edition": cat.edition, "version": cat.version},
        "contains_personal_data": sealer is not None,
        "personal_data": sealer.header if sealer is not None else None,
        "departments": {code: next(d.name for d in depts.values() if d.code == code) for code in sorted(used_depts)},
        "resources": {code: {"file": files[code], "count": counts[code], "sha256": hashes[code].hexdigest(),
                             "natural_key": list(cat.get(code).natural_key), "fields": _field_defs(cat.get(code))}
                      for code in sorted(files)},
        "changes": total,
    }
    kid, private = get_keystore().signing_key()
    digest = content_hash(manifest)
    signature = {"alg": "Ed25519", "key_id": kid, "hash": f"sha256:{digest}",
                 "value": base64.b64encode(private.sign(SIGN_PREFIX + digest.encode("ascii"))).decode("ascii")}
    path = out / "manifest.json"
    path.write_text(json.dumps({"manifest": manifest, "signature": signature}, ensure_ascii=False, indent=2,
                               sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(path, 0o600)
    record_event(session, "exchange.export", actor=actor, resources=sorted(files),
                 details={"package_id": manifest["package_id"], "cursor_from": manifest["cursor_from"],
                          "cursor_to": manifest["cursor_to"], "changes": total})
    return manifest


# --- trust and verification -------------------------------------------------------------------------


def trust_keys(keys: KeySet | dict, platform: str) -> Path:
    """Trust an upstream platform's published key set (its ``/.well-known/xinyong-report-keys.json``)."""
    keyset = keys if isinstance(keys, KeySet) else KeySet.from_dict(keys)
    if not keyset.entries:
        raise InvalidInput("公钥集中没有公钥。", code="invalid_keyset")
    name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in platform)[:80] or "platform"
    folder = trusted_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({**keyset.to_dict(), "issuer": platform}, ensure_ascii=False, indent=2),
                    encoding="utf-8")
    return path


def trusted_keysets(extra: KeySet | None = None) -> list[KeySet]:
    sets = [extra] if extra is not None else []
    folder = trusted_dir()
    if folder.is_dir():
        sets.extend(KeySet.load(p) for p in sorted(folder.glob("*.json")))
    return sets


def read_package(directory: Path | str, *, keys: KeySet | None = None) -> tuple[dict[str, Any], str]:
    """Verify a package's signature, files, hashes and counts. Returns (manifest, manifest hash)."""
    folder = Path(directory)
    path = folder / "manifest.json"
    if not path.is_file():
        raise PackageRefused(f"{folder} 不是交换包：缺少 manifest.json。", code="not_a_package")
    try:
        envelope = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PackageRefused("交换包清单 manifest.json 不是有效的 JSON：文件已损坏或被篡改，已拒绝导入。",
                             code="package_tampered") from None
    manifest, sig = (envelope.get("manifest"), envelope.get("signature")) if isinstance(envelope, dict) else (None, None)
    if not isinstance(manifest, dict) or not isinstance(sig, dict) or manifest.get("format") != FORMAT:
        raise PackageRefused(f"交换包格式不正确：应为 {FORMAT}（含 manifest 与 signature）。", code="not_a_package")
    kid, claimed, value = sig.get("key_id"), str(sig.get("hash") or ""), sig.get("value")
    try:
        actual = content_hash(manifest)
    except (TypeError, ValueError):
        actual = ""
    if actual != claimed.removeprefix("sha256:"):
        raise PackageRefused("交换包已被篡改：清单内容与签名记录的摘要不一致，已拒绝导入。请向上游平台重新索取交换包。",
                             code="package_tampered")
    entry = None
    for keyset in trusted_keysets(keys):
        entry = keyset.get(str(kid))
        if entry is not None:
            break
    if entry is None:
        raise PackageRefused(f"交换包的签名密钥 {str(kid)[:32]} 不在本平台信任的公钥中：请先用 "
                             "`xinyong exchange trust` 导入上游平台公布的公钥集，再导入交换包。", code="untrusted_key")
    try:
        entry.public_key.verify(base64.b64decode(str(value), validate=True), SIGN_PREFIX + actual.encode("ascii"))
    except (InvalidSignature, binascii.Error, ValueError):
        raise PackageRefused("交换包签名无效：签名不是由上游平台密钥对该清单作出的（被伪造或被篡改），已拒绝导入。",
                             code="package_tampered") from None
    for code, info in (manifest.get("resources") or {}).items():
        name = str(info.get("file") or "")
        fpath = folder / name
        if "/" in name or "\\" in name or name.startswith(".") or not fpath.is_file():
            raise PackageRefused(f"交换包不完整：缺少文件 {name}（{code}），已拒绝导入。", code="package_incomplete")
        h = hashlib.sha256()
        lines = 0
        with open(fpath, "rb") as fh:
            for line in fh:
                h.update(line)
                lines += 1
        if h.hexdigest() != info.get("sha256") or lines != info.get("count"):
            raise PackageRefused(f"交换包已被篡改：文件 {name} 的 SHA-256 摘要或条数与签名清单不符，已拒绝导入。"
                                 "请向上游平台重新索取交换包。", code="package_tampered")
    return manifest, hashlib.sha256(canonical_bytes(manifest)).hexdigest()


def check_compatibility(manifest: dict[str, Any]) -> list[str]:
    """Problems that stop the receiving catalogue from taking these resources (Chinese sentences)."""
    cat = load_catalogue()
    problems = []
    for code, info in sorted((manifest.get("resources") or {}).items()):
        if code not in cat:
            problems.append(f"本平台信用信息目录中没有资源 {code}")
            continue
        res = cat.get(code)
        if list(info.get("natural_key") or []) != list(res.natural_key):
            problems.append(f"资源 {code}（{res.name}）的唯一标识不一致：上游为 {'、'.join(info.get('natural_key') or [])}，"
                            f"本平台为 {'、'.join(res.natural_key)}")
        for f in info.get("fields") or []:
            if not res.has_field(f.get("code", "")):
                problems.append(f"资源 {code}（{res.name}）没有信息项 {f.get('code')}")
                continue
            mine = res.field(f["code"])
            diffs = []
            if f.get("type") != mine.type:
                diffs.append(f"类型 {f.get('type')} ≠ {mine.type}")
            if bool(f.get("personal")) != mine.personal:
                diffs.append("个人信息属性不同")
            if bool(f.get("multiple")) != mine.multiple:
                diffs.append("多值属性不同")
            if f.get("enum") and mine.enum and not set(f["enum"]) <= set(mine.enum_values):
                diffs.append("代码取值超出本平台范围：" + "、".join(sorted(set(f["enum"]) - set(mine.enum_values)))[:200])
            if diffs:
                problems.append(f"资源 {code} 的信息项 {f['code']}（{mine.label}）定义冲突：{'；'.join(diffs)}")
    return problems


# --- import ---------------------------------------------------------------------------------------


def _read_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                raise PackageRefused(f"交换包文件 {path.name} 第 {n} 行不是有效的 JSON。", code="package_invalid") from None
            if not isinstance(item, dict) or not isinstance(item.get("key"), dict):
                raise PackageRefused(f"交换包文件 {path.name} 第 {n} 行缺少记录标识 key。", code="package_invalid")
            out.append(item)
    return out


def _department_map(session: Session, manifest: dict[str, Any], mapping: dict[str, str] | None) -> dict[str, int]:
    from xinyong.departments.service import find_department

    out, missing = {}, []
    for code, name in (manifest.get("departments") or {}).items():
        target = (mapping or {}).get(code, code)
        try:
            out[code] = find_department(session, target).id
        except XinyongError:
            missing.append(f"{code}（{name}）")
    if missing:
        raise PackageRefused(f"本平台没有交换包中的部门：{'、'.join(missing)}。请先登记这些部门，或用 "
                             "--map-department 上游编码=本平台编码 指定对应部门。", code="department_unmapped")
    return out


def import_package(session: Session, directory: Path | str, *, actor: Actor | None = None,
                   keys: KeySet | None = None, department_map: dict[str, str] | None = None,
                   force: bool = False, today: date | None = None) -> dict[str, Any]:
    """Verify and apply a package in the caller's transaction (all or nothing)."""
    from xinyong.intake.service import find_record, ingest_rows, withdraw_record

    actor = actor or Actor.cli()
    folder = Path(directory)
    manifest, mhash = read_package(folder, keys=keys)
    platform = str(manifest.get("platform") or "上游平台")[:200]
    pid = str(manifest.get("package_id") or "")[:64]
    done = session.scalar(select(ImportedPackage).where(ImportedPackage.manifest_sha256 == mhash))
    if done is not None and not force:
        return {"status": "already_imported", "package_id": pid, "platform": platform,
                "cursor_to": manifest.get("cursor_to"), "changes": 0, "message": "该交换包此前已导入，未做任何改动。",
                "imported_at": done.imported_at.isoformat() if done.imported_at else None}
    problems = check_compatibility(manifest)
    if problems:
        raise PackageRefused("交换包与本平台信用信息目录不兼容，已拒绝导入：" + "；".join(problems[:20]) +
                             ("……" if len(problems) > 20 else "") + "。请先统一目录定义。", code="catalogue_incompatible")
    depts = _department_map(session, manifest, department_map)
    opener = (Opener(manifest["personal_data"], pid, PackageRefused) if manifest.get("personal_data") else None)
    cat = load_catalogue()
    source = f"交换包:{platform}:{pid[:12]}"
    summary: dict[str, Any] = {"created": 0, "updated": 0, "unchanged": 0, "withdrawn": 0, "repaired": 0,
                               "windows_closed": 0, "list_removed": 0, "already": 0, "batches": []}

    def flush(res: Resource, pending: dict[str, dict[str, dict[str, Any]]]) -> None:
        for dept_code, rows in pending.items():
            if not rows:
                continue
            result = ingest_rows(session, list(rows.values()), res, depts[dept_code], source_name=source,
                                 actor=actor, today=today)
            if result.rows_rejected or result.status != "committed":
                msgs = "；".join(e["message"].rstrip("。") for e in result.errors[:5]) or (result.message or "")
                hint = "" if opener else ("。该交换包不含个人信息：请把本平台的交换公钥（`xinyong exchange key`）"
                                          "交给上游平台，请其重新导出")
                raise PackageRefused(f"交换包中 {res.name} 有 {result.rows_rejected} 条记录未通过本平台校验，"
                                     f"整包未导入：{msgs}{hint}", code="package_rows_rejected")
            summary["created"] += result.records_created
            summary["updated"] += result.records_updated
            summary["unchanged"] += result.records_unchanged
            summary["batches"].append(result.batch_id)
        pending.clear()

    def locate(res: Resource, key: dict[str, Any]) -> Record:
        try:
            return find_record(session, res, key)
        except NotFound:
            raise PackageRefused(f"交换包要修改的 {res.name} 记录在本平台不存在：请先导入更早的交换包"
                                 f"（本包起始游标 {manifest.get('cursor_from')}）。", code="record_missing") from None

    total = 0
    for code, info in sorted((manifest.get("resources") or {}).items()):
        res = cat.get(code)
        pending: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for item in _read_lines(folder / info["file"]):
            total += 1
            op = item.get("op")
            key_text = json.dumps(item["key"], ensure_ascii=False, sort_keys=True)
            if op == "upsert":
                dept = item.get("department")
                if dept not in depts or not isinstance(item.get("row"), dict):
                    raise PackageRefused(f"交换包文件 {info['file']} 中有记录缺少部门或内容。", code="package_invalid")
                row = dict(item["row"])
                if "sealed" in item:
                    if opener is None:
                        raise PackageRefused("交换包中有加密的个人信息，但清单没有说明加密参数，已拒绝导入。",
                                             code="package_invalid")
                    row.update(opener.open(item.get("seq"), item["sealed"]))
                pending[dept][key_text] = row  # the last version of a key in a run wins
                continue
            flush(res, pending)
            if op in ("withdraw", "repair", "window_closed"):
                record = locate(res, item["key"])
                reason = str(item.get("reason") or "")
                if op == "withdraw":
                    if record.status == "withdrawn":
                        summary["already"] += 1
                    else:
                        withdraw_record(session, record.id, actor=actor,
                                        reason=f"上游平台（{platform}）撤销：{reason or '未说明理由'}"[:1000])
                        summary["withdrawn"] += 1
                elif op == "repair":
                    if record.repaired_at is not None or record.status != "active":
                        summary["already"] += 1
                    else:
                        _apply_repair(session, record, actor, f"上游平台（{platform}）信用修复：{reason}"[:1000])
                        summary["repaired"] += 1
                else:
                    if record.window_closed_on is None and record.status == "active":
                        record.window_closed_on = today or date.today()
                        summary["windows_closed"] += 1
                    else:
                        summary["already"] += 1
            elif op == "list_removed":
                summary["list_removed"] += 1  # the receiver's own dates and tick take it off the list
            else:
                raise PackageRefused(f"交换包中有不认识的变更类型 {op}。", code="package_invalid")
        flush(res, pending)
    session.flush()
    summary["batches"] = [b for b in summary["batches"] if b is not None]
    if done is None:
        session.add(ImportedPackage(manifest_sha256=mhash, platform=platform, package_id=pid,
                                    cursor_from=manifest.get("cursor_from"), cursor_to=manifest.get("cursor_to"),
                                    summary=summary, imported_at=utcnow()))
    record_event(session, "exchange.import", actor=actor, resources=sorted(manifest.get("resources") or {}),
                 details={"platform": platform, "package_id": pid, "changes": total,
                          **{k: v for k, v in summary.items() if k != "batches"}})
    return {"status": "imported", "package_id": pid, "platform": platform, "cursor_to": manifest.get("cursor_to"),
            "has_more": bool(manifest.get("has_more")), "changes": total, **summary}


def _apply_repair(session: Session, record: Record, actor: Actor, reason: str) -> None:
    now = utcnow()
    version = record.current_version + 1
    session.add(RecordVersion(record_id=record.id, version=version, change="repaired", status=record.status,
                              batch_id=None, department_id=record.department_id, subject_id=record.subject_id,
                              content_hash=record.content_hash, data=record.data, personal_enc=record.personal_enc,
                              reason=reason, actor=(actor.name or actor.describe())[:200], created_at=now))
    record.current_version = version
    record.repaired_at = now
    record.updated_at = now
    session.flush()


# --- HTTP: serving and pulling ------------------------------------------------------------------------


def package_payload(session: Session, actor: Actor, *, since: str | None, resources: list[str] | None,
                    limit: int, include_personal: bool, recipient_key: str | None = None) -> dict[str, Any]:
    """A package as one JSON document (for ``GET /api/v1/exchange/package``)."""
    with tempfile.TemporaryDirectory() as tmp:
        export_package(session, Path(tmp) / "p", since=since, actor=actor, resources=resources, limit=limit,
                       include_personal=include_personal, recipient_key=recipient_key)
        folder = Path(tmp) / "p"
        return {"manifest.json": (folder / "manifest.json").read_text(encoding="utf-8"),
                "files": {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.ndjson"))}}


def write_payload(payload: dict[str, Any], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not isinstance(payload, dict) or not isinstance(payload.get("files"), dict):
        raise PackageRefused("上游平台返回的内容不是交换包。", code="not_a_package")
    (folder / "manifest.json").write_text(str(payload.get("manifest.json") or ""), encoding="utf-8")
    for name, content in payload["files"].items():
        if "/" in name or "\\" in name or name.startswith(".") or not name.endswith(".ndjson"):
            raise PackageRefused(f"交换包含有不允许的文件名 {name[:50]}。", code="package_invalid")
        # newline="" keeps the bytes exactly as hashed upstream.
        with open(folder / name, "w", encoding="utf-8", newline="") as fh:
            fh.write(content)


def pull(bind, url: str, api_key: str, *, actor: Actor | None = None, keys: KeySet | None = None,
         department_map: dict[str, str] | None = None, since: str | None = None, max_packages: int = 1000,
         http=None) -> dict[str, Any]:
    """Pull packages from an upstream platform until caught up; each one is verified and imported
    in its own transaction, and the peer's cursor moves only after a package committed."""
    import httpx

    from xinyong.db.engine import get_engine

    engine = bind if hasattr(bind, "connect") else get_engine(bind)
    base = url.rstrip("/")
    client = http or httpx.Client(timeout=60.0)
    totals: dict[str, Any] = {"packages": 0, "changes": 0, "created": 0, "updated": 0, "unchanged": 0,
                              "withdrawn": 0, "repaired": 0}
    try:
        for _ in range(max_packages):
            with Session(engine) as s, s.begin():
                peer = s.scalar(select(Peer).where(Peer.url == base))
                if peer is None:
                    peer = Peer(url=base)
                    s.add(peer)
                    s.flush()
                cursor = since if since is not None else peer.cursor
            try:
                resp = client.get(f"{base}/api/v1/exchange/package",
                                  params={"since": cursor or "", "recipient_key": own_public_key()},
                                  headers={"Authorization": f"Bearer {api_key}", "X-Purpose": "routine_supervision"})
            except httpx.HTTPError as exc:
                raise InvalidInput(f"无法连接上游平台 {base}：{type(exc).__name__}。", code="upstream_unreachable") from exc
            if resp.status_code != 200:
                try:
                    msg = resp.json()["error"]["message"]
                except Exception:  # noqa: BLE001
                    msg = f"HTTP {resp.status_code}"
                raise InvalidInput(f"上游平台拒绝了拉取请求：{msg}", code="upstream_refused")
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / "pkg"
                write_payload(resp.json(), folder)
                with Session(engine) as s, s.begin():
                    out = import_package(s, folder, actor=actor, keys=keys, department_map=department_map)
                    peer = s.scalar(select(Peer).where(Peer.url == base))
                    peer.cursor = out.get("cursor_to")
                    peer.platform = out.get("platform")
                    peer.last_pull_at = utcnow()
                    peer.last_error = None
            since = None
            totals["packages"] += 1
            for k in ("changes", "created", "updated", "unchanged", "withdrawn", "repaired"):
                totals[k] += int(out.get(k) or 0)
            totals["cursor"] = out.get("cursor_to")
            if not out.get("has_more"):
                break
    finally:
        if http is None:
            client.close()
    return totals


__all__ = ["PackageRefused", "check_compatibility", "export_package", "import_package", "package_payload", "pull",
           "read_package", "trust_keys", "trusted_keysets", "write_payload"]
