"""`xinyong audit verify|anchor|tail`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from xinyong.audit import service
from xinyong.cli_support import fail_with, session_for_cli
from xinyong.errors import InvalidInput, XinyongError

app = typer.Typer(help="审计日志：校验哈希链、导出锚点、查看最近事件", no_args_is_help=True)
console = Console()
JsonOption = Annotated[bool, typer.Option("--json", help="以 JSON 输出")]


def _read_anchor(path: Path) -> service.Anchor:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"无法读取锚点文件 {path}：请确认文件存在且为 JSON。", code="invalid_anchor") from exc
    if not isinstance(data, dict):
        raise InvalidInput("锚点文件格式不正确：应为 JSON 对象。", code="invalid_anchor")
    return service.Anchor.from_dict(data)


@app.command("verify")
def verify(
    anchor: Annotated[Path | None, typer.Option("--anchor", help="此前导出的锚点文件：核对审计链仍包含该链头")] = None,
    as_json: JsonOption = False,
) -> None:
    """重新计算整条哈希链，报告第一个被修改、删除或调换顺序的事件；失败时退出码为 1。"""
    try:
        anchor_obj = _read_anchor(anchor) if anchor else None
        with session_for_cli() as session:
            result = service.verify_chain(session, anchor_obj)
    except XinyongError as exc:
        fail_with(exc, as_json, exit_code=2)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    elif result.ok:
        console.print(f"[green]{result.message}[/green]")
    else:
        console.print(f"[red]{result.message}[/red]")
    if not result.ok:
        raise typer.Exit(1)


@app.command("anchor")
def anchor(
    out: Annotated[Path | None, typer.Option("--out", help="写入文件（省略则输出到屏幕）")] = None,
) -> None:
    """导出当前链头（序号、哈希、时间、事件数），交由外部见证保存，日后用 verify --anchor 核对。"""
    with session_for_cli() as session:
        data = service.make_anchor(session).to_dict()
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out is None:
        typer.echo(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n", encoding="utf-8")
    console.print(f"已导出锚点到 {out}：第 {data['head_seq']} 号事件，共 {data['count']} 条。")


@app.command("tail")
def tail(
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="显示条数")] = 20,
    action: Annotated[str | None, typer.Option("--action", help="只看该动作，如 auth.login_failed")] = None,
    as_json: JsonOption = False,
) -> None:
    """显示最近的审计事件（新在前）。"""
    with session_for_cli() as session:
        events = [service.event_to_dict(e) for e in service.list_events(session, limit=limit, action=action)]
    if as_json:
        typer.echo(json.dumps(events, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"最近 {len(events)} 条审计事件")
    for col in ("序号", "时间", "动作", "操作者", "角色", "部门", "事由"):
        table.add_column(col)
    for e in events:
        table.add_row(str(e["seq"]), e["time"][:19], e["action"], f"{e['actor_kind']}:{e['actor_name'] or '-'}",
                      e["role"] or "", e["department"] or "", e["purpose_code"] or "")
    console.print(table)


__all__ = ["app", "fail_with"]
