from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from xinyong.cli_support import fail_with, session_for_cli
from xinyong.departments import service
from xinyong.errors import XinyongError

app = typer.Typer(help="数据来源单位（部门）登记", no_args_is_help=True)
console = Console()


@app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False) -> None:
    """列出已登记的数据来源单位。"""
    with session_for_cli() as session:
        items = [service.department_to_dict(d) for d in service.list_departments(session)]
    if as_json:
        typer.echo(json.dumps(items, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"数据来源单位（{len(items)} 个）")
    for col in ("编码", "名称", "统一社会信用代码", "区划", "层级"):
        table.add_column(col)
    for d in items:
        table.add_row(d["code"], d["name"], d["uscc"], d["region"] or "", d["level_label"])
    console.print(table)


@app.command("add")
def add_cmd(
    name: Annotated[str, typer.Argument(help="部门中文名称")],
    uscc: Annotated[str, typer.Option("--uscc", help="部门统一社会信用代码")],
    region: Annotated[str | None, typer.Option("--region", help="6位行政区划代码")] = None,
    level: Annotated[str, typer.Option("--level", help="city（市级）或 district（区县级）")] = "city",
    code: Annotated[str | None, typer.Option("--code", help="部门编码（省略时由代码生成）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """登记一个数据来源单位；按统一社会信用代码幂等（重复执行不会重复登记）。"""
    try:
        with session_for_cli() as session:
            dept, created = service.add_department(
                session, service.DepartmentIn(name=name, uscc=uscc, region=region, level=level, code=code))
            out = {**service.department_to_dict(dept), "created": created}
    except XinyongError as exc:
        fail_with(exc, as_json)
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
    else:
        verb = "已登记" if created else "已存在，信息已核对"
        console.print(f"{verb}：{out['name']}（{out['uscc']}，编码 {out['code']}）")
