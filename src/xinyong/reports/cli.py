"""`xinyong report …`: issue a report, a batch of reports, verify a file offline, manage keys.

``xinyong report SUBJECT --kind public --out FILE`` is shorthand for ``xinyong report make …``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from xinyong.errors import ConfigurationError, XinyongError
from xinyong.intake.reports import formula_safe


class _DefaultCommandGroup(TyperGroup):
    """Route ``xinyong report SUBJECT …`` to the ``make`` command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["make", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_DefaultCommandGroup, no_args_is_help=True, add_completion=False,
                  help="信用报告：出具（PDF/HTML/JSON）、批量出具、离线核验、签名密钥管理。"
                       "`xinyong report 主体代码 --kind public --out 报告.pdf` 即 `xinyong report make …`。")

_SAFE_NAME = re.compile(r"[^0-9A-Za-z_-]")


def _format_of(path: Path) -> str:
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in ("pdf", "html", "json"):
        raise typer.BadParameter(f"无法从文件名 {path.name} 判断格式：扩展名应为 .pdf、.html 或 .json。", param_hint="--out")
    return fmt


def _write_atomic(path: Path, data: bytes) -> None:
    """Never a half-written report: write beside it, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fail(exc: XinyongError) -> typer.Exit:
    typer.echo(f"错误：{exc.message}", err=True)
    return typer.Exit(2 if isinstance(exc, ConfigurationError) else 1)


def issue_to_file(code: str, kind: str, scenario: str | None, out: Path, fmt: str) -> dict[str, Any]:
    """Issue (or re-issue) one subject's report and write it to ``out``."""
    from xinyong.accounts.actor import Actor
    from xinyong.db.engine import session_scope
    from xinyong.reports.service import issue_report
    from xinyong.subjects.service import resolve_subject

    with session_scope() as session:
        subject = resolve_subject(session, code)
        issued = issue_report(session, subject, kind, scenario=scenario, actor=Actor.cli())
        data = issued.render(fmt)
        number, reused, name, records = issued.number, issued.reused, subject.name, \
            issued.content["summary"]["total"]
    _write_atomic(out, data)
    return {"subject": code, "name": name, "number": number, "reused": reused, "records": records,
            "file": str(out), "bytes": len(data)}


@app.command("make")
def make(
    subject: Annotated[str, typer.Argument(help="主体代码：统一社会信用代码、组织机构代码、工商注册号或身份证号")],
    out: Annotated[Path, typer.Option("--out", "-o", help="输出文件；格式由扩展名决定：.pdf、.html、.json")],
    kind: Annotated[str, typer.Option("--kind", help="public（公共信用信息报告）、full（主体本人完整版）、scenario（专项）")] = "public",
    scenario: Annotated[str | None, typer.Option("--scenario", help="专项报告场景代码，如 bidding、procurement")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出结果")] = False,
) -> None:
    """出具一个主体的信用报告（数据未变化时重复出具得到同一编号的报告）。"""
    fmt = _format_of(out)
    try:
        result = issue_to_file(subject, kind, scenario, out, fmt)
    except XinyongError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False))
        return
    state = "（数据未变化，沿用已出具的报告）" if result["reused"] else ""
    typer.echo(f"已出具报告 {result['number']}{state}：{result['name']}，收录信用信息 {result['records']} 条，"
               f"写入 {out}（{result['bytes']:,} 字节）")


def read_ids(path: Path) -> list[str]:
    """One subject code per line; blank lines and # comments ignored; duplicates once."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise typer.BadParameter(f"找不到主体清单文件 {path}。", param_hint="FILE_OF_IDS") from None
    except UnicodeDecodeError:
        raise typer.BadParameter(f"主体清单文件 {path} 不是 UTF-8 文本：请每行写一个主体代码。",
                                 param_hint="FILE_OF_IDS") from None
    seen: dict[str, None] = {}
    for line in text.splitlines():
        code = line.split("#", 1)[0].strip().split(",")[0].strip()
        if code:
            seen.setdefault(code, None)
    return list(seen)


def _batch_chunk(codes: list[str], kind: str, scenario: str | None, out_dir: str, fmt: str,
                 resume: bool) -> list[dict[str, Any]]:
    """Worker: each subject in its own transaction; one failure does not stop the others."""
    results = []
    for code in codes:
        target = Path(out_dir) / f"{_SAFE_NAME.sub('_', code)}.{fmt}"
        if resume and target.exists():
            results.append({"subject": code, "status": "skipped", "file": str(target)})
            continue
        try:
            results.append({**issue_to_file(code, kind, scenario, target, fmt), "status": "ok"})
        except XinyongError as exc:
            results.append({"subject": code, "status": "error", "message": exc.message})
    return results


def _worker_init() -> None:
    from xinyong.logging import configure_logging

    configure_logging()


def run_batch(codes: list[str], out_dir: Path, *, kind: str, scenario: str | None, fmt: str, workers: int,
              resume: bool = False, chunk: int = 10, progress=None) -> list[dict[str, Any]]:
    """Issue reports for many subjects (in ``workers`` processes); ``progress(n_done)`` after each chunk."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chunks = [codes[i:i + chunk] for i in range(0, len(codes), chunk)]
    results: list[dict[str, Any]] = []
    if workers <= 1:
        for part in chunks:
            results.extend(_batch_chunk(part, kind, scenario, str(out_dir), fmt, resume))
            if progress:
                progress(len(part))
    else:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # no inherited database connections
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
            futures = {pool.submit(_batch_chunk, part, kind, scenario, str(out_dir), fmt, resume): len(part)
                       for part in chunks}
            for fut in as_completed(futures):
                results.extend(fut.result())
                if progress:
                    progress(futures[fut])
    order = {c: i for i, c in enumerate(codes)}
    results.sort(key=lambda r: order.get(r["subject"], 0))
    with open(out_dir / "manifest.csv", "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["主体代码", "主体名称", "状态", "报告编号", "沿用已出具报告", "信息条数", "文件", "说明"])
        labels = {"ok": "已出具", "skipped": "已存在（跳过）", "error": "失败"}
        for r in results:
            # Subject names come from department files: never let a spreadsheet run one as a formula.
            w.writerow([formula_safe(v) for v in (
                r["subject"], r.get("name", ""), labels[r["status"]], r.get("number", ""),
                {True: "是", False: "否"}.get(r.get("reused"), ""), r.get("records", ""),
                Path(r["file"]).name if r.get("file") else "", r.get("message", ""))])
    return results


@app.command("batch")
def batch(
    file_of_ids: Annotated[Path, typer.Argument(metavar="FILE_OF_IDS", help="主体清单：每行一个主体代码（可用 # 注释）")],
    out: Annotated[Path, typer.Option("--out", "-o", help="输出目录（每个主体一个文件，另有 manifest.csv）")],
    kind: Annotated[str, typer.Option("--kind", help="public、full 或 scenario")] = "public",
    scenario: Annotated[str | None, typer.Option("--scenario", help="专项报告场景代码")] = None,
    fmt: Annotated[str, typer.Option("--format", help="pdf、html 或 json")] = "pdf",
    workers: Annotated[int, typer.Option("--workers", min=1, max=32, help="并行进程数")] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="跳过输出目录中已有文件的主体（续跑中断的批次）")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出汇总")] = False,
) -> None:
    """批量出具信用报告，显示进度；可重复执行（数据未变的主体沿用同一编号的报告）。"""
    if fmt not in ("pdf", "html", "json"):
        raise typer.BadParameter("格式应为 pdf、html 或 json。", param_hint="--format")
    from xinyong.reports.service import check_kind

    try:
        check_kind(kind, scenario)
    except XinyongError as exc:
        raise _fail(exc) from None
    codes = read_ids(file_of_ids)
    if not codes:
        typer.echo(f"错误：主体清单 {file_of_ids} 中没有主体代码。", err=True)
        raise typer.Exit(1)
    if as_json:
        results = run_batch(codes, out, kind=kind, scenario=scenario, fmt=fmt, workers=workers, resume=resume)
    else:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        with Progress(TextColumn("出具报告"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()) as bar:
            task = bar.add_task("reports", total=len(codes))
            results = run_batch(codes, out, kind=kind, scenario=scenario, fmt=fmt, workers=workers, resume=resume,
                                progress=lambda n: bar.advance(task, n))
    summary = {s: sum(1 for r in results if r["status"] == s) for s in ("ok", "skipped", "error")}
    summary["reused"] = sum(1 for r in results if r.get("reused"))
    if as_json:
        typer.echo(json.dumps({"total": len(codes), **summary, "out": str(out),
                               "errors": [r for r in results if r["status"] == "error"]}, ensure_ascii=False))
    else:
        typer.echo(f"共 {len(codes)} 个主体：出具 {summary['ok']} 份（其中沿用 {summary['reused']} 份），"
                   f"跳过 {summary['skipped']} 个，失败 {summary['error']} 个。清单见 {out / 'manifest.csv'}")
        for r in results:
            if r["status"] == "error":
                typer.echo(f"  {r['subject']}：{r['message']}", err=True)
    if summary["error"]:
        raise typer.Exit(1)


def _keyset(keys: Path | None):
    from xinyong.reports.keys import KeySet, KeyStore, key_dir

    if keys is not None:
        return KeySet.load(keys)
    store = KeyStore(key_dir())
    if not store.index_path.exists():
        raise ConfigurationError(f"本机没有平台公钥（{store.index_path}）：请从平台下载 "
                                 "/.well-known/xinyong-report-keys.json，并用 --keys 指定该文件。")
    return store.keyset()


@app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="报告文件（.pdf 或 .json）")],
    keys: Annotated[Path | None, typer.Option("--keys", help="平台公布的公钥文件（/.well-known/xinyong-report-keys.json）；"
                                                            "省略时使用本机平台密钥目录")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出核验结果")] = False,
) -> None:
    """离线核验报告文件：退出码 0 表示真实未被改动，1 表示未通过（并说明原因）。"""
    from xinyong.reports.verify import verify_file

    try:
        keyset = _keyset(keys)
    except XinyongError as exc:
        raise _fail(exc) from None
    result = verify_file(file, keyset)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    elif result.ok:
        typer.echo(f"通过：{result.message}")
        typer.echo(f"  报告编号：{result.number}\n  信用主体：{result.subject}\n  报告类型：{result.kind}\n"
                   f"  出具时间：{result.issued_at}\n  签名密钥：{result.key_id}\n  内容摘要：{result.content_hash}")
    else:
        typer.echo(f"未通过：{result.message}", err=True)
    raise typer.Exit(0 if result.ok else 1)


@app.command("keys")
def keys_command(
    rotate: Annotated[bool, typer.Option("--rotate", help="启用新签名密钥（旧密钥继续公布，旧报告仍可核验）")] = False,
    export: Annotated[Path | None, typer.Option("--export", help="把公布的公钥集写入文件（供离线核验者使用）")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False,
) -> None:
    """查看、轮换、导出报告签名密钥。"""
    from xinyong.config import get_settings
    from xinyong.reports.keys import get_keystore

    store = get_keystore()
    try:
        if rotate:
            kid = store.rotate()
            if not as_json:
                typer.echo(f"已启用新签名密钥 {kid}；此前的密钥已停用但继续公布。")
        else:
            store.ensure()
        keyset = store.keyset(issuer=get_settings().site_name)
    except XinyongError as exc:
        raise _fail(exc) from None
    if export is not None:
        _write_atomic(export, (json.dumps(keyset.to_dict(), ensure_ascii=False, indent=2) + "\n").encode())
    if as_json:
        typer.echo(json.dumps(keyset.to_dict(), ensure_ascii=False))
        return
    typer.echo(f"密钥目录：{store.dir}")
    for e in keyset.entries:
        state = f"已停用（{e.retired}）" if e.retired else "当前签名密钥"
        typer.echo(f"  {e.kid}  创建于 {e.created}  {state}")
    if export is not None:
        typer.echo(f"公钥集已写入 {export}")
