"""`xinyong users …` and `xinyong clients …`."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from xinyong.accounts import clients as client_service
from xinyong.accounts import service
from xinyong.accounts.actor import Actor
from xinyong.accounts.roles import CLIENT_ROLES, ROLES, USER_ROLES
from xinyong.cli_support import fail_with, session_for_cli
from xinyong.errors import InvalidInput, XinyongError

users_app = typer.Typer(help="平台用户账户（管理员、审核人员、部门人员、信用主体）", no_args_is_help=True)
clients_app = typer.Typer(help="部门接口客户端（API 密钥）", no_args_is_help=True)
console = Console()
JsonOption = Annotated[bool, typer.Option("--json", help="以 JSON 输出")]
_ROLE_HELP = "；".join(f"{r}={ROLES[r]}" for r in USER_ROLES)


def _read_password_stdin() -> str:
    # One line; the trailing newline is not part of the password.
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise InvalidInput("未从标准输入读到密码。", code="password_required")
    return value


@users_app.command("add")
def add_user(
    username: Annotated[str, typer.Argument(help="用户名（小写字母开头）")],
    role: Annotated[str, typer.Option("--role", help=_ROLE_HELP)],
    dept: Annotated[str | None, typer.Option("--dept", help="所属部门编码（部门角色必填）")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="绑定主体：统一社会信用代码或公民身份号码")] = None,
    display_name: Annotated[str | None, typer.Option("--name", help="显示名称")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="从标准输入读取密码；否则自动生成并只显示一次")] = False,
    totp: Annotated[bool, typer.Option("--totp", help="为工作人员启用动态验证码（TOTP）")] = False,
    as_json: JsonOption = False,
) -> None:
    """新建用户。未提供密码时自动生成强密码，只显示这一次。"""
    try:
        password = _read_password_stdin() if password_stdin else None
        with session_for_cli() as session:
            made = service.create_user(session, Actor.cli(), username=username, role=role, department=dept,
                                       subject=subject, password=password, display_name=display_name, totp=totp)
            out = service.user_to_dict(made.user)
    except XinyongError as exc:
        fail_with(exc, as_json)
    if made.password:
        out["password"] = made.password
    if made.totp_uri:
        out["totp_uri"] = made.totp_uri
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    console.print(f"已创建用户 {out['username']}（{out['role_label']}"
                  + (f"，{out['department_name']}" if out["department_name"] else "") + "）")
    if out.get("role") == "subject" and not out["subject_id"]:
        console.print("主体尚未登记：登记后账户会自动关联。")
    if made.password:
        console.print(f"初始密码（只显示这一次，请安全转交）：[bold]{made.password}[/bold]", soft_wrap=True)
    if made.totp_uri:
        console.print(f"动态验证码绑定地址（只显示这一次，请用验证器 App 添加）：{made.totp_uri}", soft_wrap=True)


@users_app.command("list")
def list_users(
    role: Annotated[str | None, typer.Option("--role", help="只列出该角色")] = None,
    as_json: JsonOption = False,
) -> None:
    """列出用户（不含任何密码或密钥）。"""
    with session_for_cli() as session:
        items = [service.user_to_dict(u) for u in service.list_users(session, role=role)]
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"用户（{len(items)} 个）")
    for col in ("编号", "用户名", "角色", "部门", "动态验证码", "状态"):
        table.add_column(col)
    for u in items:
        state = "已停用" if u["disabled"] else ("已锁定" if u["locked_until"] else "正常")
        table.add_row(str(u["id"]), u["username"], u["role_label"], u["department_name"] or "",
                      "是" if u["totp"] else "否", state)
    console.print(table)


@users_app.command("disable")
def disable_user(username: Annotated[str, typer.Argument()], as_json: JsonOption = False) -> None:
    """停用用户并立即结束其所有登录会话。"""
    _set_disabled(username, True, as_json)


@users_app.command("enable")
def enable_user(username: Annotated[str, typer.Argument()], as_json: JsonOption = False) -> None:
    """重新启用已停用的用户（同时解除锁定）。"""
    _set_disabled(username, False, as_json)


def _set_disabled(username: str, disabled: bool, as_json: bool) -> None:
    try:
        with session_for_cli() as session:
            out = service.user_to_dict(service.set_disabled(session, Actor.cli(), username, disabled))
    except XinyongError as exc:
        fail_with(exc, as_json)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        console.print(f"用户 {out['username']} 已{'停用' if disabled else '启用'}。")


@users_app.command("reset-password")
def reset_password(
    username: Annotated[str, typer.Argument()],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="从标准输入读取新密码；否则自动生成并只显示一次")] = False,
    as_json: JsonOption = False,
) -> None:
    """重置密码：结束该用户所有会话并解除锁定。"""
    try:
        password = _read_password_stdin() if password_stdin else None
        with session_for_cli() as session:
            generated = service.reset_password(session, Actor.cli(), username, password)
            name = service.get_user(session, username).username
    except XinyongError as exc:
        fail_with(exc, as_json)
    if as_json:
        typer.echo(json.dumps({"username": name, **({"password": generated} if generated else {})},
                              ensure_ascii=False))
        return
    console.print(f"已重置用户 {name} 的密码，原有登录会话已全部结束。")
    if generated:
        console.print(f"新密码（只显示这一次）：[bold]{generated}[/bold]", soft_wrap=True)


@users_app.command("enable-totp")
def enable_totp(username: Annotated[str, typer.Argument()], as_json: JsonOption = False) -> None:
    """为工作人员启用（或重新签发）动态验证码，绑定地址只显示一次。"""
    try:
        with session_for_cli() as session:
            uri = service.enable_totp(session, Actor.cli(), username)
    except XinyongError as exc:
        fail_with(exc, as_json)
    if as_json:
        typer.echo(json.dumps({"username": username, "totp_uri": uri}, ensure_ascii=False))
    else:
        console.print(f"动态验证码绑定地址（只显示这一次）：{uri}", soft_wrap=True)


@users_app.command("disable-totp")
def disable_totp(
    username: Annotated[str, typer.Argument()],
    reason: Annotated[str, typer.Option("--reason", help="关闭原因（记入审计日志），如：手机遗失，已电话核实本人身份")] = "",
    as_json: JsonOption = False,
) -> None:
    """关闭工作人员的动态验证码（手机遗失等），并结束其全部登录会话；本人登录后可在“我的账户”重新绑定。"""
    try:
        with session_for_cli() as session:
            ended = service.disable_totp(session, Actor.cli(), username, reason)
            name = service.get_user(session, username).username
    except XinyongError as exc:
        fail_with(exc, as_json)
    if as_json:
        typer.echo(json.dumps({"username": name, "totp_enabled": False, "sessions_ended": ended}, ensure_ascii=False))
    else:
        console.print(f"已关闭用户 {name} 的动态验证码，结束登录会话 {ended} 个；请提醒本人登录后重新绑定。")


@clients_app.command("add")
def add_client(
    dept: Annotated[str, typer.Option("--dept", help="部门编码")],
    name: Annotated[str, typer.Option("--name", help="客户端名称，如“市场监管局业务系统”")],
    role: Annotated[str, typer.Option("--role", help="；".join(f"{r}={ROLES[r]}" for r in CLIENT_ROLES))] = "dept_querier",
    scope: Annotated[list[str] | None, typer.Option("--scope", help="可查询的资源代码（可重复；* 表示全部）")] = None,
    disclosure: Annotated[list[str] | None, typer.Option("--disclosure", help="可查看的公开类别：public、government（可重复；默认为该角色可查看的全部类别）")] = None,
    expires_days: Annotated[int | None, typer.Option("--expires-days", help="有效天数（默认365）")] = None,
    rate_limit: Annotated[int | None, typer.Option("--rate-limit", help="每分钟最多请求次数（默认120）")] = None,
    as_json: JsonOption = False,
) -> None:
    """签发部门接口密钥。密钥只显示这一次，平台只保存其哈希。"""
    try:
        with session_for_cli() as session:
            made = client_service.create_client(
                session, Actor.cli(), department=dept, name=name, role=role, resources=scope or ["*"],
                disclosures=disclosure or None, expires_days=expires_days,
                rate_limit=rate_limit)
            out = client_service.client_to_dict(made.client)
    except XinyongError as exc:
        fail_with(exc, as_json)
    out["api_key"] = made.key
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    console.print(f"已为 {out['department_name']} 签发接口客户端 {out['id']}（{out['name']}），"
                  f"有效期至 {out['expires_at']}，限流每分钟 {out['rate_limit']} 次。")
    console.print(f"接口密钥（只显示这一次，请通过安全渠道转交）：[bold]{made.key}[/bold]", soft_wrap=True)
    console.print("调用时在请求头中携带：Authorization: Bearer <接口密钥>")


@clients_app.command("list")
def list_clients(
    dept: Annotated[str | None, typer.Option("--dept", help="只列出该部门")] = None,
    as_json: JsonOption = False,
) -> None:
    """列出接口客户端（不显示密钥）。"""
    try:
        with session_for_cli() as session:
            items = [client_service.client_to_dict(c) for c in client_service.list_clients(session, department=dept)]
    except XinyongError as exc:
        fail_with(exc, as_json)
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"接口客户端（{len(items)} 个）")
    for col in ("编号", "名称", "部门", "角色", "资源范围", "限流/分钟", "到期", "状态"):
        table.add_column(col)
    for c in items:
        table.add_row(str(c["id"]), c["name"], c["department_name"], c["role_label"], "、".join(c["resources"]),
                      str(c["rate_limit"]), (c["expires_at"] or "")[:10], c["status_label"])
    console.print(table)


@clients_app.command("revoke")
def revoke_client(
    client_id: Annotated[int, typer.Argument(help="客户端编号")],
    reason: Annotated[str | None, typer.Option("--reason", help="吊销原因")] = None,
    as_json: JsonOption = False,
) -> None:
    """吊销接口密钥，立即生效。"""
    try:
        with session_for_cli() as session:
            out = client_service.client_to_dict(
                client_service.revoke_client(session, Actor.cli(), client_id, reason=reason))
    except XinyongError as exc:
        fail_with(exc, as_json)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        console.print(f"接口客户端 {out['id']}（{out['name']}）已吊销。")
