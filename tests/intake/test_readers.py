"""Readers: encodings, delimiters, header rows below titles, row numbers, refusals."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
import xlsxwriter

from xinyong.catalogue import load_catalogue
from xinyong.intake.readers import FileRefused, open_source, rows_source

from .conftest import penalty_labels, write_csv

PENALTY = load_catalogue().get("admin_penalty")
ROW = ["佛山市恒泰五金制品有限公司", "法人及非法人组织", "91440604MA4UJ0J3X1"]


def codes_of(src):
    return [f.code if f else None for f in src.fields]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings_are_detected(tmp_path, encoding):
    header = penalty_labels()
    rows = [[f"佛山市禅城区第{i}号五金店（个体工商户）"] + [""] * (len(header) - 1) for i in range(300)]
    path = write_csv(tmp_path / "p.csv", header, rows, encoding=encoding)
    src = open_source(path, PENALTY)
    assert src.format == "csv"
    assert src.encoding in ({"gbk": "gb18030"}.get(encoding, encoding),)
    got = list(src.rows())
    assert [n for n, _ in got][:3] == [2, 3, 4]
    assert got[10][1][0] == "佛山市禅城区第10号五金店（个体工商户）"


def test_tsv_and_semicolon_delimiters(tmp_path):
    header = penalty_labels()
    for delimiter, name in (("\t", "p.tsv"), (";", "p.txt")):
        path = write_csv(tmp_path / name, header, [ROW + [""] * (len(header) - 3)], delimiter=delimiter)
        src = open_source(path, PENALTY)
        assert src.delimiter == delimiter
        assert codes_of(src)[:3] == ["subject_name", "subject_category", "uscc"]


def test_header_below_title_rows_and_line_numbers(tmp_path):
    inspection = load_catalogue().get("admin_inspection")
    header = ",".join(f" {f.label} " for f in inspection.fields)  # surrounding spaces are tolerated
    cells = ",".join("x" for _ in inspection.fields)
    path = tmp_path / "t.csv"
    path.write_text(f"佛山市市场监督管理局行政检查结果\n导出时间：2026-11-01\n\n{header}\n{cells}\n\n"
                    f"\"多行\n文本\",{cells[2:]}\n{','.join('' for _ in inspection.fields)}\n{cells}\n", encoding="utf-8")
    src = open_source(path, inspection)
    assert src.header_row == 4
    # Blank lines and all-blank rows are skipped; a multi-line record is numbered where it starts.
    assert [n for n, _ in src.rows()] == [5, 7, 10]


def test_missing_required_columns_mean_a_wrong_resource(tmp_path):
    license_header = [f.label for f in load_catalogue().get("admin_license").fields]
    with pytest.raises(FileRefused) as exc:
        open_source(write_csv(tmp_path / "l.csv", license_header, []), PENALTY)
    assert "缺少必填列" in exc.value.message and "违法行为类型" in exc.value.message


def test_duplicate_and_unknown_columns_are_reported(tmp_path):
    header = penalty_labels() + ["统一社会信用代码", "内部编号"]
    src = open_source(write_csv(tmp_path / "p.csv", header, []), PENALTY)
    assert src.unknown_columns == ["内部编号"]
    assert src.duplicate_columns == ["统一社会信用代码"]


def _xlsx(path, sheets: dict[str, list[list]]) -> None:
    wb = xlsxwriter.Workbook(str(path))
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        ws = wb.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if isinstance(v, datetime):
                    ws.write_datetime(r, c, v, date_fmt)
                elif v is not None:
                    ws.write(r, c, v)
    wb.close()


def test_xlsx_header_below_title_and_sheet_choice(tmp_path):
    header = penalty_labels()
    data = ROW + [""] * (len(header) - 3)
    data[header.index("处罚决定日期")] = datetime(2024, 3, 5)
    data[header.index("处罚有效期")] = 45356  # a serial number in a general-format cell
    path = tmp_path / "p.xlsx"
    _xlsx(path, {"说明": [["本文件为测试"]], "数据": [["行政处罚信息"], [], header, data, [], data]})
    src = open_source(path, PENALTY, sheet="数据")
    assert src.format == "xlsx" and src.header_row == 3
    rows = list(src.rows())
    assert [n for n, _ in rows] == [4, 6]
    cells = dict(zip(codes_of(src), rows[0][1]))
    assert cells["decision_date"] in (date(2024, 3, 5), datetime(2024, 3, 5))
    with pytest.raises(FileRefused) as exc:
        open_source(path, PENALTY, sheet="不存在")
    assert "说明" in exc.value.message
    with pytest.raises(FileRefused):  # first sheet has no header
        open_source(path, PENALTY)


def test_json_array_and_ndjson(tmp_path):
    objs = [{"行政相对人名称": "甲", "uscc": "91440604MA4UJ0J3X1", "处罚类别": ["警告", "罚款"], "罚款金额（万元）": 1.5},
            {"subject_name": "乙", "未知字段": 1}]
    arr = tmp_path / "p.json"
    arr.write_text(json.dumps(objs, ensure_ascii=False, indent=1), encoding="utf-8")
    nd = tmp_path / "p.ndjson"
    nd.write_text("\n".join(json.dumps(o, ensure_ascii=False) for o in objs) + "\n\nnot json\n", encoding="utf-8")
    for path, fmt, numbers in ((arr, "json", [1, 2]), (nd, "ndjson", [1, 2, 4])):
        src = open_source(path, PENALTY)
        assert src.format == fmt
        rows = list(src.rows())
        assert [n for n, _ in rows] == numbers
        first = dict(zip(codes_of(src), rows[0][1]))
        assert first["penalty_category"] == "警告；罚款" and first["fine_amount"] == 1.5
        assert src.unknown_columns == ["未知字段"]


@pytest.mark.parametrize("content, message", [
    (b"", "空文件"),
    ("随便写点什么\n一二三\n".encode(), "未找到可识别的表头"),
    ("许可决定书文号,许可机关,行政相对人名称,行政相对人类别\n".encode(), "缺少必填列"),
    (b"PK\x03\x04 not really a workbook", "无法读取电子表格"),
    (b'[{"a": 1}, {"b":', "JSON 文件不完整"),
])
def test_files_refused_as_a_whole(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(FileRefused) as exc:
        open_source(path, PENALTY)
    assert message in exc.value.message


def test_truncated_json_array_is_refused_while_reading(tmp_path):
    path = tmp_path / "p.json"
    objs = ",".join('{"行政相对人名称": "甲", "行政相对人类别": "自然人"}' for _ in range(40))
    path.write_text(f'[{objs}, {{"行政相对人名称": "乙"', encoding="utf-8")
    src = open_source(path, PENALTY)
    with pytest.raises(FileRefused):
        list(src.rows())


def test_rows_source_maps_codes_and_labels():
    src = rows_source([{"subject_name": "甲", "行政相对人类别": "自然人"}, "oops", {}], PENALTY)
    rows = list(src.rows())
    assert rows[0][0] == 1 and rows[0][1][0] == "甲" and rows[0][1][1] == "自然人"
    assert rows[1][0] == 2 and rows[1][1] == []  # not an object: reported as an unreadable row
