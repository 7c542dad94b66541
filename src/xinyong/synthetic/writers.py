"""Department file writers: the formats and encodings real department systems export."""

from __future__ import annotations

import csv
import json
from datetime import datetime
from pathlib import Path

import xlsxwriter

XLSX_MAX_ROWS = 1_000_000  # leave head-room under Excel's 1,048,576-row sheet limit


class CsvWriter:
    def __init__(self, path: Path, headers: list[str], encoding: str) -> None:
        self.paths = [path]
        # GBK/GB18030 exports from older systems; UTF-8 with BOM is what Excel writes.
        self._fh = open(path, "w", encoding=encoding, newline="", errors="strict")
        self._w = csv.writer(self._fh)
        self._w.writerow(headers)
        self.rows = 0

    def write(self, row: list[str]) -> None:
        self._w.writerow(row)
        self.rows += 1

    def close(self) -> None:
        self._fh.close()


class NdjsonWriter:
    def __init__(self, path: Path, headers: list[str]) -> None:
        self.paths = [path]
        self._headers = headers
        self._fh = open(path, "w", encoding="utf-8", newline="\n")
        self.rows = 0

    def write(self, row: list[str]) -> None:
        obj = {h: v for h, v in zip(self._headers, row, strict=True) if v != ""}
        self._fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self.rows += 1

    def close(self) -> None:
        self._fh.close()


class XlsxWriter:
    """Streams rows (constant memory); a title row above the header, as exports usually have."""

    def __init__(self, path: Path, headers: list[str], title: str, created: datetime) -> None:
        self._created = created  # fixed, so the same seed gives byte-identical workbooks
        self._base = path
        self._headers = headers
        self._title = title
        self.paths: list[Path] = []
        self.rows = 0
        self._open_part()

    def _open_part(self) -> None:
        n = len(self.paths) + 1
        path = self._base if n == 1 else self._base.with_name(f"{self._base.stem}-part{n}{self._base.suffix}")
        self.paths.append(path)
        self._wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                                   "strings_to_numbers": False, "strings_to_urls": False})
        self._wb.set_properties({"created": self._created})
        self._ws = self._wb.add_worksheet("数据")
        self._ws.write_string(0, 0, self._title)
        for col, h in enumerate(self._headers):
            self._ws.write_string(1, col, h)
        self._row = 2

    def write(self, row: list[str]) -> None:
        if self._row - 2 >= XLSX_MAX_ROWS:
            self._wb.close()
            self._open_part()
        for col, v in enumerate(row):
            if v != "":
                self._ws.write_string(self._row, col, v)
        self._row += 1
        self.rows += 1

    def close(self) -> None:
        self._wb.close()
