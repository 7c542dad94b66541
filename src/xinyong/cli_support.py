"""Small helpers shared by the feature CLIs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import NoReturn

import typer
from sqlalchemy.orm import Session

from xinyong.db.engine import session_scope
from xinyong.db.migrate import current_revision, head_revision
from xinyong.errors import ConfigurationError, XinyongError


@contextmanager
def session_for_cli() -> Iterator[Session]:
    """A committed unit of work, refusing to run against a database `init` has not prepared."""
    if current_revision() != head_revision():
        raise_cli(ConfigurationError("数据库尚未初始化或版本过旧：请先运行 `xinyong init`。",
                                     code="database_not_initialised"))
    with session_scope() as session:
        yield session


def fail_with(exc: XinyongError, as_json: bool = False, exit_code: int = 1) -> NoReturn:
    if as_json:
        typer.echo(json.dumps(exc.to_dict(), ensure_ascii=False))
    else:
        typer.echo(f"错误：{exc.message}", err=True)
    raise typer.Exit(exit_code)


def raise_cli(exc: XinyongError) -> NoReturn:
    typer.echo(f"错误：{exc.message}", err=True)
    raise typer.Exit(2)


def date_option(value: str | None) -> date | None:
    """A --today / --as-of / --date value; a malformed one ends the command (exit 2) saying why."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        typer.echo(f"错误：日期格式应为 YYYY-MM-DD（如 2026-11-30），而不是“{value}”。", err=True)
        raise typer.Exit(2) from None
