"""Workflow commands: the daily tick, its scheduler, and the policy file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from xinyong.cli_support import date_option
from xinyong.errors import XinyongError

console = Console()
policy_app = typer.Typer(help="信用工作流策略（公示期、办理时限、修复条件）", no_args_is_help=True)


def tick_command(
    today: Annotated[str | None, typer.Option("--today", help="以该日期为“今天”运行（YYYY-MM-DD，默认当天）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """每日例行处理：关闭到期公示期、督办逾期异议和修复申请、移出到期名单、发送待发邮件（可重复执行）。"""
    from xinyong.workflows.tick import tick

    try:
        out = tick(today=date_option(today))
    except XinyongError as exc:
        typer.echo(f"错误：{exc.message}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    console.print(f"{out['today']}：关闭公示期 {out['windows_closed_total']:,} 条，"
                  f"督办逾期异议 {out['objections_escalated']} 件、修复申请 {out['repairs_escalated']} 件，"
                  f"到期移出名单 {out['list_entries_expired']} 条；邮件发送 {out['email']['sent']} 封"
                  f"（待发 {out['email']['pending']}）")


def scheduler_command(
    at: Annotated[str, typer.Option("--at", help="每天运行的时间（HH:MM，本机时间）")] = "01:30",
    webhooks: Annotated[bool, typer.Option("--webhooks/--no-webhooks",
                                           help="同时推送变更订阅（Webhook）；由其他进程推送时用 --no-webhooks")] = True,
) -> None:
    """启动调度器：每天定时运行 `xinyong tick`，并持续推送变更订阅（前台运行，Ctrl+C 退出）。"""
    from xinyong.workflows.tick import DailyScheduler, parse_at, tick

    try:
        when = parse_at(at)
    except XinyongError as exc:
        typer.echo(f"错误：{exc.message}", err=True)
        raise typer.Exit(2) from None
    scheduler = DailyScheduler(lambda: tick(), at=when)
    console.print(f"调度器已启动：每天 {when:%H:%M} 运行 tick；下次运行 {scheduler.next_run():%Y-%m-%d %H:%M}")
    worker = start_webhooks() if webhooks else None
    try:
        scheduler.run_forever()
    except KeyboardInterrupt:
        console.print("调度器已停止。")
    finally:
        if worker is not None:
            worker.stop()


def start_webhooks():
    """The webhook delivery worker in a background thread: production runs it in the scheduler
    service (one process), development in `xinyong serve --scheduler`."""
    from xinyong.db.engine import get_engine
    from xinyong.exchange.webhooks import DeliveryWorker

    worker = DeliveryWorker(get_engine())
    worker.start()
    console.print(f"变更推送（Webhook）已启动：每 {worker.poll:g} 秒一轮")
    return worker


def start_scheduler(at: str = "01:30"):
    """For `xinyong serve --scheduler`: the same scheduler in a background thread."""
    from xinyong.workflows.tick import DailyScheduler, parse_at, tick

    scheduler = DailyScheduler(lambda: tick(), at=parse_at(at))
    scheduler.start()
    return scheduler


@policy_app.command("validate")
def policy_validate(
    file: Annotated[Path | None, typer.Argument(help="策略文件（默认：当前生效的策略）")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """检查策略文件：格式、取值范围，以及与信用信息目录是否一致。"""
    from xinyong.workflows.policy import validate_policy

    policy, issues = validate_policy(file)
    if as_json:
        typer.echo(json.dumps({"valid": policy is not None, "issues": [i.to_dict() for i in issues]},
                              ensure_ascii=False))
    elif policy is not None:
        console.print(f"策略文件有效：{policy.name}（版本 {policy.version}）")
    else:
        typer.echo(f"策略文件有 {len(issues)} 个问题：", err=True)
        for i in issues:
            typer.echo(f"  {i}", err=True)
    if policy is None:
        raise typer.Exit(1)


@policy_app.command("show")
def policy_show(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """显示当前生效的策略：各类信息的公示期、异议和修复时限。"""
    from xinyong.workflows.policy import load_policy, policy_summary

    try:
        summary = policy_summary(load_policy())
    except XinyongError as exc:
        typer.echo(f"错误：{exc.message}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
        return
    console.print(f"{summary['name']}（版本 {summary['version']}）")
    console.print(f"异议答复期限 {summary['objections']['answer_days']} 日；修复审核期限 "
                  f"{summary['repair']['review_days']} 日；认定告知期 {summary['determinations']['notice_days']} 日")
    for code, w in summary["windows"].items():
        periods = "，".join(f"{k} {p['min_months']}–{p['max_months'] if p['max_months'] is not None else '不定'}个月"
                           for k, p in w["periods"].items())
        console.print(f"  {code}（{w['name']}）：{periods}{'' if w['repairable'] else '；不适用信用修复'}")


@policy_app.command("apply")
def policy_apply(
    resource: Annotated[str | None, typer.Option("--resource", help="只重算该资源")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """按当前策略重算已有记录的公示期（修改策略文件后运行；可重复执行）。"""
    from xinyong.accounts.actor import Actor
    from xinyong.audit.service import record_event
    from xinyong.db.engine import session_scope
    from xinyong.workflows.policy import load_policy
    from xinyong.workflows.windows import recompute_windows

    try:
        policy = load_policy()
        with session_scope() as session:
            changed = recompute_windows(session, resource=resource, policy=policy)
            if changed:
                record_event(session, "disclosure.recomputed", actor=Actor.cli(), resources=sorted(changed),
                             details={"policy_version": policy.version, "changed": changed})
    except XinyongError as exc:
        typer.echo(f"错误：{exc.message}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps({"policy_version": policy.version, "changed": changed}, ensure_ascii=False))
    else:
        console.print(f"已按策略 {policy.version} 重算：{sum(changed.values()):,} 条记录的公示期有变化")
