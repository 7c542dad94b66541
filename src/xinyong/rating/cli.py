"""`xinyong rating …` (scoring, explanations, the model) and `xinyong inspections …` (双随机)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from xinyong.cli_support import date_option, fail_with
from xinyong.errors import XinyongError

app = typer.Typer(help="公共信用综合评价：评分、解释、评价模型", no_args_is_help=True)
inspections_app = typer.Typer(help="分级分类监管：按信用等级“双随机”抽查、公开验证", no_args_is_help=True)
console = Console()


@app.command("run")
def run_command(
    full: Annotated[bool, typer.Option("--full", help="全量评价（默认只评价记录有变化的主体）")] = False,
    as_of: Annotated[str | None, typer.Option("--as-of", help="评价日 YYYY-MM-DD（默认今天）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """评价信用主体：首次或 --full 为全量，其后只重新评价有变化的主体；没有变化时什么也不写。"""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from xinyong.accounts.actor import Actor
    from xinyong.db.engine import session_scope
    from xinyong.rating.service import run_scoring

    day = date_option(as_of)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), transient=True, disable=as_json) as bar:
            task = bar.add_task("准备评价", total=None)

            def progress(what: str, i: int, n: int) -> None:
                bar.update(task, description=what, completed=i, total=n)

            with session_scope() as session:
                result = run_scoring(session, full=full, as_of=day, actor=Actor.cli(), progress=progress)
    except XinyongError as exc:
        fail_with(exc, exit_code=2)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    mode = {"full": "全量", "incremental": "增量"}.get(result.mode, result.mode)
    if result.reason:
        console.print(result.reason)
    console.print(f"{mode}评价完成（模型 {result.model_version}，评价日 {result.as_of}）：评价 {result.subjects_scored:,} 个主体，"
                  f"得分或解释有变化 {result.subjects_changed:,} 个，用时 {result.duration_ms:,} 毫秒")
    if result.grades:
        console.print("等级分布：" + "，".join(f"{g} {n:,}" for g, n in sorted(result.grades.items())))
    if not result.subjects_changed:
        console.print("没有变化，未写入任何数据。")


@app.command("explain")
def explain_command(
    subject: Annotated[str, typer.Argument(help="主体编号或统一社会信用代码")],
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """逐项列出一个主体的得分：基础分 + 各维度贡献 = 总分。"""
    from xinyong.db.engine import session_scope
    from xinyong.rating.service import explain, find_subject

    try:
        with session_scope() as session:
            data = explain(session, find_subject(session, subject).id)
    except XinyongError as exc:
        fail_with(exc)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    if not data["scored"]:
        console.print(data["message"])
        return
    console.print(f"{data['subject_name']}：{data['score']} 分，{data['grade']} 级（{data['grade_label']}），"
                  f"模型 {data['model_version']}，评价日 {data['as_of']}")
    t = Table("项目", "得分", "规则")
    t.add_row("基础分", str(data["base"]), "")
    for f in data["factors"]:
        if f["points"] or f.get("items"):
            t.add_row(f["name"], f"{f['points']:+d}", f["rule"])
    t.add_row("合计", str(data["score"]), "")
    console.print(t)


@app.command("model")
def model_command(
    path: Annotated[Path | None, typer.Argument(help="要校验的模型文件（默认当前使用的模型）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """校验并显示评价模型。"""
    from xinyong.rating.scorecard import load_model

    try:
        model = load_model(path)
    except XinyongError as exc:
        fail_with(exc, exit_code=2)
    if as_json:
        typer.echo(json.dumps(model.describe(), ensure_ascii=False, indent=2))
        return
    console.print(f"{model.name}（版本 {model.version}）：分值 {model.score_min}–{model.score_max}，基础分 {model.base}")
    console.print("等级：" + "，".join(f"{g.code} ≥ {g.min}（{g.label}）" for g in model.grades))
    t = Table("维度", "规则")
    for d in model.dimensions:
        t.add_row(d.name, d.rule_text())
    console.print(t)


@inspections_app.command("draw")
def draw_command(
    dept: Annotated[str, typer.Option("--dept", help="部门代码，如 market_regulation")],
    on: Annotated[str | None, typer.Option("--date", help="抽查日期 YYYY-MM-DD（默认今天）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """按信用等级抽取检查对象并随机指派检查人员；同一部门同一天只抽一次，重复执行返回同一结果。"""
    from xinyong.accounts.actor import Actor
    from xinyong.db.engine import session_scope
    from xinyong.rating.draw import draw

    try:
        with session_scope() as session:
            data = draw(session, Actor.cli(), dept_code=dept, draw_date=date_option(on))
    except XinyongError as exc:
        fail_with(exc, exit_code=2)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    console.print(f"{'已有' if data['existing'] else '新'}抽查 #{data['id']}：{data['department']}，{data['draw_date']}")
    console.print(f"对象库 {data['population_size']:,} 个（承诺值 {data['population_hash']}）")
    console.print(f"随机种子 {data['seed']}；抽中 {data['selected_count']:,} 个，比例 {data['ratios']}")
    t = Table("序号", "主体", "等级", "检查人员")
    for i in data["items"][:50]:
        t.add_row(str(i["rank"]), i["name"], i["grade"], "、".join(p["name"] for p in i["inspectors"]))
    console.print(t)
    console.print(f"公开页面：{data['link']}；验证：xinyong inspections verify {data['id']}")


@inspections_app.command("verify")
def verify_command(draw_id: Annotated[int, typer.Argument(help="抽查编号")],
                   as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False) -> None:
    """从保存的对象库重新计算承诺值、种子、抽中名单和检查人员，与公布结果比对。"""
    from xinyong.db.engine import session_scope
    from xinyong.rating.draw import verify

    try:
        with session_scope() as session:
            data = verify(session, draw_id)
    except XinyongError as exc:
        fail_with(exc, exit_code=2)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
    elif data["ok"]:
        console.print(f"抽查 #{draw_id} 验证通过：种子 {data['seed']}，抽中 {data['selected']} 个，与公布结果一致。")
    else:
        console.print(f"抽查 #{draw_id} 验证不通过：{'；'.join(data['problems'])}")
    if not data["ok"]:
        raise typer.Exit(1)
