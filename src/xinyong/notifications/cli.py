"""E-mail contacts of inbox audiences (a department's mailbox, the credit office's)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from xinyong.errors import XinyongError

app = typer.Typer(help="消息通知：登记接收邮件的邮箱", no_args_is_help=True)


@app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="电子邮箱")],
    department: Annotated[str | None, typer.Option("--department", help="部门（编码或名称）")] = None,
    credit_office: Annotated[bool, typer.Option("--credit-office", help="信用办（管理员与审核人员）")] = False,
) -> None:
    """为部门或信用办登记接收通知邮件的邮箱（可重复执行）。"""
    from xinyong.db.engine import session_scope
    from xinyong.departments.service import find_department
    from xinyong.notifications.service import add_contact

    if bool(department) == credit_office:
        typer.echo("错误：请指定 --department 部门 或 --credit-office（二选一）。", err=True)
        raise typer.Exit(2)
    try:
        with session_scope() as s:
            if department:
                add_contact(s, "department", find_department(s, department).id, email)
            else:
                add_contact(s, "credit_office", None, email)
    except XinyongError as exc:
        typer.echo(f"错误：{exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps({"email": email, "department": department, "credit_office": credit_office},
                          ensure_ascii=False))
