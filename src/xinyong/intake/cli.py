"""`xinyong ingest`, `xinyong ingest-city` and `xinyong intake …`: thin wrappers of intake.service."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from xinyong.accounts.actor import Actor
from xinyong.errors import ConfigurationError, XinyongError

app = typer.Typer(help="数据归集：报送批次、及时性统计、记录撤销", no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)

MATCH_LABELS = {"uscc": "统一社会信用代码", "legacy_code": "历史代码", "personal_id": "证件号码",
                "name": "名称", "new_subject": "新建主体"}


def _engine():
    from xinyong.db.engine import get_engine
    from xinyong.db.migrate import current_revision, head_revision

    if current_revision() != head_revision():
        raise ConfigurationError("数据库尚未初始化或版本过旧：请先运行 `xinyong init`。", code="database_not_initialised")
    return get_engine()


def _fail(exc: XinyongError, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(exc.to_dict(), ensure_ascii=False))
    else:
        err_console.print(f"错误：{exc.message}", markup=False)
    raise typer.Exit(2)


def _parse_today(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter("日期格式应为 2024-03-05") from None


def _summary(r) -> None:
    if r.status == "refused":
        err_console.print(f"文件被整体拒收：{r.message}", markup=False)
        return
    console.print(f"批次 {r.batch_id}：共 {r.rows_total:,} 行，接收 {r.rows_accepted:,} 行，拒收 {r.rows_rejected:,} 行"
                  f"（新增 {r.records_created:,}，更新 {r.records_updated:,}，未变 {r.records_unchanged:,}，"
                  f"其中重复行 {r.rows_duplicate:,}）", markup=False)
    if r.match_rate is not None:
        how = "，".join(f"{MATCH_LABELS.get(k, k)} {v:,}" for k, v in r.matched_by.items() if v)
        console.print(f"主体匹配率 {r.match_rate:.1%}；新建待核实主体 {r.subjects_created:,} 个" + (f"（{how}）" if how else ""),
                      markup=False)
    if r.timeliness and r.timeliness.get("new_records"):
        t = r.timeliness
        console.print(f"双公示及时性：新增 {t['new_records']:,} 条，{t['deadline_workdays']} 个工作日内报送 "
                      f"{t['on_time']:,} 条（{t['on_time_rate']:.1%}），超期 {t['late']:,} 条", markup=False)
    if r.unknown_columns:
        console.print(f"未识别的列（已忽略）：{'、'.join(r.unknown_columns[:20])}", markup=False)
    for e in r.errors[:10]:
        where = f"第{e['row']}行" + (f"“{e['label']}”" if e.get("label") else "")
        console.print(f"  {where}：{e['message']}", markup=False)
    if r.error_report:
        console.print(f"错误报告：{r.error_report['csv']}（另有 {Path(r.error_report['xlsx']).name}）", markup=False)


def ingest(
    file: Annotated[Path, typer.Argument(help="部门报送的文件：CSV/TSV、XLSX、JSON 或 NDJSON")],
    resource: Annotated[str, typer.Option("--resource", "-r", help="信息资源代码，如 admin_penalty")],
    dept: Annotated[str, typer.Option("--dept", "-d", help="报送部门：部门编码、统一社会信用代码或中文名称")],
    sheet: Annotated[str | None, typer.Option("--sheet", help="XLSX 工作表名称（默认第一个）")] = None,
    today: Annotated[str | None, typer.Option("--today", help="按指定日期计算（测试用，YYYY-MM-DD）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出结果")] = False,
    chunk_rows: Annotated[int, typer.Option("--chunk-rows", min=100, help="每次写入的行数（调优用）")] = 20_000,
) -> None:
    """归集一个部门文件：校验、匹配主体、按版本入库（整批原子提交）。"""
    from xinyong.intake.service import ingest_file

    try:
        engine = _engine()
        bar = Progress(TextColumn("归集 {task.description}"), BarColumn(), DownloadColumn(), TextColumn("{task.fields[rows]:,} 行"),
                       TimeElapsedColumn(), disable=as_json, transient=True, console=err_console)
        with bar:
            task = bar.add_task(file.name, total=None, rows=0)

            def progress(done: int, total: int | None, rows: int) -> None:
                bar.update(task, completed=done, total=total, rows=rows)

            result = ingest_file(engine, file, resource, dept, sheet=sheet, today=_parse_today(today),
                                 progress=progress, chunk_rows=chunk_rows, actor=Actor.cli())
    except XinyongError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        _summary(result)
    if result.status != "committed":
        raise typer.Exit(2)


def ingest_city_command(
    city_dir: Annotated[Path, typer.Argument(help="`xinyong generate` 生成的合成城市目录")],
    today: Annotated[str | None, typer.Option("--today", help="按指定日期计算（默认取清单中的截至日期）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出各批次结果")] = False,
) -> None:
    """归集合成城市的全部部门文件（按 manifest.json，每个文件一个批次）。"""
    from xinyong.intake.service import ingest_city

    try:
        engine = _engine()
        with Progress(disable=as_json, transient=True, console=err_console) as bar:
            manifest_files = json.loads((city_dir / "manifest.json").read_text(encoding="utf-8"))["files"] \
                if (city_dir / "manifest.json").exists() else []
            task = bar.add_task("归集合成城市", total=len(manifest_files))
            results = ingest_city(engine, city_dir, today=_parse_today(today), actor=Actor.cli(),
                                  progress=lambda entry, result: bar.advance(task))
    except XinyongError as exc:
        _fail(exc, as_json)
        return
    totals = {k: sum(getattr(r, k) for r in results) for k in
              ("rows_total", "rows_accepted", "rows_rejected", "records_created", "records_updated",
               "records_unchanged", "subjects_created")}
    refused = [r for r in results if r.status != "committed"]
    if as_json:
        typer.echo(json.dumps({"batches": len(results), "refused": len(refused), **totals,
                               "results": [r.to_dict() for r in results]}, ensure_ascii=False))
    else:
        console.print(f"已归集 {len(results)} 个文件：共 {totals['rows_total']:,} 行，接收 {totals['rows_accepted']:,}，"
                      f"拒收 {totals['rows_rejected']:,}（新增 {totals['records_created']:,}，更新 {totals['records_updated']:,}，"
                      f"未变 {totals['records_unchanged']:,}）；新建待核实主体 {totals['subjects_created']:,} 个", markup=False)
        for r in refused:
            console.print(f"  {r.file_name}：{r.message}", markup=False)
    if refused:
        raise typer.Exit(2)


@app.command()
def timeliness(
    dept: Annotated[str | None, typer.Option("--dept", "-d", help="只看一个部门")] = None,
    resource: Annotated[str | None, typer.Option("--resource", "-r", help="只看一类资源")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """双公示及时性：各部门在决定作出后 7 个工作日内报送的比例。"""
    from sqlalchemy.orm import Session

    from xinyong.intake.service import timeliness_by_department

    try:
        with Session(_engine()) as session:
            rows = timeliness_by_department(session, department=dept, resource=resource)
    except XinyongError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps({"departments": rows}, ensure_ascii=False))
        return
    if not rows:
        console.print("暂无双公示记录。")
        return
    for d in rows:
        console.print(f"{d['name']}（{d['department']}）：{d['total']:,} 条，及时 {d['on_time']:,}，超期 {d['late']:,}，"
                      f"及时率 {d['on_time_rate']:.1%}", markup=False)


@app.command()
def batch(
    batch_id: Annotated[int, typer.Argument(help="批次编号")],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """查看一个报送批次的结果与前 100 条错误。"""
    from sqlalchemy.orm import Session

    from xinyong.intake.service import get_batch

    try:
        with Session(_engine()) as session:
            out = get_batch(session, batch_id)
    except XinyongError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    console.print(f"批次 {out['batch_id']}（{out['status']}）{out['resource']} · {out['department']} · {out['file_name']}：共 "
                  f"{out['rows_total']:,} 行，接收 {out['rows_accepted']:,}，拒收 {out['rows_rejected']:,}", markup=False)
    for e in out["errors"][:20]:
        console.print(f"  第{e['row']}行 {e['field'] or ''}：{e['message']}", markup=False)


@app.command()
def withdraw(
    record_id: Annotated[int, typer.Argument(help="记录编号")],
    reason: Annotated[str, typer.Option("--reason", help="撤销理由（必填）")],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """撤销一条记录（保留全部历史版本）。"""
    from sqlalchemy.orm import Session

    from xinyong.intake.service import withdraw_record

    try:
        with Session(_engine()) as session, session.begin():
            out = withdraw_record(session, record_id, reason=reason, actor=Actor.cli())
    except XinyongError as exc:
        _fail(exc, as_json)
        return
    typer.echo(json.dumps(out, ensure_ascii=False) if as_json else f"记录 {out['record_id']} 已撤销（版本 {out['version']}）。")
