"""`xinyong indicators …`: show, refresh, validate, export, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from xinyong.cli_support import date_option, fail_with
from xinyong.errors import XinyongError

app = typer.Typer(help="统计监测：规划指标的当前值、目标与达标状态", no_args_is_help=True)
console = Console()
STATUS_STYLE = {"green": "green", "amber": "yellow", "red": "red"}


@app.command("refresh")
def refresh_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="统计截止日期 YYYY-MM-DD（默认今天）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """重新计算全部指标并保存为新的快照（可随时重复执行）。"""
    from rich.progress import Progress

    from xinyong.indicators.service import refresh

    day = date_option(as_of)
    try:
        with Progress(transient=True, disable=as_json) as bar:
            task = bar.add_task("计算指标", total=None)
            result = refresh(as_of=day, progress=lambda what: bar.update(task, description=f"计算 {what}"))
    except XinyongError as exc:
        fail_with(exc, exit_code=2)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    console.print(f"指标快照 #{result.snapshot_id} 已保存：截至 {result.as_of}，{result.indicators} 项指标，"
                  f"用时 {result.duration_ms:,} 毫秒；有效记录 {result.records_total:,} 条")
    if result.unavailable:
        console.print(f"未接入 {len(result.unavailable)} 项：{'、'.join(result.unavailable)}")


@app.command("show")
def show_command(
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出（每项含 code、value、target、status）")] = False,
    do_refresh: Annotated[bool, typer.Option("--refresh", help="先重新计算")] = False,
) -> None:
    """显示各项指标的当前值、目标和状态（读最近一次快照；没有快照时先计算）。"""
    from xinyong.db.engine import session_scope
    from xinyong.indicators.service import dashboard, latest_snapshot, refresh, summary

    try:
        with session_scope() as session:
            need = do_refresh or latest_snapshot(session) is None
        if need:
            refresh()
        with session_scope() as session:
            snap = dashboard(session)["snapshot"]
            rows = summary(session)
    except XinyongError as exc:
        fail_with(exc, exit_code=2)
    if as_json:
        typer.echo(json.dumps({"snapshot": snap, "indicators": rows}, ensure_ascii=False, default=str))
        return
    table = Table(title=f"统计监测指标（截至 {snap['as_of']}）")
    for col in ("代码", "指标", "当前值", "目标", "状态"):
        table.add_column(col)
    for r in rows:
        target = "—" if r["target"] is None else (f"{r['target'] * 100:g}%" if r["unit"] == "percent"
                                                   else f"{r['target']:g}")
        if r["target_direction"]:
            target = ("≥ " if r["target_direction"] == "at_least" else "≤ ") + target
        style = STATUS_STYLE.get(r["status"], "dim")
        table.add_row(r["code"], r["name"], r["display"], target, f"[{style}]{r['status_label']}[/]")
    console.print(table)
    if snap.get("stale"):
        console.print("[yellow]有新的报送批次入库，快照可能已过时：运行 xinyong indicators refresh[/]")


@app.command("validate")
def validate_command(
    path: Annotated[Path | None, typer.Argument(help="指标定义文件（默认为当前使用的定义）")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """校验指标定义文件：列出每处错误（行号、原因、改法）。"""
    from xinyong.indicators.definitions import DefinitionError, load_definitions

    try:
        defs = load_definitions(path)
    except DefinitionError as exc:
        if as_json:
            typer.echo(json.dumps({"valid": False, "problems": exc.problems}, ensure_ascii=False))
        else:
            typer.echo(exc.message, err=True)
        raise typer.Exit(1) from None
    out = {"valid": True, "indicators": len(defs.indicators), "digest": defs.digest,
           "pending": [i.code for i in defs if i.pending]}
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        console.print(f"指标定义有效：{out['indicators']} 项指标（其中 {len(out['pending'])} 项的数据尚未接入）")


@app.command("export")
def export_command(
    code: Annotated[str, typer.Argument(help="指标代码；写 league 导出部门排行榜")],
    out: Annotated[Path, typer.Option("--out", help="输出的 XLSX 文件")],
) -> None:
    """导出一个指标的明细（按部门、领域、地区、月份）或部门排行榜为 XLSX。"""
    from xinyong.db.engine import session_scope
    from xinyong.indicators import exports
    from xinyong.indicators.service import dashboard, indicator_detail

    try:
        with session_scope() as session:
            data = dashboard(session)
            if data["snapshot"] is None:
                typer.echo("错误：指标尚未计算，请先运行 xinyong indicators refresh。", err=True)
                raise typer.Exit(2)
            content = (exports.league_workbook(data) if code == "league"
                       else exports.indicator_workbook(indicator_detail(session, code)))
    except XinyongError as exc:
        fail_with(exc)
    out.write_bytes(content)
    console.print(f"已导出 {out}")


@app.command("report")
def report_command(
    out: Annotated[Path, typer.Option("--out", help="输出的 XLSX 文件")],
    month: Annotated[str | None, typer.Option("--month", help="月份 YYYY-MM（默认快照所在月）")] = None,
) -> None:
    """生成领导小组月报（XLSX）：各指标本月值、上月值、目标与状态，部门排行榜，未接入说明。"""
    from xinyong.db.engine import session_scope
    from xinyong.indicators import exports
    from xinyong.indicators.service import dashboard, parse_month

    try:
        with session_scope() as session:
            data = dashboard(session)
            if data["snapshot"] is None:
                typer.echo("错误：指标尚未计算，请先运行 xinyong indicators refresh。", err=True)
                raise typer.Exit(2)
            m = parse_month(month) if month else data["snapshot"]["as_of"][:7]
            content = exports.monthly_report(data, m)
    except XinyongError as exc:
        fail_with(exc)
    out.write_bytes(content)
    console.print(f"已生成 {m} 月报：{out}")
