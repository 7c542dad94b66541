"""`xinyong exchange …`: packages between platforms, pulling, trust, the webhook worker, the feed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from xinyong.accounts.actor import Actor
from xinyong.cli_support import fail_with, session_for_cli
from xinyong.errors import InvalidInput, XinyongError

exchange_app = typer.Typer(help="共享交换：交换包导出/导入/拉取、变更订阅推送", no_args_is_help=True)
console = Console()
JsonOption = Annotated[bool, typer.Option("--json", help="以 JSON 输出")]


def _mapping(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise InvalidInput(f"部门对应关系应写作 上游编码=本平台编码，而不是 {item!r}。", code="invalid_mapping")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _keys(path: Path | None):
    if path is None:
        return None
    from xinyong.reports.keys import KeySet

    return KeySet.load(path)


def _print(out: dict, as_json: bool, text: str) -> None:
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, default=str))
    else:
        console.print(text)


@exchange_app.command("export")
def export_command(
    to: Annotated[Path, typer.Option("--to", help="写入交换包的新目录")],
    since: Annotated[str | None, typer.Option("--since", help="上次交换包的 cursor_to；留空导出全部")] = None,
    resources: Annotated[str | None, typer.Option("--resources", help="只导出这些资源（逗号分隔）")] = None,
    recipient_key: Annotated[str | None, typer.Option(
        "--recipient-key", help="接收平台的交换公钥（接收平台运行 `xinyong exchange key` 得到）：个人信息为它加密")] = None,
    no_personal: Annotated[bool, typer.Option("--no-personal", help="不含个人信息字段（自然人记录将无法在下级平台匹配）")] = False,
    as_json: JsonOption = False,
) -> None:
    """导出自游标以来的全部变更为签名交换包（每个资源一个 NDJSON 文件 + 签名清单）。
    身份证号、电话等个人信息只以为接收平台加密的形式写入；不给 --recipient-key 则不含个人信息。"""
    from .packages import export_package

    try:
        with session_for_cli() as session:
            m = export_package(session, to, since=since, actor=Actor.cli(),
                               resources=[r for r in (resources or "").split(",") if r.strip()] or None,
                               include_personal=not no_personal, recipient_key=recipient_key)
    except XinyongError as exc:
        fail_with(exc, as_json)
    counts = "，".join(f"{k} {v['count']} 条" for k, v in m["resources"].items()) or "无变更"
    personal = ("个人信息已为接收平台加密。" if m["contains_personal_data"] else
                "未含个人信息（自然人记录需接收平台的交换公钥：--recipient-key）。")
    _print(m, as_json, f"已导出交换包 {m['package_id']} 到 {to}：{counts}。{personal}\n下次请用 --since {m['cursor_to']}")


@exchange_app.command("key")
def key_command(as_json: JsonOption = False) -> None:
    """显示本平台的交换公钥：交给上游平台，它导出的交换包中的个人信息只有本平台能解密。"""
    from .sealing import own_public_key

    try:
        key = own_public_key()
    except XinyongError as exc:
        fail_with(exc, as_json)
    _print({"exchange_key": key}, as_json, f"本平台交换公钥：{key}\n上游平台导出时使用：--recipient-key {key}")


@exchange_app.command("import")
def import_command(
    directory: Annotated[Path, typer.Argument(help="交换包目录")],
    keys: Annotated[Path | None, typer.Option("--keys", help="上游平台公钥集文件（否则使用已信任的公钥）")] = None,
    map_department: Annotated[list[str] | None, typer.Option("--map-department", help="上游部门编码=本平台部门编码，可重复")] = None,
    force: Annotated[bool, typer.Option("--force", help="已导入过的交换包也重新应用（结果相同）")] = False,
    as_json: JsonOption = False,
) -> None:
    """校验签名、摘要和目录兼容性后，经归集服务导入交换包（整包一次提交，可重复执行）。"""
    from .packages import import_package

    try:
        with session_for_cli() as session:
            out = import_package(session, directory, actor=Actor.cli(), keys=_keys(keys),
                                 department_map=_mapping(map_department), force=force)
    except XinyongError as exc:
        fail_with(exc, as_json)
    if out["status"] == "already_imported":
        _print(out, as_json, out["message"])
        return
    _print(out, as_json, f"已导入 {out['platform']} 的交换包 {out['package_id']}：{out['changes']} 条变更；新增 "
                         f"{out['created']}、更新 {out['updated']}、未变 {out['unchanged']}、撤销 {out['withdrawn']}、"
                         f"修复 {out['repaired']}。")


@exchange_app.command("pull")
def pull_command(
    url: Annotated[str, typer.Option("--from", help="上游平台地址，如 https://county.example.gov.cn")],
    client: Annotated[str, typer.Option("--client", help="上游平台签发给本平台的接口密钥 xy_…")],
    keys: Annotated[Path | None, typer.Option("--keys", help="上游平台公钥集文件（否则使用已信任的公钥）")] = None,
    map_department: Annotated[list[str] | None, typer.Option("--map-department")] = None,
    since: Annotated[str | None, typer.Option("--since", help="从该游标开始（默认接着上次）")] = None,
    as_json: JsonOption = False,
) -> None:
    """从上游平台拉取交换包直至追平：每个包校验后导入，成功后才推进游标。"""
    from xinyong.db.engine import get_engine

    from .packages import pull

    try:
        with session_for_cli():
            pass
        out = pull(get_engine(), url, client, actor=Actor.cli(), keys=_keys(keys),
                   department_map=_mapping(map_department), since=since)
    except XinyongError as exc:
        fail_with(exc, as_json)
    _print(out, as_json, f"已拉取 {out['packages']} 个交换包、{out['changes']} 条变更；当前游标 {out.get('cursor')}")


@exchange_app.command("trust")
def trust_command(
    platform: Annotated[str, typer.Option("--platform", help="上游平台名称")],
    keys: Annotated[Path, typer.Option("--keys", help="上游平台公布的公钥集（/.well-known/xinyong-report-keys.json）")],
) -> None:
    """信任上游平台的签名公钥：此后其交换包可导入。"""
    from xinyong.reports.keys import KeySet

    from .packages import trust_keys

    try:
        path = trust_keys(KeySet.load(keys), platform)
    except XinyongError as exc:
        fail_with(exc)
    console.print(f"已信任 {platform} 的公钥（{path}）。")


@exchange_app.command("deliver")
def deliver_command(
    once: Annotated[bool, typer.Option("--once", help="推送一轮后退出（否则持续运行）")] = False,
    as_json: JsonOption = False,
) -> None:
    """推送变更到各订阅的 Webhook：失败按指数退避重试，接收方恢复后从游标补推。"""
    from xinyong.db.engine import get_engine

    from .webhooks import DeliveryWorker, deliver_all

    with session_for_cli():
        pass
    if once:
        out = deliver_all(get_engine())
        _print(out, as_json, f"本轮：{out['subscriptions']} 个订阅，送达 {out['delivered']} 次（{out['changes']} 条变更），"
                             f"失败 {out['failed']} 次。")
        return
    worker = DeliveryWorker(get_engine())
    console.print(f"推送进程已启动：每 {worker.poll:g} 秒一轮（Ctrl+C 退出）。")
    try:
        worker.run_forever()
    except KeyboardInterrupt:
        pass


@exchange_app.command("changes")
def changes_command(
    since: Annotated[str | None, typer.Option("--since")] = None,
    limit: Annotated[int, typer.Option("--limit")] = 50,
    resources: Annotated[str | None, typer.Option("--resources")] = None,
) -> None:
    """查看变更序列（JSON，一页）。"""
    from .feed import read_page

    try:
        with session_for_cli() as session:
            page = read_page(session, Actor.cli(), since=since, limit=limit,
                             resources=[r for r in (resources or "").split(",") if r.strip()] or None)
    except XinyongError as exc:
        fail_with(exc, True)
    typer.echo(json.dumps(page.to_dict(), ensure_ascii=False, default=str))
