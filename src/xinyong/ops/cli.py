"""`xinyong backup` / `xinyong restore` / `xinyong verify-backup`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sqlalchemy.exc import OperationalError

from xinyong.cli_support import fail_with
from xinyong.errors import ConfigurationError, XinyongError

console = Console(stderr=True)
log = logging.getLogger("xinyong.ops")


def _say(quiet: bool):
    return (lambda _m: None) if quiet else (lambda m: console.print(f"· {m}"))


def _unreachable(exc: OperationalError) -> ConfigurationError:
    reason = str(exc.orig).strip().splitlines()[0][:200] if exc.orig else type(exc).__name__
    return ConfigurationError(f"无法连接数据库：{reason}。请检查 XINYONG_DATABASE_URL 以及数据库是否已创建并在运行。",
                              code="database_unavailable")


def backup_command(
    to: Annotated[Path, typer.Option("--to", help="备份目录（不存在或为空）")],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """备份数据库（SQLite 在线备份 / PostgreSQL pg_dump）与附件、错误报告、报告签名密钥，附清单和校验和。"""
    from xinyong.ops.backup import backup

    try:
        out = backup(to, progress=_say(as_json))
    except XinyongError as exc:
        fail_with(exc, as_json, exit_code=2)
    except OperationalError as exc:
        fail_with(_unreachable(exc), as_json, exit_code=2)
    log.info("backup written dir=%s tables=%s rows=%s files=%s", out["dir"], out["tables"], out["rows"], out["files"])
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    typer.echo(f"备份完成：{out['dir']}（{out['dialect']}，版本 {out['alembic_revision']}，{out['tables']} 张表 "
               f"{out['rows']:,} 行，{out['files']} 个文件，共 {out['bytes'] / 1048576:.1f} MB）")
    typer.echo("注意：个人信息加密密钥（secret.key 或 XINYONG_SECRET_KEY）不在备份中，请另行妥善保管。")


def restore_command(
    src: Annotated[Path, typer.Argument(help="备份目录（由 xinyong backup 生成）")],
    force: Annotated[bool, typer.Option("--force", help="目标数据库已有数据时仍然覆盖")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """从备份恢复：先校验全部校验和，目标数据库非空时须加 --force，恢复后逐表核对内容哈希。"""
    from xinyong.ops.backup import restore

    try:
        out = restore(src, force=force, progress=_say(as_json))
    except XinyongError as exc:
        fail_with(exc, as_json, exit_code=2)
    except OperationalError as exc:
        fail_with(_unreachable(exc), as_json, exit_code=2)
    log.info("backup restored from=%s tables=%s rows=%s", src, out["tables"], out["rows"])
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    typer.echo(f"恢复完成：{out['tables']} 张表 {out['rows']:,} 行，{out['files']} 个文件（写入 {out['files_written']} 个），"
               f"逐表内容哈希与备份清单一致。备份时间 {out['backup_created_at']}，数据库版本 {out['alembic_revision']}。")
    typer.echo("如本程序版本较新，请运行 `xinyong init` 升级数据库结构。")


def verify_command(
    src: Annotated[Path, typer.Argument(help="备份目录")],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """只校验备份（清单、数据库文件与每个文件的 SHA-256），不写入任何数据。"""
    from xinyong.ops.backup import verify

    try:
        manifest = verify(src)
    except XinyongError as exc:
        fail_with(exc, as_json, exit_code=2)
    summary = {"ok": True, "dialect": manifest["dialect"], "created_at": manifest["created_at"],
               "tables": len(manifest["tables"]), "files": len(manifest["files"])}
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        typer.echo(f"备份完好：{summary['dialect']}，{summary['tables']} 张表，{summary['files']} 个文件，"
                   f"创建于 {summary['created_at']}。")
