"""Backup and restore: a round trip into an empty database gives back every table's content and
every file, byte for byte; damaged or hostile backups and non-empty targets are refused."""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from tests.conftest import PG_ADMIN_URL
from tests.workflows.conftest import cheap_argon2, penalty, world  # noqa: F401 - fixtures
from xinyong.accounts.actor import Actor
from xinyong.config import reset_settings
from xinyong.db.engine import dispose_all, session_scope
from xinyong.errors import Conflict, InvalidInput
from xinyong.ops.backup import backup, restore, table_digests, verify

PDF = b"%PDF-1.7\n1 0 obj\n" + b"attachment one"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _digests(url: str) -> dict:
    eng = create_engine(url, poolclass=NullPool)
    try:
        with eng.connect() as conn:
            return table_digests(conn)
    finally:
        eng.dispose()


def _files(var: Path) -> dict[str, str]:
    return {p.relative_to(var).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(var.rglob("*")) if p.is_file() and ".lock" not in p.name
            and p.suffix not in (".sqlite3",) and "-wal" not in p.name and "-shm" not in p.name
            and p.name != "secret.key"}


def _populate(w) -> None:
    from xinyong.audit.service import record_event
    from xinyong.reports.keys import get_keystore
    from xinyong.workflows.attachments import save_attachment

    with session_scope(w.url) as s:
        save_attachment(s, "objection", 1, "证明.pdf", PDF, uploaded_by="pytest")
        save_attachment(s, "repair", 2, "整改.png", PNG, uploaded_by="pytest")
        record_event(s, "ops.test", actor=Actor.cli("pytest"), details={"note": "备份测试"})
    get_keystore().ensure()  # a report signing key in var/report-keys


@pytest.fixture
def empty_target(db_url, tmp_path):
    """A brand-new empty database of the same kind (no tables at all)."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'xinyong.sqlite3'}"
        return
    name = f"xinyong_restore_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(db_url).set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _switch(monkeypatch, tmp_path: Path, url: str) -> Path:
    """Point the platform at another database and an empty var dir (a fresh machine)."""
    var = tmp_path / "var-restored"
    var.mkdir(exist_ok=True)
    monkeypatch.setenv("XINYONG_VAR_DIR", str(var))
    monkeypatch.setenv("XINYONG_DATABASE_URL", url)
    dispose_all()
    reset_settings()
    return var


def test_round_trip_restores_every_table_and_file(world, empty_target, tmp_path, monkeypatch, settings_env):  # noqa: F811
    from xinyong.audit.service import verify_chain

    _populate(world)
    source_tables, source_files = _digests(world.url), _files(settings_env)
    assert source_tables["records"]["rows"] >= 2 and source_tables["workflow_attachments"]["rows"] == 2
    assert any(k.startswith("workflows/attachments/") for k in source_files)
    assert any(k.startswith("report-keys/") for k in source_files)

    out = backup(tmp_path / "bk")
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    assert out["tables"] == len(source_tables) and manifest["tables"] == source_tables
    assert manifest["alembic_revision"] and manifest["app_version"] and manifest["key_fingerprint"]
    assert {f["area"] for f in manifest["files"]} >= {"attachments", "report-keys"}
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])
    assert not list(tmp_path.glob(".bk.partial-*"))
    assert "secret.key" not in json.dumps(manifest)  # the master key stays out of the backup

    var = _switch(monkeypatch, tmp_path, empty_target)
    result = restore(tmp_path / "bk")
    assert result["rows"] == sum(t["rows"] for t in source_tables.values())
    assert _digests(empty_target) == source_tables  # every table, row for row
    assert _files(var) == source_files  # attachments, reports and keys, byte for byte
    for path in var.rglob("*"):
        if path.is_file() and "attachments" in path.parts:
            assert path.stat().st_mode & 0o777 == 0o640
        if path.is_file() and "report-keys" in path.parts:
            assert path.stat().st_mode & 0o077 == 0  # signing keys: owner only
    with session_scope(empty_target) as s:
        assert verify_chain(s).ok

    # Data written since: a restore over the now non-empty database needs --force, and then
    # puts back exactly what the backup holds.
    world.url = empty_target
    world.add_penalties(penalty(3, world.uscc))
    assert _digests(empty_target) != source_tables
    with pytest.raises(Conflict) as err:
        restore(tmp_path / "bk")
    assert "--force" in err.value.message
    restore(tmp_path / "bk", force=True)
    assert _digests(empty_target) == source_tables


def _tamper(bk: Path, edit) -> None:
    manifest = json.loads((bk / "manifest.json").read_text())
    edit(manifest)
    body = json.dumps(manifest).encode()
    (bk / "manifest.json").write_bytes(body)
    (bk / "manifest.sha256").write_text(hashlib.sha256(body).hexdigest() + "  manifest.json\n")


def test_damaged_or_hostile_backups_are_refused_before_anything_is_written(world, empty_target, tmp_path,  # noqa: F811
                                                                          monkeypatch):
    _populate(world)
    good = tmp_path / "bk"
    backup(good)

    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(good, dst)
        return dst

    flipped = copy("flipped")
    blob = next((flipped / "files" / "attachments").rglob("*"))
    while blob.is_dir():
        blob = next(blob.iterdir())
    blob.write_bytes(blob.read_bytes() + b"!")
    dbfile = copy("dbfile")
    db = next(p for p in dbfile.iterdir() if p.name.startswith("database."))
    db.write_bytes(db.read_bytes()[:-10])
    manifest_edited = copy("manifest")
    (manifest_edited / "manifest.json").write_text((manifest_edited / "manifest.json").read_text().replace(
        '"rows": ', '"rows": 1', 1))
    traversal = copy("traversal")
    _tamper(traversal, lambda m: m["files"].append({"area": "attachments", "path": "../../../evil.txt",
                                                    "size": 1, "sha256": "0" * 64}))
    other_key = copy("otherkey")
    _tamper(other_key, lambda m: m.update(key_fingerprint="f" * 32))

    var = _switch(monkeypatch, tmp_path, empty_target)
    for bad, code in ((flipped, "backup_checksum"), (dbfile, "backup_checksum"), (manifest_edited, "backup_checksum"),
                      (traversal, "backup_unsafe_path"), (other_key, "backup_key_mismatch"),
                      (tmp_path / "nothing", "backup_invalid")):
        with pytest.raises(InvalidInput) as err:
            restore(bad)
        assert err.value.code == code, (bad, err.value.message)
        assert any("\u4e00" <= c <= "\u9fff" for c in err.value.message)
    assert not list(var.rglob("*"))  # nothing restored
    assert not (tmp_path / "evil.txt").exists()
    if empty_target.startswith("sqlite"):
        assert not Path(make_url(empty_target).database).exists()
    else:
        assert _digests(empty_target) == {}
    assert verify(good)["dialect"] in ("sqlite", "postgresql")


def test_backup_refuses_a_non_empty_directory(db_url, tmp_path):
    (tmp_path / "bk").mkdir()
    (tmp_path / "bk" / "x").write_text("x")
    with pytest.raises(Conflict):
        backup(tmp_path / "bk")


def test_cli_backup_verify_restore(world, empty_target, tmp_path, monkeypatch):  # noqa: F811
    from xinyong.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["backup", "--to", str(tmp_path / "bk"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["tables"] > 10
    r = runner.invoke(app, ["verify-backup", str(tmp_path / "bk")])
    assert r.exit_code == 0 and "备份完好" in r.stdout
    r = runner.invoke(app, ["backup", "--to", str(tmp_path / "bk")])
    assert r.exit_code == 2 and "不为空" in r.output
    _switch(monkeypatch, tmp_path, empty_target)
    r = runner.invoke(app, ["restore", str(tmp_path / "bk")])
    assert r.exit_code == 0 and "恢复完成" in r.stdout, r.output
    r = runner.invoke(app, ["restore", str(tmp_path / "bk")])
    assert r.exit_code == 2 and "--force" in r.output


def test_cli_explains_an_unreachable_database(tmp_path, settings_env, monkeypatch):
    from xinyong.cli import app

    monkeypatch.setenv("XINYONG_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    reset_settings()
    r = CliRunner().invoke(app, ["backup", "--to", str(tmp_path / "bk")])
    assert r.exit_code == 2 and "无法连接数据库" in r.output
    assert not (tmp_path / "bk").exists() and not list(tmp_path.glob(".bk.partial-*"))
