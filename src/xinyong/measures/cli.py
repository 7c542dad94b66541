"""Command line: ``xinyong check`` (one subject), ``xinyong check-batch`` (a file of subjects, with
a progress bar), and ``xinyong measures validate|list|overdue|feedback-rates``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from xinyong.accounts.actor import Actor
from xinyong.cli_support import fail_with, session_for_cli
from xinyong.errors import XinyongError

app = typer.Typer(help="联合奖惩：措施清单、核查反馈、反馈率", no_args_is_help=True)
console = Console()


def _dump(data: object) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def check_command(
    subject: Annotated[str, typer.Argument(help="主体代码：统一社会信用代码、组织机构代码、公民身份号码等")],
    scenario: Annotated[str, typer.Option("--scenario", help="应用场景代码，如 government_procurement、bidding")],
    dept: Annotated[str, typer.Option("--dept", help="发起核查的部门编码，如 finance")],
    as_json: Annotated[bool, typer.Option("--json", help="输出 JSON（一个对象：check_id、measures …）")] = False,
) -> None:
    """联合奖惩核查：该主体在该场景下适用的措施（含触发记录、依据、强度），并登记核查编号。"""
    from xinyong.measures.service import check_subject

    try:
        with session_for_cli() as s:
            result = check_subject(s, Actor.cli(), subject, scenario, dept)
    except XinyongError as exc:
        fail_with(exc, as_json)
    if as_json:
        _dump(result)
        return
    console.print(f"[bold]核查编号 {result['check_id']}[/bold]　{result['subject']['name']}　"
                  f"场景：{result['scenario']['name']}　部门：{result['department']['name']}")
    console.print(result["summary"])
    for m in result["measures"]:
        console.print(f"  · [{'green' if m['kind'] == 'reward' else 'red'}]{m['kind_label']}[/]　{m['strength']}　"
                      f"{m['name']}（{m['code']}）")
        console.print(f"      依据：{'；'.join(m['basis'])}")
        for t in m["triggers"]:
            console.print(f"      触发：{t['type_label']} {t.get('resource_name') or t.get('grade', '')} "
                          f"{t.get('natural_key') or ''}")
    for s in result.get("suppressed", []):
        console.print(f"  · 暂不适用：{s['name']}（触发记录异议处理中）")


def check_batch_command(
    file: Annotated[Path, typer.Argument(help="主体清单（CSV 或 XLSX）", exists=True, dir_okay=False)],
    scenario: Annotated[str, typer.Option("--scenario", help="应用场景代码")],
    dept: Annotated[str, typer.Option("--dept", help="发起核查的部门编码")],
    out: Annotated[Path | None, typer.Option("--out", help="结果文件另存到此文件夹（xlsx、csv、json）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出汇总 JSON")] = False,
) -> None:
    """批量核查：清单中的每个主体（最多 10 万个），结果为 XLSX、CSV 和 JSON。"""
    import shutil

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from xinyong.measures import batch

    actor = Actor.cli()
    try:
        entries = batch.read_entries(file)
        with session_for_cli() as s:
            b = batch.create_batch(s, actor, scenario, dept, file_name=file.name, file_sha256=batch.sha256_of(file))
            batch_id = b.id
        with Progress(TextColumn("批量核查"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True), disable=as_json) as bar:
            task = bar.add_task("check", total=len(entries))
            summary = batch.run_batch(actor, batch_id, entries,
                                      progress=lambda done, total: bar.update(task, completed=done))
            bar.update(task, completed=len(entries))
    except XinyongError as exc:
        fail_with(exc, as_json)
    folder = batch.results_dir(batch_id)
    batch.write_xlsx(batch_id)
    files = {f: str(folder / f"result.{f}") for f in ("xlsx", "csv", "json")}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for f in files:
            target = out / f"核查结果-{batch_id}.{f}"
            shutil.copyfile(files[f], target)
            files[f] = str(target)
    summary["files"] = files
    if as_json:
        _dump(summary)
        return
    console.print(f"批量核查 {batch_id}：共 {summary['total']} 行，找到 {summary['found']} 行，"
                  f"{summary['with_measures']} 个主体适用措施（激励 {summary['rewards']} 项、惩戒 {summary['punishments']} 项）。")
    for f, p in files.items():
        console.print(f"  {f.upper()}：{p}")


@app.command("validate")
def validate(directory: Annotated[Path | None, typer.Argument(help="措施文件夹（默认内置清单）")] = None) -> None:
    """校验措施清单：每个问题给出文件、行号和修改建议；没有法律依据的措施不予加载。"""
    from xinyong.measures.loader import validate_measures

    issues = validate_measures(directory)
    if issues:
        for i in issues:
            typer.echo(str(i), err=True)
        raise typer.Exit(1)
    from xinyong.measures.loader import load_measures

    mc = load_measures(directory)
    typer.echo(f"措施清单有效：{len(mc.measures)} 项措施，{len(mc.scenarios)} 个应用场景（版本 {mc.version}）。")


@app.command("list")
def list_measures(scenario: Annotated[str | None, typer.Option("--scenario")] = None,
                  as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """列出措施（可按场景筛选）。"""
    from xinyong.measures.service import catalogue_dict

    try:
        data = catalogue_dict(scenario=scenario)
    except XinyongError as exc:
        fail_with(exc, as_json)
    if as_json:
        _dump(data)
        return
    t = Table("代码", "类型", "强度", "名称", "场景")
    for m in data["measures"]:
        t.add_row(m["code"], m["kind_label"], m["strength"], m["name"], "、".join(m["scenarios"]))
    console.print(t)


@app.command("overdue")
def overdue(dept: Annotated[str | None, typer.Option("--dept")] = None,
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """逾期未反馈的核查。"""
    from xinyong.measures.service import list_checks

    try:
        with session_for_cli() as s:
            data = list_checks(s, Actor.cli(), overdue=True, department=dept, size=100)
    except XinyongError as exc:
        fail_with(exc, as_json)
    if as_json:
        _dump(data)
        return
    for c in data["items"]:
        console.print(f"{c['check_id']}\t{c['department']}\t{c['subject']['name']}\t应于 {c['feedback_due']} 前反馈")
    console.print(f"共 {data['total']} 条逾期未反馈。")


@app.command("feedback-rates")
def rates(by: Annotated[str, typer.Option("--by", help="department 或 measure")] = "department",
          dept: Annotated[str | None, typer.Option("--dept")] = None,
          as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """反馈率（按部门或按措施）。"""
    from xinyong.measures.service import feedback_rates

    try:
        with session_for_cli() as s:
            data = feedback_rates(s, by=by, department=dept)
    except XinyongError as exc:
        fail_with(exc, as_json)
    if as_json:
        _dump(data)
        return
    t = Table("代码", "名称", "返回措施", "已反馈", "已实施", "逾期", "反馈率")
    for r in data["items"]:
        rate = f"{r['feedback_rate']:.1%}" if r["feedback_rate"] is not None else "—"
        t.add_row(r["code"], r["name"], str(r["returned"]), str(r["with_feedback"]), str(r["applied"]),
                  str(r["overdue"]), rate)
    console.print(t)
