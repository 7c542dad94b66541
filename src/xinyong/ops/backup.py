"""Backup and restore of the whole platform: the database and the files under the var dir.

A backup is a directory::

    DIR/manifest.json          what is in it (tables, row counts, content hashes, files, versions)
    DIR/manifest.sha256        the SHA-256 of manifest.json
    DIR/database.sqlite3       SQLite: a consistent copy made with SQLite's online backup API
    DIR/database.dump          PostgreSQL: ``pg_dump --format=custom`` of one exported snapshot
    DIR/files/<area>/<path>    attachments, intake error reports, report signing keys

Each table's *content hash* is the SHA-256 of its rows in primary-key order, computed from the
very snapshot that was dumped. ``restore`` checks every checksum before it writes anything,
refuses a target that already holds data unless ``force``, and after restoring recomputes every
table's content hash and compares it with the manifest.

The personal-data master key (``secret.key`` / ``XINYONG_SECRET_KEY``) is deliberately NOT in
the backup: a stolen backup must not decrypt itself. The manifest holds a fingerprint of the key
(a keyed hash of a constant) so ``restore`` can refuse to run under a different key.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Connection, MetaData, Table, create_engine, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from xinyong import __version__
from xinyong.config import get_settings
from xinyong.db.engine import dispose_all, normalize_url
from xinyong.errors import ConfigurationError, Conflict, InvalidInput, XinyongError

FORMAT = "xinyong-backup/1"
MANIFEST = "manifest.json"
MANIFEST_SUM = "manifest.sha256"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.dump"
_AREA_RE = re.compile(r"^[a-z][a-z0-9-]*$")
_CHUNK = 1 << 20


class BackupError(XinyongError):
    status_code = 500
    code = "backup_failed"


@dataclass(frozen=True)
class FileArea:
    name: str
    root: Path


def file_areas() -> list[FileArea]:
    """The directories whose files belong in a backup (the key dir may live outside var)."""
    from xinyong.intake.service import report_dir
    from xinyong.reports.keys import key_dir
    from xinyong.workflows.attachments import storage_dir

    return [FileArea("attachments", storage_dir()), FileArea("intake-reports", report_dir()),
            FileArea("report-keys", key_dir())]


# --- hashing -----------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _canon(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": bytes(value).hex()}
    if isinstance(value, datetime):
        # SQLite hands back naive datetimes, PostgreSQL aware ones: compare the instant.
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return {"$dt": value.isoformat()}
    if isinstance(value, date | time):
        return {"$d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$n": str(value)}
    if isinstance(value, float):
        return {"$f": repr(value)}
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canon(v) for v in value]
    return value


def user_tables(conn: Connection) -> list[str]:
    names = inspect(conn).get_table_names()
    return sorted(n for n in names if not n.startswith("sqlite_"))


def table_digest(conn: Connection, name: str) -> tuple[int, str]:
    """(row count, SHA-256 of the rows in primary-key order) of one table."""
    table = Table(name, MetaData(), autoload_with=conn)
    order = list(table.primary_key.columns) or list(table.columns)
    columns = [c.name for c in table.columns]
    h = hashlib.sha256(json.dumps(columns).encode())
    rows = 0
    result = conn.execution_options(stream_results=True, yield_per=5000).execute(
        select(table).order_by(*order))
    for row in result:
        rows += 1
        h.update(json.dumps(_canon(list(row)), sort_keys=True, ensure_ascii=True,
                            separators=(",", ":")).encode())
        h.update(b"\n")
    return rows, h.hexdigest()


def table_digests(conn: Connection) -> dict[str, dict[str, Any]]:
    return {name: dict(zip(("rows", "sha256"), table_digest(conn, name), strict=True))
            for name in user_tables(conn)}


def data_rows(conn: Connection) -> int:
    """Rows in every table but alembic_version: zero means the database holds no data."""
    total = 0
    for name in user_tables(conn):
        if name != "alembic_version":
            total += conn.execute(text(f'SELECT COUNT(*) FROM "{name}"')).scalar_one()
    return total


def _revision(conn: Connection) -> str | None:
    if "alembic_version" not in user_tables(conn):
        return None
    return "+".join(sorted(r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))))


def key_fingerprint() -> str | None:
    """A keyed hash of a constant: equal fingerprints mean the same personal-data key."""
    from xinyong.identity.crypto import get_keyring

    try:
        return get_keyring().keyed_hash("xinyong-backup-key-fingerprint")[:32]
    except ConfigurationError:
        return None


# --- PostgreSQL tools ------------------------------------------------------------------------------


def _pg_env(url: str) -> dict[str, str]:
    u = make_url(url)
    env = dict(os.environ)
    for var, value in (("PGHOST", u.host), ("PGPORT", u.port), ("PGUSER", u.username),
                       ("PGPASSWORD", u.password), ("PGDATABASE", u.database)):
        if value is not None:
            env[var] = str(value)
    for key, value in (u.query or {}).items():
        if key == "sslmode":
            env["PGSSLMODE"] = str(value)
    return env


def _tool_major(path: str) -> int:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    if not m:
        raise ConfigurationError(f"无法识别 {path} 的版本：{out.strip()}")
    return int(m.group(1))


def pg_tool(name: str, min_major: int) -> tuple[str, int]:
    """The pg_dump/pg_restore to use: the server's own major version first (Debian keeps each
    version under /usr/lib/postgresql/N/bin), else any newer one, else the one on PATH."""
    candidates: list[str] = []
    base = Path("/usr/lib/postgresql")
    if base.is_dir():
        versions = sorted((int(p.name) for p in base.iterdir() if p.name.isdigit()), reverse=True)
        ordered = [min_major] + [v for v in versions if v != min_major]
        candidates += [str(base / str(v) / "bin" / name) for v in ordered if (base / str(v) / "bin" / name).exists()]
    if found := shutil.which(name):
        candidates.append(found)
    for path in candidates:
        major = _tool_major(path)
        if major >= min_major:
            return path, major
    raise ConfigurationError(
        f"找不到版本不低于 {min_major} 的 {name}：请安装与数据库服务器同版本的 PostgreSQL 客户端"
        f"（Debian：apt-get install postgresql-client-{min_major}）。", code="pg_tool_missing")


def _server_major(conn: Connection) -> int:
    return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise BackupError(f"{what}失败（退出码 {proc.returncode}）：{' / '.join(detail)}")


# --- backup ------------------------------------------------------------------------------------------


def _iter_files(area: FileArea) -> Iterator[tuple[str, Path]]:
    if not area.root.is_dir():
        return
    for path in sorted(area.root.rglob("*")):
        # Dot files are locks and half-written (.partial) files, never content.
        if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
            yield path.relative_to(area.root).as_posix(), path


def _copy_files(dest: Path) -> list[dict[str, Any]]:
    entries = []
    for area in file_areas():
        for rel, src in _iter_files(area):
            target = dest / "files" / area.name / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            h = hashlib.sha256()
            with open(src, "rb") as fin, open(target, "wb") as fout:
                while block := fin.read(_CHUNK):
                    h.update(block)
                    fout.write(block)
            entries.append({"area": area.name, "path": rel, "size": target.stat().st_size, "sha256": h.hexdigest(),
                            "mode": stat.S_IMODE(src.stat().st_mode)})
    return entries


def _backup_sqlite(url: str, dest: Path) -> tuple[dict, str | None]:
    db_path = make_url(url).database
    if not db_path or db_path == ":memory:" or not Path(db_path).exists():
        raise InvalidInput(f"找不到要备份的 SQLite 数据库文件 {db_path}。", code="database_missing")
    target = dest / SQLITE_FILE
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # online: consistent even while the platform keeps writing
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()
    eng = create_engine(f"sqlite:///{target}", poolclass=NullPool)
    try:
        with eng.connect() as conn:
            return table_digests(conn), _revision(conn)
    finally:
        eng.dispose()


def _backup_postgresql(url: str, dest: Path) -> tuple[dict, str | None, dict]:
    eng = create_engine(url, poolclass=NullPool)
    try:
        with eng.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
            with conn.begin():
                conn.execute(text("SET TRANSACTION READ ONLY"))
                server = _server_major(conn)
                tool, tool_major = pg_tool("pg_dump", server)
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                # pg_dump reads the same snapshot this transaction hashes: dump and manifest agree.
                _run([tool, "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                      f"--file={dest / PG_FILE}"], _pg_env(url), "pg_dump ")
                digests, revision = table_digests(conn), _revision(conn)
    finally:
        eng.dispose()
    return digests, revision, {"server_major": server, "pg_dump_major": tool_major}


def backup(to: Path | str, *, url: str | None = None, progress: Callable[[str], None] | None = None) -> dict:
    """Write a complete, verifiable backup into directory ``to`` (which must not hold anything)."""
    settings = get_settings()
    url = normalize_url(url or settings.resolved_database_url)
    dialect = make_url(url).get_backend_name()
    to = Path(to)
    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise Conflict(f"备份目录 {to} 已存在且不为空：请指定一个新目录。", code="backup_dir_not_empty")
    to.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{to.name}.partial-", dir=to.parent))
    try:
        say = progress or (lambda _msg: None)
        say("备份数据库")
        extra: dict[str, Any] = {}
        if dialect == "sqlite":
            digests, revision = _backup_sqlite(url, work)
            db_file = SQLITE_FILE
        elif dialect == "postgresql":
            digests, revision, extra = _backup_postgresql(url, work)
            db_file = PG_FILE
        else:
            raise ConfigurationError(f"不支持备份 {dialect} 数据库。")
        say("复制附件与文件")
        files = _copy_files(work)
        manifest = {
            "format": FORMAT, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "app_version": __version__, "alembic_revision": revision, "dialect": dialect, **extra,
            "database": {"file": db_file, "size": (work / db_file).stat().st_size,
                         "sha256": sha256_file(work / db_file)},
            "key_fingerprint": key_fingerprint(),
            "tables": digests, "files": files,
        }
        body = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode()
        (work / MANIFEST).write_bytes(body)
        (work / MANIFEST_SUM).write_text(f"{hashlib.sha256(body).hexdigest()}  {MANIFEST}\n")
        if to.exists():
            to.rmdir()
        work.rename(to)  # a half-written backup never looks like a backup
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return {"dir": str(to), "dialect": dialect, "alembic_revision": revision,
            "tables": len(digests), "rows": sum(t["rows"] for t in digests.values()),
            "files": len(files), "bytes": sum(f["size"] for f in files) + manifest["database"]["size"]}


# --- verification --------------------------------------------------------------------------------------


def _safe_rel(rel: str) -> str:
    p = PurePosixPath(rel)
    if (not rel or p.is_absolute() or ".." in p.parts or "\\" in rel or "\x00" in rel
            or any(part in ("", ".") for part in p.parts)):
        raise InvalidInput(f"备份清单中的文件路径不安全：{rel!r}。该备份可能被篡改，已拒绝恢复。",
                           code="backup_unsafe_path")
    return p.as_posix()


def read_manifest(src: Path | str) -> dict:
    """The manifest, after checking its own checksum and every file's size and SHA-256."""
    src = Path(src)
    mpath, spath = src / MANIFEST, src / MANIFEST_SUM
    if not mpath.is_file() or not spath.is_file():
        raise InvalidInput(f"{src} 不是 Xinyong 备份目录：缺少 {MANIFEST} 或 {MANIFEST_SUM}。", code="backup_invalid")
    body = mpath.read_bytes()
    expected = spath.read_text().split()[0] if spath.read_text().split() else ""
    if hashlib.sha256(body).hexdigest() != expected:
        raise InvalidInput("备份清单校验失败（manifest.json 的 SHA-256 与 manifest.sha256 不符）：备份已损坏或被修改。",
                           code="backup_checksum")
    try:
        manifest = json.loads(body)
    except ValueError:
        raise InvalidInput("备份清单不是有效的 JSON。", code="backup_invalid") from None
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"不支持的备份格式 {manifest.get('format')!r}（本版本读取 {FORMAT}）。", code="backup_format")
    db = manifest["database"]
    if db["file"] not in (SQLITE_FILE, PG_FILE):
        raise InvalidInput("备份清单中的数据库文件名不正确。", code="backup_invalid")
    _check_file(src / db["file"], db["size"], db["sha256"], "数据库备份文件")
    known = {a.name for a in file_areas()}
    for entry in manifest["files"]:
        if entry["area"] not in known or not _AREA_RE.match(entry["area"]):
            raise InvalidInput(f"备份清单中的文件区域未知：{entry['area']!r}。", code="backup_invalid")
        rel = _safe_rel(entry["path"])
        _check_file(src / "files" / entry["area"] / rel, entry["size"], entry["sha256"], f"文件 {entry['area']}/{rel}")
    return manifest


def _check_file(path: Path, size: int, digest: str, label: str) -> None:
    if not path.is_file():
        raise InvalidInput(f"备份不完整：缺少{label}（{path.name}）。", code="backup_incomplete")
    if path.stat().st_size != size or sha256_file(path) != digest:
        raise InvalidInput(f"备份校验失败：{label}的 SHA-256 与清单不符，备份已损坏或被修改。", code="backup_checksum")


def verify(src: Path | str) -> dict:
    """Check a backup without restoring it: checksums, and the SQLite copy's table hashes."""
    src = Path(src)
    manifest = read_manifest(src)
    if manifest["dialect"] == "sqlite":
        eng = create_engine(f"sqlite:///file:{src / SQLITE_FILE}?mode=ro&uri=true", poolclass=NullPool)
        try:
            with eng.connect() as conn:
                _compare(manifest["tables"], table_digests(conn), "备份副本")
        finally:
            eng.dispose()
    return manifest


def _compare(expected: dict, actual: dict, where: str) -> None:
    if expected != actual:
        bad = sorted(n for n in set(expected) | set(actual) if expected.get(n) != actual.get(n))
        raise BackupError(f"{where}的表内容与备份清单不符：{', '.join(bad[:10])}。", code="restore_mismatch")


# --- restore -------------------------------------------------------------------------------------------


def _target_rows(url: str, dialect: str) -> int:
    if dialect == "sqlite":
        path = make_url(url).database
        if not path or not Path(path).exists() or Path(path).stat().st_size == 0:
            return 0
    eng = create_engine(url, poolclass=NullPool)
    try:
        with eng.connect() as conn:
            return data_rows(conn)
    finally:
        eng.dispose()


def _restore_sqlite(src: Path, url: str) -> None:
    path = make_url(url).database
    if not path or path == ":memory:":
        raise ConfigurationError("恢复目标必须是 SQLite 数据库文件。")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{src / SQLITE_FILE}?mode=ro", uri=True)
    target = sqlite3.connect(path, timeout=30)
    try:
        source.backup(target)  # replaces every page of the target, in one step
        target.execute("PRAGMA journal_mode=WAL")
    finally:
        target.close()
        source.close()


def _restore_postgresql(src: Path, url: str, manifest: dict, force: bool) -> None:
    eng = create_engine(url, poolclass=NullPool)
    try:
        with eng.connect() as conn:
            server = _server_major(conn)
        tool, _major = pg_tool("pg_restore", max(server, int(manifest.get("pg_dump_major") or 0)))
        if force:
            with eng.begin() as conn:
                for name in user_tables(conn):
                    conn.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
    finally:
        eng.dispose()
    _run([tool, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
          "--clean", "--if-exists", f"--dbname={make_url(url).database}", str(src / PG_FILE)],
         _pg_env(url), "pg_restore ")


def restore(src: Path | str, *, url: str | None = None, force: bool = False,
            progress: Callable[[str], None] | None = None) -> dict:
    """Restore a backup made by :func:`backup` into the configured database and var dir."""
    say = progress or (lambda _msg: None)
    settings = get_settings()
    url = normalize_url(url or settings.resolved_database_url)
    dialect = make_url(url).get_backend_name()
    src = Path(src)
    say("校验备份")
    manifest = verify(src)
    if manifest["dialect"] != dialect:
        raise InvalidInput(f"该备份来自 {manifest['dialect']} 数据库，不能恢复到 {dialect} 数据库。",
                           code="backup_dialect")
    fp, current = manifest.get("key_fingerprint"), key_fingerprint()
    if fp and current and fp != current:
        raise InvalidInput("当前个人信息加密密钥与备份时不同：恢复后身份证号等将无法解密。请先配置备份时使用的"
                           " secret.key 或 XINYONG_SECRET_KEY，再恢复。", code="backup_key_mismatch")
    rows = _target_rows(url, dialect)
    if rows and not force:
        raise Conflict(f"目标数据库已有 {rows:,} 行数据：恢复会覆盖全部现有数据。确认无误请加 --force。",
                       code="restore_target_not_empty")
    areas = {a.name: a.root for a in file_areas()}
    clashes = []
    for entry in manifest["files"]:
        target = areas[entry["area"]] / _safe_rel(entry["path"])
        if target.exists() and sha256_file(target) != entry["sha256"]:
            clashes.append(f"{entry['area']}/{entry['path']}")
    if clashes and not force:
        raise Conflict(f"{len(clashes)} 个现有文件与备份中的内容不同（如 {clashes[0]}）：确认覆盖请加 --force。",
                       code="restore_files_differ")
    dispose_all()  # no pooled connection may hold the old database open
    say("恢复数据库")
    if dialect == "sqlite":
        _restore_sqlite(src, url)
    else:
        _restore_postgresql(src, url, manifest, force)
    say("恢复附件与文件")
    written = 0
    for entry in manifest["files"]:
        target = areas[entry["area"]] / _safe_rel(entry["path"])
        if target.exists() and sha256_file(target) == entry["sha256"]:
            continue
        private = entry["area"] == "report-keys"
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o777)
        tmp = target.with_name(f".{target.name}.restoring")
        shutil.copyfile(src / "files" / entry["area"] / entry["path"], tmp)
        mode = int(entry.get("mode") or 0o640) & 0o777
        tmp.chmod(mode & 0o700 if private else mode)  # signing keys stay readable by the owner only
        os.replace(tmp, target)
        written += 1
    say("核对恢复结果")
    eng = create_engine(url, poolclass=NullPool)
    try:
        with eng.connect() as conn:
            _compare(manifest["tables"], table_digests(conn), "恢复后的数据库")
    finally:
        eng.dispose()
    return {"dialect": dialect, "alembic_revision": manifest["alembic_revision"],
            "tables": len(manifest["tables"]), "rows": sum(t["rows"] for t in manifest["tables"].values()),
            "files": len(manifest["files"]), "files_written": written, "backup_created_at": manifest["created_at"]}
