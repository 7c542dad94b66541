"""Error reports of a batch (CSV and XLSX) that a department can open in a spreadsheet.

Streamed: rows go to the CSV as they are found; the XLSX is written from the CSV at the end
(constant memory). Every cell starting with = + - @ gets a leading ``'`` so no spreadsheet
evaluates it; messages and values arrive already masked.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import xlsxwriter

from .prepare import ErrorItem

HEADERS = ["行号", "信息项", "字段代码", "错误代码", "错误说明", "原值"]
XLSX_MAX_ROWS = 1_048_575
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


class ErrorReport:
    def __init__(self, directory: Path, batch_id: int) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.stem = f"batch-{batch_id}-errors"
        # Written under a temporary name: a report only appears for a batch that finished.
        self._tmp = self.directory / f".{self.stem}.csv.partial"
        self._fh = open(self._tmp, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed by finish/discard
        self._w = csv.writer(self._fh)
        self._w.writerow(HEADERS)
        self.rows = 0

    def add(self, items: list[ErrorItem]) -> None:
        for e in items:
            self._w.writerow([formula_safe(v) for v in (e.row_no, e.label or "", e.field or "", e.code,
                                                         e.message, e.value)])
        self.rows += len(items)

    def discard(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)

    def finish(self) -> dict[str, str] | None:
        """Move the report into place; None (and nothing left behind) when there were no errors."""
        self._fh.close()
        if self.rows == 0:
            self._tmp.unlink(missing_ok=True)
            return None
        csv_path = self.directory / f"{self.stem}.csv"
        xlsx_path = self.directory / f"{self.stem}.xlsx"
        tmp_xlsx = self.directory / f".{self.stem}.xlsx.partial"
        wb = xlsxwriter.Workbook(str(tmp_xlsx), {"constant_memory": True, "strings_to_formulas": False,
                                                 "strings_to_numbers": False, "strings_to_urls": False})
        ws = wb.add_worksheet("错误明细")
        with open(self._tmp, encoding="utf-8-sig", newline="") as fh:
            for r, row in enumerate(csv.reader(fh)):
                if r > XLSX_MAX_ROWS:
                    ws.write_string(r, 0, "（错误过多，其余见 CSV 报告）")
                    break
                for col, value in enumerate(row):
                    ws.write_string(r, col, value)  # already formula-safe
        wb.close()
        os.replace(tmp_xlsx, xlsx_path)
        os.replace(self._tmp, csv_path)
        return {"csv": str(csv_path), "xlsx": str(xlsx_path)}
