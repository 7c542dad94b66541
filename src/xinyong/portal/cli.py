"""`xinyong portal …`: maintenance of the public website's search index."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from xinyong.cli_support import session_for_cli

app = typer.Typer(help="信用网站（门户）维护", no_args_is_help=True)


@app.command("reindex")
def reindex_cmd(as_json: Annotated[bool, typer.Option("--json", help="以 JSON 输出")] = False) -> None:
    """为尚未建立检索索引的信用主体建立名称检索索引（可重复运行）。"""
    from xinyong.portal.search import rebuild_index

    started = time.perf_counter()
    with session_for_cli() as session:
        n = rebuild_index(session)
    out = {"indexed": n, "seconds": round(time.perf_counter() - started, 2)}
    typer.echo(json.dumps(out, ensure_ascii=False) if as_json else f"已为 {n} 个信用主体建立检索索引。")
