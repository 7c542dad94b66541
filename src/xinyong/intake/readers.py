"""Department files → rows of cells, streamed, with the row numbers the department sees.

* CSV/TSV: encoding from the byte-order mark, strict UTF-8, else charset-normalizer on a sample
  (GBK and GB2312 are read as GB18030, their superset); delimiter sniffed. Row number = the
  line where the record starts.
* XLSX/XLS (python-calamine): first sheet or a named one; row number = spreadsheet row.
  calamine holds one sheet in memory, so an XLSX costs memory in proportion to its size
  (Excel itself stops at 1,048,576 rows); CSV and JSON stream in constant memory.
* JSON: an array of objects, or one object per line (NDJSON); row number = element/line.

The header row is found even below title rows: the first row where at least two cells, and at
least half of the non-empty ones, are headers of the resource (``Resource.map_headers``).
A file is refused as a whole (``FileRefused``) when it cannot be read, has no recognisable
header, or lacks a column the resource always requires (the usual sign of a wrong resource).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from xinyong.catalogue.schemas import Field, Resource
from xinyong.errors import InvalidInput

SAMPLE_BYTES = 64 * 1024
HEADER_SCAN_ROWS = 30
_DELIMITERS = (",", "\t", ";", "|")
_GB_FAMILY = {"gbk", "gb2312", "gb18030", "hz", "cp936", "ms936", "euc_cn", "big5"}


class FileRefused(InvalidInput):
    """The file as a whole cannot be taken in (nothing is kept)."""

    code = "file_refused"


@dataclass
class Source:
    """An opened file: its shape, its header mapping and a stream of its rows."""

    format: str
    headers: list[str]
    header_row: int | None
    fields: list[Field | None]
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    total_bytes: int | None = None
    # Filled while reading: how far the stream has got (progress bars).
    position: Any = None
    _rows: Iterator[tuple[int, list[Any]]] | None = None
    unknown_columns: list[str] = field(default_factory=list)
    duplicate_columns: list[str] = field(default_factory=list)
    decoded_text: bool = False

    @property
    def columns(self) -> dict[str, int]:
        """Field code → index of the first column that holds it."""
        out: dict[str, int] = {}
        for i, f in enumerate(self.fields):
            if f is not None and f.code not in out:
                out[f.code] = i
        return out

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(row number, cells) for every data row that is not entirely blank."""
        assert self._rows is not None
        return self._rows

    def bytes_read(self) -> int | None:
        return self.position() if callable(self.position) else None


class _Counting(io.RawIOBase):
    """A raw binary stream that counts the bytes handed out (progress without tell())."""

    def __init__(self, fh) -> None:
        self._fh = fh
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._fh.readinto(b)
        self.count += n or 0
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def safe_upload_name(name: str | None, default: str = "upload") -> str:
    """The base name of an uploaded file, fit to store and show: no directory part (either
    slash), no control or reserved characters, no leading dots, at most 255 characters."""
    base = unicodedata.normalize("NFKC", (name or "").replace("\\", "/")).rsplit("/", 1)[-1]
    base = _UNSAFE_NAME.sub("_", base).strip(" .")
    return base[-255:] or default


def copy_limited(src, dst, limit: int, chunk: int = 1 << 20) -> int:
    """Copy a stream, refusing (413) as soon as more than ``limit`` bytes have come."""
    total = 0
    while block := src.read(chunk):
        total += len(block)
        if total > limit:
            raise FileTooLarge(limit)
        dst.write(block)
    return total


class FileTooLarge(InvalidInput):
    status_code = 413
    code = "file_too_large"

    def __init__(self, limit: int) -> None:
        size = f"{limit / 1024 ** 3:.0f} GB" if limit >= 1024 ** 3 else f"{limit / 1048576:.1f} MB"
        super().__init__(f"文件过大：单个文件不超过 {size}，请拆分后分批报送。")


# --- format and encoding ---------------------------------------------------------------------------


def sniff_format(path: Path, head: bytes) -> str:
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return "xls"
    text = head.lstrip(codecs.BOM_UTF8).lstrip()
    if text[:1] in (b"[", b"{"):
        return "json"
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls"):
        return "xlsx"  # content says otherwise; calamine will explain
    return "csv"


def detect_encoding(sample: bytes) -> str:
    """Encoding of a text sample: BOM, strict UTF-8, then charset-normalizer."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    import charset_normalizer

    best = charset_normalizer.from_bytes(sample).best()
    name = (best.encoding if best else "").lower().replace("-", "_")
    if not name or name in _GB_FAMILY:
        # Chinese government exports that are not UTF-8 are GB family; GB18030 reads them all.
        try:
            codecs.getincrementaldecoder("gb18030")().decode(sample, final=False)
            return "gb18030"
        except UnicodeDecodeError:
            if not name:
                raise FileRefused("无法识别文件编码：请另存为 UTF-8 或 GB18030 编码的 CSV 文件后重新报送。") from None
    return name


def sniff_delimiter(lines: list[str], suffix: str) -> str:
    best, best_score = ("\t" if suffix in (".tsv", ".tab") else ","), 0
    for d in _DELIMITERS:
        counts = [len(r) for r in csv.reader(lines, delimiter=d)]
        widths = [c for c in counts if c > 1]
        if not widths:
            continue
        mode = max(set(widths), key=widths.count)
        score = widths.count(mode) * 1000 + mode
        if score > best_score:
            best, best_score = d, score
    return best


# --- header detection ------------------------------------------------------------------------------


def find_header(rows: list[tuple[int, list[Any]]], resource: Resource) -> int | None:
    """Index in ``rows`` of the header row, or None."""
    for k, (_, cells) in enumerate(rows):
        texts = [str(c).strip() for c in cells if c is not None and str(c).strip()]
        if len(texts) < 2:
            continue
        mapped = sum(1 for f in resource.map_headers(texts) if f is not None)
        if mapped >= 2 and mapped * 2 >= len(texts):
            return k
    return None


def _finish(src: Source, resource: Resource, require_columns: bool) -> Source:
    seen: set[str] = set()
    for h, f in zip(src.headers, src.fields):
        if f is None:
            if h.strip():
                src.unknown_columns.append(h)
        elif f.code in seen:
            src.duplicate_columns.append(h)
        else:
            seen.add(f.code)
    if require_columns:
        missing = [f.label for f in resource.required_fields if f.code not in seen]
        if missing:
            raise FileRefused(
                f"表头与信息资源“{resource.name}”（{resource.code}）不符：缺少必填列 {'、'.join(missing)}。"
                "请确认报送的资源是否选对，或按目录模板补齐列名。",
                details={"missing_columns": missing, "headers": src.headers[:60]})
    return src


def _no_header(resource: Resource) -> FileRefused:
    sample = "、".join(f.label for f in resource.fields[:4])
    return FileRefused(f"未找到可识别的表头：前{HEADER_SCAN_ROWS}行中没有与信息资源“{resource.name}”"
                       f"（{resource.code}）对应的列名（如 {sample}）。请确认文件和资源是否对应。")


# --- CSV -------------------------------------------------------------------------------------------


def _open_csv(path: Path, resource: Resource, head: bytes) -> Source:
    encoding = detect_encoding(head)
    raw = _Counting(open(path, "rb"))  # noqa: SIM115 - closed when the row stream ends
    text = io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding=encoding, errors="replace", newline="")
    sample_text = head.decode(encoding if encoding != "utf-8-sig" else "utf-8-sig", errors="ignore")
    lines = sample_text.splitlines()[:40]
    if len(head) >= SAMPLE_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last sampled line may be cut short
    delimiter = sniff_delimiter(lines, path.suffix.lower())
    reader = csv.reader(text, delimiter=delimiter)
    buffered: list[tuple[int, list[str]]] = []
    line = 0
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            buffered.append((start, cells))
            if len(buffered) >= HEADER_SCAN_ROWS:
                break
    except csv.Error as exc:
        raise FileRefused(f"CSV 文件第{reader.line_num}行无法解析：{exc}。请检查引号是否成对。") from None
    k = find_header(buffered, resource)
    if k is None:
        text.close()
        raise _no_header(resource)
    header_line, headers = buffered[k]
    headers = [h.strip() for h in headers]

    def rows() -> Iterator[tuple[int, list[str]]]:
        nonlocal line
        try:
            for item in buffered[k + 1:]:
                if "".join(item[1]).strip():
                    yield item
            for cells in reader:
                start, line = line + 1, reader.line_num
                if "".join(cells).strip():  # skip blank and all-blank rows
                    yield start, cells
        except csv.Error as exc:
            raise FileRefused(f"CSV 文件第{reader.line_num}行无法解析：{exc}。请检查引号是否成对。") from None
        finally:
            text.close()

    src = Source(format="csv", headers=headers, header_row=header_line, fields=resource.map_headers(headers),
                 encoding=encoding, delimiter=delimiter, total_bytes=path.stat().st_size,
                 position=lambda: raw.count, decoded_text=True)
    src._rows = rows()
    return src


# --- XLSX ------------------------------------------------------------------------------------------


ZIP_MAX_MEMBERS = 10_000
ZIP_MAX_RATIO = 200  # a real workbook's XML compresses 5-30 times; a bomb, thousands of times


def check_zip(path: Path, limit: int | None = None) -> None:
    """Refuse a zip (XLSX) that would expand beyond ``limit`` bytes, before anything unpacks it.

    The declared sizes are checked first, then every member is decompressed as a stream and
    counted (a forged declared size fails its CRC), so memory stays flat whatever the file says.
    """
    import zipfile

    from xinyong.config import get_settings

    limit = limit or get_settings().intake_max_expanded_bytes
    mb = limit / 1048576
    bomb = FileRefused(f"电子表格文件解压后超过 {mb:.0f} MB 或压缩比异常（疑似压缩炸弹），已拒收。"
                       "请拆分为多个文件，或另存为 CSV 后报送。", code="file_refused")
    try:
        with zipfile.ZipFile(path) as z:
            members = z.infolist()
            if len(members) > ZIP_MAX_MEMBERS:
                raise FileRefused(f"电子表格文件内含 {len(members):,} 个部件，超出正常范围，已拒收。")
            if sum(m.file_size for m in members) > limit:
                raise bomb
            for m in members:
                if m.file_size > 1048576 and m.file_size > ZIP_MAX_RATIO * max(m.compress_size, 1):
                    raise bomb
            total = 0
            for m in members:
                with z.open(m) as fh:
                    while block := fh.read(1 << 20):
                        total += len(block)
                        if total > limit:
                            raise bomb
    except FileRefused:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError) as exc:
        raise FileRefused(f"无法读取电子表格文件：文件已损坏或不是有效的 XLSX（{type(exc).__name__}）。"
                          "请用 Excel 或 WPS 重新另存为 .xlsx 或 CSV 后报送。") from None


def _open_xlsx(path: Path, resource: Resource, sheet: str | None) -> Source:
    from python_calamine import CalamineWorkbook

    with open(path, "rb") as fh:
        if fh.read(4) == b"PK\x03\x04":
            check_zip(path)
    try:
        wb = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001 - calamine raises several kinds for a broken file
        raise FileRefused(f"无法读取电子表格文件：{type(exc).__name__}。请确认文件未损坏，"
                          "或另存为 .xlsx / CSV 后重新报送。") from None
    names = list(wb.sheet_names)
    if sheet is not None and sheet not in names:
        raise FileRefused(f"电子表格中没有名为“{sheet}”的工作表。现有工作表：{'、'.join(names)}。")
    if not names:
        raise FileRefused("电子表格中没有工作表。")
    ws = wb.get_sheet_by_name(sheet) if sheet is not None else wb.get_sheet_by_index(0)
    first_row = (ws.start or (0, 0))[0] + 1  # spreadsheet row of the first row calamine returns
    it = enumerate(ws.iter_rows(), start=first_row)
    buffered = []
    for item in it:
        buffered.append(item)
        if len(buffered) >= HEADER_SCAN_ROWS:
            break
    k = find_header(buffered, resource)
    if k is None:
        raise _no_header(resource)
    header_row, header_cells = buffered[k]
    headers = ["" if c is None else str(c).strip() for c in header_cells]

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for n, cells in chain(buffered[k + 1:], it):
            if any(c is not None and (not isinstance(c, str) or c.strip()) for c in cells):
                yield n, cells

    done = {"rows": 0}
    height = ws.height or 1
    size = path.stat().st_size

    def position() -> int:
        return int(size * min(done["rows"] / height, 1.0))

    src = Source(format="xlsx", headers=headers, header_row=header_row, fields=resource.map_headers(headers),
                 sheet=ws.name, total_bytes=size, position=position)

    def counted() -> Iterator[tuple[int, list[Any]]]:
        for item in rows():
            done["rows"] = item[0]
            yield item

    src._rows = counted()
    return src


# --- JSON ------------------------------------------------------------------------------------------


def _json_value(v: Any) -> Any:
    if isinstance(v, list):
        return "；".join(str(x) for x in v if x is not None)
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    return v


class _ObjectRows:
    """Objects (header/code → value) → cells aligned to the resource's fields."""

    def __init__(self, resource: Resource) -> None:
        self.resource = resource
        self.index = {f.code: i for i, f in enumerate(resource.fields)}
        self.keys: dict[str, int | None] = {}
        self.unknown: list[str] = []
        self.recognised = 0

    def cells(self, obj: Any) -> list[Any] | None:
        if not isinstance(obj, dict):
            return None
        cells: list[Any] = [None] * len(self.index)
        for key, value in obj.items():
            i = self.keys.get(key, -1)
            if i == -1:
                f = self.resource.field_by_header(str(key))
                i = self.keys[key] = self.index[f.code] if f is not None else None
                if i is None and len(self.unknown) < 100:
                    self.unknown.append(str(key))
            if i is not None:
                cells[i] = _json_value(value)
                self.recognised += 1
        return cells


_TOO_DEEP = "JSON 嵌套层数过深，已拒收：每条记录应为一层对象（字段名 → 值）。"


def _iter_json_array(text: io.TextIOBase) -> Iterator[Any]:
    """Elements of a top-level JSON array, parsed one at a time."""
    decoder = json.JSONDecoder()
    buf, pos, started = "", 0, False
    while True:
        chunk = text.read(1 << 16)
        buf = buf[pos:] + chunk
        pos = 0
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n,\ufeff":
                pos += 1
            if not started:
                if pos >= len(buf):
                    break
                if buf[pos] != "[":
                    raise FileRefused("JSON 文件应为对象数组，或每行一个对象（NDJSON）。")
                started, pos = True, pos + 1
                continue
            if pos < len(buf) and buf[pos] == "]":
                return
            try:
                obj, end = decoder.raw_decode(buf, pos)
            except RecursionError:
                raise FileRefused(_TOO_DEEP) from None
            except json.JSONDecodeError:
                if not chunk:
                    raise FileRefused("JSON 文件不完整或格式错误：请检查括号与引号是否成对。") from None
                break  # need more text
            yield obj
            pos = end
        if not chunk:
            if started:
                raise FileRefused("JSON 文件不完整：缺少结尾的“]”。")
            return


def _open_json(path: Path, resource: Resource, head: bytes) -> Source:
    encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else detect_encoding(head)
    raw = _Counting(open(path, "rb"))  # noqa: SIM115 - closed when the row stream ends
    text = io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding=encoding, errors="replace")
    mapper = _ObjectRows(resource)
    is_array = head.lstrip(codecs.BOM_UTF8).lstrip()[:1] == b"["
    bad_rows: list[int] = []

    def elements() -> Iterator[tuple[int, Any]]:
        if is_array:
            yield from enumerate(_iter_json_array(text), start=1)
            return
        for n, line in enumerate(text, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                yield n, json.loads(line)
            except RecursionError:
                raise FileRefused(_TOO_DEEP) from None
            except json.JSONDecodeError:
                yield n, _BadJson

    it = elements()
    buffered = []
    for item in it:
        buffered.append(item)
        if len(buffered) >= HEADER_SCAN_ROWS:
            break
    probe = [mapper.cells(obj) for _, obj in buffered if obj is not _BadJson]
    if not buffered or mapper.recognised == 0 or not any(probe):
        text.close()
        raise _no_header(resource)
    mapper.recognised = 0

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for n, obj in chain(buffered, it):
                cells = mapper.cells(obj) if obj is not _BadJson else None
                if cells is None:
                    bad_rows.append(n)
                    yield n, _BAD_ROW
                elif any(c not in (None, "") for c in cells):
                    yield n, cells
        finally:
            text.close()

    headers = [f.label for f in resource.fields]
    src = Source(format="ndjson" if not is_array else "json", headers=headers, header_row=None,
                 fields=list(resource.fields), encoding=encoding, total_bytes=path.stat().st_size,
                 position=lambda: raw.count, decoded_text=True)
    src.unknown_columns = mapper.unknown
    src._rows = rows()
    return src


class _BadJsonType:
    pass


_BadJson = _BadJsonType()
#: Cells of a row that could not be parsed at all (an NDJSON line that is not an object).
_BAD_ROW: list[Any] = []


def is_bad_row(cells: list[Any]) -> bool:
    return cells is _BAD_ROW


# --- entry points ----------------------------------------------------------------------------------


def open_source(path: Path | str, resource: Resource, *, sheet: str | None = None) -> Source:
    """Open a department file for ``resource``; raises ``FileRefused`` with a Chinese message."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(SAMPLE_BYTES)
    except OSError as exc:
        raise FileRefused(f"无法读取文件 {path.name}：{exc.strerror or exc}。") from None
    if not head.strip():
        raise FileRefused(f"文件 {path.name} 是空文件。")
    fmt = sniff_format(path, head)
    if fmt in ("xlsx", "xls"):
        src = _open_xlsx(path, resource, sheet)
        return _finish(src, resource, require_columns=True)
    if sheet is not None:
        raise FileRefused("只有电子表格文件（.xlsx）可以指定工作表（--sheet）。")
    if fmt == "json":
        return _finish(_open_json(path, resource, head), resource, require_columns=False)
    return _finish(_open_csv(path, resource, head), resource, require_columns=True)


def rows_source(rows: Any, resource: Resource) -> Source:
    """Rows given as objects (API JSON, tests): field code or header → value."""
    mapper = _ObjectRows(resource)

    def gen() -> Iterator[tuple[int, list[Any]]]:
        for n, obj in enumerate(rows, start=1):
            cells = mapper.cells(obj)
            if cells is None:
                yield n, _BAD_ROW
            elif any(c not in (None, "") for c in cells):
                yield n, cells

    src = Source(format="rows", headers=[f.label for f in resource.fields], header_row=None,
                 fields=list(resource.fields))
    src.unknown_columns = mapper.unknown
    src._rows = gen()
    return src
