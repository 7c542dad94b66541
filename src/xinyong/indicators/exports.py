"""XLSX exports: one indicator's table, the department league table, the monthly report.

Every text cell goes through ``formula_safe`` and ``write_string`` (no spreadsheet evaluates a
department name starting with "="); numbers are written as numbers with a percent format.
"""

from __future__ import annotations

import io
from typing import Any

import xlsxwriter

from xinyong.config import get_settings
from xinyong.errors import InvalidInput
from xinyong.intake.reports import formula_safe

from .measures import DIMENSIONS

_OPTIONS = {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False}
DIM_SHEETS = {"department": "按部门", "sector": "按领域", "region": "按地区", "month": "按月"}


class _Book:
    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.wb = xlsxwriter.Workbook(self.buf, _OPTIONS)
        self.bold = self.wb.add_format({"bold": True, "bg_color": "#F3F4F6", "border": 1})
        self.title = self.wb.add_format({"bold": True, "font_size": 14})
        self.pct = self.wb.add_format({"num_format": "0.0%"})
        self.num = self.wb.add_format({"num_format": "#,##0"})
        self.status_fmt = {
            "green": self.wb.add_format({"font_color": "#166534", "bg_color": "#DCFCE7"}),
            "amber": self.wb.add_format({"font_color": "#92400E", "bg_color": "#FEF3C7"}),
            "red": self.wb.add_format({"font_color": "#991B1B", "bg_color": "#FEE2E2"}),
        }

    def sheet(self, name: str, widths: list[int]):
        ws = self.wb.add_worksheet(name)
        for i, w in enumerate(widths):
            ws.set_column(i, i, w)
        return ws

    def text(self, ws, r: int, c: int, value: Any, fmt=None) -> None:
        ws.write_string(r, c, formula_safe(value), fmt)

    def header(self, ws, r: int, labels: list[str]) -> None:
        for c, label in enumerate(labels):
            self.text(ws, r, c, label, self.bold)

    def value(self, ws, r: int, c: int, value: float | None, unit: str) -> None:
        if value is None:
            self.text(ws, r, c, "—")
        else:
            ws.write_number(r, c, float(value), self.pct if unit == "percent" else self.num)

    def count(self, ws, r: int, c: int, value: float | None) -> None:
        if value is None:
            self.text(ws, r, c, "—")
        else:
            ws.write_number(r, c, float(value), self.num)

    def status(self, ws, r: int, c: int, status: str, label: str) -> None:
        self.text(ws, r, c, label, self.status_fmt.get(status))

    def close(self) -> bytes:
        self.wb.close()
        return self.buf.getvalue()


def _snapshot_line(snap: dict[str, Any]) -> str:
    return f"数据截至 {snap['as_of']}（计算于 {snap.get('computed_at') or '—'}，快照 #{snap['id']}）"


def indicator_workbook(detail: dict[str, Any]) -> bytes:
    card, snap = detail["indicator"], detail["snapshot"]
    b = _Book()
    ws = b.sheet("概况", [16, 70])
    b.text(ws, 0, 0, f"{get_settings().site_name} · {card['name']}", b.title)
    rows = [("指标代码", card["code"]), ("口径说明", card["description"]), ("分子", card["numerator_text"]),
            ("分母", card["denominator_text"] or "（数量指标，无分母）"), ("目标", card["target_text"]),
            ("目标出处", card["target_source"] or "—"), ("当前值", card["display"]),
            ("状态", card["status_label"]), ("数据时点", _snapshot_line(snap))]
    if not card["available"]:
        rows.append(("说明", card["reason"]))
    for r, (k, v) in enumerate(rows, start=2):
        b.text(ws, r, 0, k, b.bold)
        b.text(ws, r, 1, v)
    for dim, items in card["breakdowns"].items():
        ws = b.sheet(DIM_SHEETS[dim], [30, 14, 14, 12, 12])
        b.header(ws, 0, [DIMENSIONS[dim], "分子", "分母", "数值", "状态"])
        for r, it in enumerate(items, start=1):
            b.text(ws, r, 0, it["label"])
            b.count(ws, r, 1, it["numerator"])
            b.count(ws, r, 2, it["denominator"])
            b.value(ws, r, 3, it["value"], card["unit"])
            b.status(ws, r, 4, it["status"], it["status_label"])
    return b.close()


def _league_sheet(b: _Book, league: dict[str, Any], units: dict[str, str]) -> None:
    cols = league["columns"]
    ws = b.sheet("部门排行榜", [6, 30] + [14] * (len(cols) * 2) + [10])
    labels = ["名次", "部门"]
    for c in cols:
        labels += [c["label"], f"{c['label']}状态"]
    b.header(ws, 0, labels + ["达标项数"])
    for r, row in enumerate(league["rows"], start=1):
        ws.write_number(r, 0, row["rank"])
        b.text(ws, r, 1, row["name"])
        for i, (col, cell) in enumerate(zip(cols, row["cells"], strict=True)):
            b.value(ws, r, 2 + 2 * i, cell["value"], units[col["code"]])
            b.status(ws, r, 3 + 2 * i, cell["status"], cell["status_label"])
        ws.write_number(r, 2 + 2 * len(cols), row["green"])
    notes = [c for c in cols if not c["available"]]
    for i, c in enumerate(notes):
        b.text(ws, len(league["rows"]) + 2 + i, 1, f"{c['label']}：{c['reason']}")


def league_workbook(data: dict[str, Any]) -> bytes:
    b = _Book()
    units = {code: card["unit"] for code, card in data["indicators"].items()}
    _league_sheet(b, data["league"], units)
    return b.close()


def monthly_report(data: dict[str, Any], month: str) -> bytes:
    """The leading group's monthly report: every indicator's value in ``month`` against its target."""
    snap = data["snapshot"]
    cards = data["indicators"]
    months = {it["key"] for card in cards.values() for it in card["trend"]}
    if months and month not in months:
        raise InvalidInput(f"月份 {month} 不在指标快照的统计范围内（{min(months)} 至 {max(months)}），"
                           "请换一个月份或刷新指标。", code="month_out_of_range")
    prev = _previous_month(month)
    b = _Book()
    ws = b.sheet("月报概览", [16, 30, 20, 12, 12, 12, 12, 12, 60])
    b.text(ws, 0, 0, f"{get_settings().site_name}社会信用体系建设统计监测月报（{month[:4]}年{int(month[5:])}月）", b.title)
    b.text(ws, 1, 0, _snapshot_line(snap))
    b.header(ws, 3, ["栏目", "指标", "目标", "截至目前", "本月", "上月", "环比变化", "状态", "目标出处 / 说明"])
    r = 4
    for card in cards.values():
        by_month = {it["key"]: it for it in card["trend"]}
        cur, before = by_month.get(month), by_month.get(prev)
        b.text(ws, r, 0, card["section"])
        b.text(ws, r, 1, card["name"])
        b.text(ws, r, 2, card["target_text"])
        b.value(ws, r, 3, card["value"], card["unit"])
        b.value(ws, r, 4, cur["value"] if cur else None, card["unit"])
        b.value(ws, r, 5, before["value"] if before else None, card["unit"])
        if cur and before and cur["value"] is not None and before["value"] is not None:
            b.value(ws, r, 6, cur["value"] - before["value"], card["unit"])
        else:
            b.text(ws, r, 6, "—")
        b.status(ws, r, 7, card["status"], card["status_label"])
        b.text(ws, r, 8, card["reason"] if not card["available"] else (card["target_source"] or card["description"]))
        r += 1
    units = {code: card["unit"] for code, card in cards.items()}
    if data["league"]["columns"]:
        _league_sheet(b, data["league"], units)
    ws = b.sheet("部门明细", [30, 30, 14, 14, 12, 12])
    b.header(ws, 0, ["指标", "部门", "分子", "分母", "数值", "状态"])
    r = 1
    for card in cards.values():
        for it in card["breakdowns"].get("department", []):
            b.text(ws, r, 0, card["name"])
            b.text(ws, r, 1, it["label"])
            b.count(ws, r, 2, it["numerator"])
            b.count(ws, r, 3, it["denominator"])
            b.value(ws, r, 4, it["value"], card["unit"])
            b.status(ws, r, 5, it["status"], it["status_label"])
            r += 1
    pending = [c for c in cards.values() if not c["available"]]
    if pending:
        ws = b.sheet("未接入指标", [36, 90])
        b.header(ws, 0, ["指标", "原因"])
        for i, c in enumerate(pending, start=1):
            b.text(ws, i, 0, c["name"])
            b.text(ws, i, 1, c["reason"])
    return b.close()


def _previous_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:])
    y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return f"{y:04d}-{m:02d}"
