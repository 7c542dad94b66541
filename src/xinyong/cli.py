"""The `xinyong` command line: one Typer app, each feature mounting its own commands."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from xinyong.accounts.cli import clients_app, users_app
from xinyong.audit.cli import app as audit_app
from xinyong.catalogue.cli import app as catalogue_app
from xinyong.config import get_settings
from xinyong.departments.cli import app as departments_app
from xinyong.errors import XinyongError
from xinyong.exchange.cli import exchange_app
from xinyong.identity.cli import app as codes_app
from xinyong.indicators.cli import app as indicators_app
from xinyong.intake.cli import app as intake_app
from xinyong.intake.cli import ingest as ingest_command
from xinyong.intake.cli import ingest_city_command
from xinyong.logging import configure_logging
from xinyong.measures.cli import app as measures_app
from xinyong.measures.cli import check_batch_command, check_command
from xinyong.notifications.cli import app as contacts_app
from xinyong.portal.cli import app as portal_app
from xinyong.rating.cli import app as rating_app
from xinyong.rating.cli import inspections_app
from xinyong.reports.cli import app as report_app
from xinyong.workflows.cli import policy_app, scheduler_command, tick_command

app = typer.Typer(help="信用 Xinyong — 公共信用信息平台", no_args_is_help=True, add_completion=False)
app.add_typer(codes_app, name="codes")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(departments_app, name="departments")
app.add_typer(intake_app, name="intake")
app.command("ingest")(ingest_command)
app.command("ingest-city")(ingest_city_command)
app.add_typer(users_app, name="users")
app.add_typer(clients_app, name="clients")
app.add_typer(audit_app, name="audit")
app.add_typer(report_app, name="report")
app.add_typer(indicators_app, name="indicators")
app.add_typer(portal_app, name="portal")
app.add_typer(rating_app, name="rating")
app.add_typer(inspections_app, name="inspections")
app.command("tick")(tick_command)
app.command("scheduler")(scheduler_command)
app.add_typer(policy_app, name="policy")
app.add_typer(contacts_app, name="contacts")
# Operations (issue #12): backup and restore.
from xinyong.ops.cli import backup_command, restore_command, verify_command  # noqa: E402

app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.command("verify-backup")(verify_command)
app.add_typer(measures_app, name="measures")
app.command("check")(check_command)
app.command("check-batch")(check_batch_command)
app.add_typer(exchange_app, name="exchange")
console = Console()
log = logging.getLogger("xinyong.cli")


@app.callback()
def _root() -> None:
    configure_logging()


def run_init() -> dict:
    """Create or upgrade the schema, make the key file for the embedded default, seed departments."""
    from xinyong.catalogue import load_catalogue
    from xinyong.db.engine import session_scope
    from xinyong.db.migrate import upgrade
    from xinyong.departments.service import seed_departments
    from xinyong.identity.crypto import ensure_key_file

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    key_created = ensure_key_file(settings)
    catalogue = load_catalogue()  # fail loudly before touching the database
    before, after = upgrade()
    with session_scope() as session:
        seeded = seed_departments(session)
    from xinyong.reports.keys import get_keystore

    report_kid, report_key_created = get_keystore(settings).ensure()
    return {"report_key": report_kid, "report_key_created": report_key_created,
            "database": _safe_url(settings.resolved_database_url), "revision_before": before,
            "revision": after, "key_file_created": str(key_created) if key_created else None,
            "departments_seeded": seeded, "catalogue_resources": len(catalogue.resources)}


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def init(as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False) -> None:
    """创建或升级数据库结构并写入默认部门（可重复执行）。"""
    try:
        out = run_init()
    except XinyongError as exc:
        typer.echo(f"错误：{exc.message}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    state = "已是最新" if out["revision_before"] == out["revision"] else f"已升级到 {out['revision']}"
    console.print(f"数据库 {out['database']}：{state}")
    if out.get("report_key_created"):
        console.print(f"已生成报告签名密钥 {out['report_key']}（位于报告密钥目录，请与数据库一同备份）")
    if out["key_file_created"]:
        console.print(f"已生成密钥文件 {out['key_file_created']}（请妥善备份，切勿提交到代码库）")
    console.print(f"新登记部门 {out['departments_seeded']} 个；信用信息目录 {out['catalogue_resources']} 类资源")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="监听端口")] = 8000,
    workers: Annotated[int, typer.Option(help="工作进程数")] = 1,
    scheduler: Annotated[bool, typer.Option("--scheduler", help="同时启动内置每日调度器（每天运行 tick）")] = False,
) -> None:
    """启动 Web 服务（接口文档位于 /docs）。"""
    import uvicorn

    if scheduler:
        from xinyong.workflows.cli import start_scheduler, start_webhooks

        start_scheduler()
        console.print("内置调度器已启动：每天 01:30 运行 tick")
        start_webhooks()

    console.print(f"接口文档： http://{host}:{port}/docs")
    console.print(f"门户首页： http://{host}:{port}/")
    from xinyong.logging import uvicorn_log_config

    # access_log off: xinyong.access writes the one access line (request id, no query string);
    # uvicorn re-enables its own at ``log_level`` whatever the log config says.
    uvicorn.run("xinyong.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=get_settings().log_level.lower(), log_config=uvicorn_log_config(), access_log=False)


@app.command()
def generate(
    subjects: Annotated[int, typer.Option("--subjects", min=1, help="法人、非法人组织和个体工商户数量")] = 20000,
    seed: Annotated[int, typer.Option("--seed", help="随机种子（相同种子生成相同数据）")] = 42,
    out: Annotated[Path, typer.Option("--out", help="输出目录")] = Path("var/city"),
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="并行进程数（每个进程写各自的分片文件）")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出清单")] = False,
) -> None:
    """生成合成城市数据：各部门按信用信息目录导出的 CSV/XLSX/NDJSON 文件。"""
    from xinyong.synthetic.generator import generate_city

    manifest = generate_city(out, n_subjects=subjects, seed=seed, progress=not as_json, workers=workers)
    if as_json:
        typer.echo(json.dumps(manifest, ensure_ascii=False))
    else:
        console.print(f"已生成 {manifest['subjects']['total']:,} 个主体、{manifest['records_total']:,} 条记录，"
                      f"{len(manifest['files'])} 个部门文件，位于 {out}")


@app.command()
def demo(
    subjects: Annotated[int, typer.Option("--subjects", min=1)] = 20000,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="准备完成后启动服务")] = True,
) -> None:
    """一键演示：初始化数据库、生成并载入合成城市，然后启动服务。"""
    from xinyong.synthetic.load import load_city

    out = run_init()
    console.print(f"数据库：{out['database']}（版本 {out['revision']}）")
    city_dir = get_settings().var_dir / f"demo-city-{subjects}-{seed}"
    from xinyong.synthetic.generator import generate_city, read_manifest

    manifest = read_manifest(city_dir)
    if manifest is None:
        manifest = generate_city(city_dir, n_subjects=subjects, seed=seed, progress=True)
    stats = load_city(city_dir, progress=True)
    console.print(f"合成城市已载入：新增 {stats['created']:,}，更新 {stats['updated']:,}，未变 {stats['unchanged']:,}")
    from rich.progress import Progress

    from xinyong.accounts.actor import Actor
    from xinyong.db.engine import get_engine
    from xinyong.intake.service import ingest_city

    # The progress bar stands for the per-batch INFO lines here (the server still logs them).
    intake_log = logging.getLogger("xinyong.intake")
    level = intake_log.level
    intake_log.setLevel(logging.WARNING)
    with Progress(transient=True) as bar:
        task = bar.add_task("归集部门文件", total=len(manifest["files"]))
        batches = ingest_city(get_engine(), city_dir, actor=Actor.cli(),
                              progress=lambda entry, result: bar.advance(task))
    intake_log.setLevel(level)
    console.print(f"部门文件已归集：{len(batches)} 个批次，接收 {sum(b.rows_accepted for b in batches):,} 行，"
                  f"拒收 {sum(b.rows_rejected for b in batches):,} 行")
    from xinyong.db.engine import session_scope
    from xinyong.rating.service import grade_counts, run_scoring

    with session_scope() as session:  # grades for /me, reports, grade-triggered measures and draws
        rated = run_scoring(session, full=True, actor=Actor.cli())
        grades = "、".join(f"{g} 级 {n:,}" for g, n in sorted(grade_counts(session).items()))
    console.print(f"公共信用综合评价已完成：评价 {rated.subjects_scored:,} 个主体，变化 {rated.subjects_changed:,} 个"
                  f"（{grades}），见 /rating/model")
    from xinyong.indicators.service import refresh as refresh_indicators

    snap = refresh_indicators()  # the dashboard reads snapshots: compute one after intake
    console.print(f"统计监测指标已计算：{snap.indicators} 项（用时 {snap.duration_ms:,} 毫秒），见 /indicators 与 /statistics")
    if serve_after:
        serve(host=host, port=port, workers=1)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
