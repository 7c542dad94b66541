"""`xinyong codes …` — check USCCs, organisation codes and citizen IDs from the shell.

Citizen IDs are never printed in clear: output goes through ``CodeResult.to_public_dict``.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from xinyong.identity.codes import KIND_LABELS, check_code

app = typer.Typer(help="代码校验（统一社会信用代码、组织机构代码、公民身份号码）", no_args_is_help=True)


class KindOption(str, Enum):
    uscc = "uscc"
    org_code = "org_code"
    citizen_id = "citizen_id"


# Labels for the human-readable summary; keys not listed here are not shown.
_PART_LABELS = {
    "registration_authority": "登记管理部门",
    "org_type": "机构类别",
    "region": "行政区划码",
    "region_name": "所在地区",
    "org_code": "内嵌组织机构代码",
    "formatted": "标准写法",
    "birth_date": "出生日期",
    "gender": "性别",
    "converted_from_15": "由15位旧号码升级",
}


@app.callback()
def _group() -> None:
    """代码校验（统一社会信用代码、组织机构代码、公民身份号码）"""
    # A callback keeps `check` a named subcommand even though it is the only one.


@app.command("check")
def check(
    value: Annotated[str, typer.Argument(help="要校验的代码，可含空格、连字符和全角字符")],
    kind: Annotated[
        KindOption | None,
        typer.Option("--kind", help="代码类型；不指定时按长度和格式自动识别", case_sensitive=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="输出一个 JSON 对象")] = False,
) -> None:
    """校验一个代码。有效时退出码为 0，无效时为 1。公民身份号码只显示脱敏后的形式。"""
    result = check_code(value, kind.value if kind else None)
    data = result.to_public_dict()
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
    else:
        _print_summary(data)
    raise typer.Exit(code=0 if result.valid else 1)


def _print_summary(data: dict) -> None:
    console = Console(highlight=False, soft_wrap=True)
    mark = "[green]✔[/green]" if data["valid"] else "[red]✘[/red]"
    console.print(f"{mark} {escape(data['message'])}")
    label = KIND_LABELS.get(data["kind"] or "", "代码")
    if data["normalized"]:
        console.print(f"  {label}：{escape(data['normalized'])}")
    parts = data["parts"]
    for key, title in _PART_LABELS.items():
        if key not in parts:
            continue
        text = parts[key]
        if key == "converted_from_15":
            text = "是" if text == "true" else "否"
        extra = parts.get(f"{key}_label")
        if extra:
            text = f"{text}（{extra}）"
        if key == "org_code" and parts.get("org_code_valid") == "false":
            text += "（不符合组织机构代码校验规则；个体工商户等主体常见此情况，不影响统一社会信用代码的有效性）"
        console.print(f"  {title}：{escape(text)}")
