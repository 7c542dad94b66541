"""``xinyong catalogue …``: list, show and validate the credit information catalogue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from .loader import CatalogueError, check_catalogue, load_catalogue
from .schemas import (
    DISCLOSURES,
    FIELD_TYPES,
    LIST_KINDS,
    POLARITIES,
    SEVERITY_LABELS,
    SUBJECT_KINDS,
    Catalogue,
)
from .views import resource_detail, resource_summary

app = typer.Typer(help="信用信息目录", no_args_is_help=True)

DirOption = Annotated[
    Path | None,
    typer.Option("--dir", help="目录所在文件夹（默认：XINYONG_CATALOGUE_DIR 或内置默认目录）",
                 file_okay=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="以 JSON 输出")]


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)


def _load(directory: Path | None) -> Catalogue:
    try:
        return load_catalogue(directory)
    except CatalogueError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        typer.echo(f"目录校验失败：{len(exc.issues)} 个问题，请先运行 xinyong catalogue validate 并修正", err=True)
        raise typer.Exit(1) from None


@app.command("list")
def list_resources(directory: DirOption = None, as_json: JsonOption = False) -> None:
    """列出目录中的全部信息资源。"""
    catalogue = _load(directory)
    if as_json:
        typer.echo(_dumps([resource_summary(r) for r in catalogue]))
        return
    table = Table(title=f"{catalogue.name}（版本 {catalogue.version}，{len(catalogue)} 个资源）")
    table.add_column("代码", no_wrap=True)
    for header in ("名称", "类别", "领域", "性质", "公开范围", "名单", "信息项"):
        table.add_column(header, overflow="fold")
    for r in catalogue:
        table.add_row(r.code, r.name, r.category, r.sector, POLARITIES[r.polarity],
                      DISCLOSURES[r.disclosure], LIST_KINDS[r.list_kind] if r.list_kind else "",
                      str(len(r.fields)))
    Console().print(table)


@app.command("show")
def show_resource(
    code: Annotated[str, typer.Argument(help="资源代码，如 admin_penalty")],
    directory: DirOption = None,
    as_json: JsonOption = False,
) -> None:
    """显示一个信息资源及其全部信息项。"""
    catalogue = _load(directory)
    if code not in catalogue:
        typer.echo(f"错误：未找到资源 {code}。可用的资源代码：{'、'.join(catalogue.codes)}", err=True)
        raise typer.Exit(1)
    r = catalogue.get(code)
    if as_json:
        typer.echo(_dumps(resource_detail(r)))
        return
    console = Console()
    console.print(f"[bold]{r.name}[/bold]（{r.code}）")
    console.print(f"类别：{r.category}{' / ' + r.subcategory if r.subcategory else ''}    领域：{r.sector}")
    console.print(f"主体：{'、'.join(SUBJECT_KINDS[k] for k in r.subject_kinds)}    "
                  f"性质：{POLARITIES[r.polarity]}    公开范围：{DISCLOSURES[r.disclosure]}"
                  f"{'    名单：' + LIST_KINDS[r.list_kind] if r.list_kind else ''}"
                  f"{'    双公示' if r.double_publicity else ''}")
    if r.update_cycle:
        console.print(f"更新周期：{r.update_cycle}")
    console.print(f"数据来源单位：{'、'.join(r.source_departments)}")
    for basis in r.legal_basis:
        console.print(f"依据：{basis}")
    if r.disclosure_window:
        w = r.disclosure_window
        def period_text(sev: str, p: Any) -> str:
            label = SEVERITY_LABELS.get(sev, sev)
            if not p.published:
                return f"{label}：不公示"
            upper = f"最长 {p.max_months} 个月" if p.max_months is not None else "不设固定上限"
            return f"{label}：最短 {p.min_months} 个月，{upper}"

        periods = "；".join(period_text(sev, p) for sev, p in w.periods.items())
        console.print(f"公示期：{periods}（{w.basis}）")
    table = Table()
    table.add_column("#", no_wrap=True)
    table.add_column("标签", overflow="fold")
    table.add_column("代码", no_wrap=True)
    for header in ("类型", "必填", "说明"):
        table.add_column(header, overflow="fold")
    for i, f in enumerate(r.fields, 1):
        required = "是" if f.required else ("条件必填" if f.required_when else "")
        notes = []
        if f.enum:
            notes.append("取值：" + "、".join(o.display if o.display == o.value else f"{o.value}={o.display}"
                                            for o in f.enum))
        if f.personal:
            notes.append("个人信息")
        if not f.public:
            notes.append("不公开")
        if f.unit:
            notes.append(f"单位：{f.unit}")
        table.add_row(str(i), f.label, f.code, FIELD_TYPES[f.type], required, "；".join(notes))
    console.print(table)


@app.command("validate")
def validate(
    directory: Annotated[Path | None, typer.Argument(help="要校验的目录文件夹（默认：当前使用的目录）",
                                                     file_okay=False)] = None,
    as_json: JsonOption = False,
    departments_file: Annotated[Path | None, typer.Option("--departments", help="部门名录 YAML 文件",
                                                          dir_okay=False)] = None,
) -> None:
    """校验目录文件：逐条列出问题（文件:行: 消息），有问题时以状态码 1 退出。"""
    catalogue, issues = check_catalogue(directory, departments_file=departments_file)
    if as_json:
        typer.echo(_dumps({
            "ok": not issues,
            "resources": len(catalogue) if catalogue else 0,
            "version": catalogue.version if catalogue else None,
            "issues": [i.to_dict() for i in issues],
        }))
    else:
        for issue in issues:
            typer.echo(str(issue))
        if catalogue is not None:
            typer.echo(f"目录校验通过：{len(catalogue)} 个资源（版本 {catalogue.version}）")
        else:
            typer.echo(f"目录校验失败：{len(issues)} 个问题")
    if issues:
        raise typer.Exit(1)
