"""Hostile department files: each refused or neutralised with a Chinese message, memory bounded,
nothing kept (no record, no committed batch, no file left behind)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.intake.conftest import engine, penalty_labels  # noqa: F401 - fixture
from xinyong.accounts.actor import Actor
from xinyong.accounts.roles import DEPT_SUBMITTER
from xinyong.db.engine import session_scope
from xinyong.intake.bulkdata import write_penalty_csv
from xinyong.intake.models import BatchError, IntakeBatch, Record
from xinyong.intake.readers import safe_upload_name
from xinyong.intake.reports import formula_safe
from xinyong.intake.service import ingest_file


def _chinese(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


@pytest.fixture
def dept_client(engine, db_url):  # noqa: F811
    from xinyong.accounts.clients import create_client, limiter
    from xinyong.app import create_app

    limiter.reset()
    with session_scope(db_url) as s:
        key = create_client(s, Actor.cli("pytest"), department="market_regulation", name="市场监管报送",
                            role=DEPT_SUBMITTER).key
    with TestClient(create_app(), raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client
    limiter.reset()


def _kept(db_url: str) -> dict:
    with session_scope(db_url) as s:
        return {"records": s.scalar(select(func.count()).select_from(Record)),
                "committed": s.scalar(select(func.count()).select_from(IntakeBatch)
                                      .where(IntakeBatch.status == "committed")),
                "batches": s.scalar(select(func.count()).select_from(IntakeBatch))}


def _leftovers(var: Path) -> list[str]:
    return [str(p.relative_to(var)) for p in var.rglob("*")
            if p.is_file() and ("uploads" in p.parts or "reports" in p.parts)]


def _zip_sheet(path: Path, sheet_xml_parts, *, extra_members=()) -> Path:
    """A real workbook (xlsxwriter) whose first sheet's XML is replaced by ``sheet_xml_parts``."""
    import xlsxwriter

    plain = path.with_suffix(".plain.xlsx")
    wb = xlsxwriter.Workbook(str(plain))
    ws = wb.add_worksheet()
    for c, label in enumerate(penalty_labels()):
        ws.write_string(0, c, label)
    wb.close()
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED,
                                                        compresslevel=1) as z:
        for item in src.infolist():
            if item.filename == "xl/worksheets/sheet1.xml":
                with z.open(item.filename, "w", force_zip64=True) as fh:
                    for part in sheet_xml_parts():
                        fh.write(part)
            else:
                z.writestr(item, src.read(item))
        for name in extra_members:
            with z.open(name, "w", force_zip64=True) as fh:
                for _ in range(40):
                    fh.write(b"\0" * (1 << 20))
    plain.unlink()
    return path


def _bomb_parts(mb: int):
    def parts():
        yield b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        yield b"<sheetData>"
        row = b'<row><c t="inlineStr"><is><t>x</t></is></c></row>' * 20000
        for _ in range(mb * 1024 * 1024 // len(row)):
            yield row
        yield b"</sheetData></worksheet>"
    return parts


def test_zip_bomb_disguised_as_xlsx_is_refused_without_expanding_it(engine, db_url, settings_env, tmp_path):  # noqa: F811
    import resource

    bomb = _zip_sheet(tmp_path / "处罚.xlsx", _bomb_parts(700))
    assert bomb.stat().st_size < 8 * 1024 * 1024  # 700 MB of XML in a few MB
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = ingest_file(engine, bomb, "admin_penalty", "market_regulation", parallel=False)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert result.status == "refused" and "解压" in result.message and _chinese(result.message)
    assert grown_mb < 100, f"memory grew {grown_mb:.0f} MB"
    assert _kept(db_url)["records"] == 0 and _kept(db_url)["committed"] == 0


def test_zip_with_a_hidden_huge_member_is_refused(engine, db_url, tmp_path):  # noqa: F811
    sneaky = _zip_sheet(tmp_path / "p.xlsx", _bomb_parts(1), extra_members=("xl/media/padding.bin",))
    result = ingest_file(engine, sneaky, "admin_penalty", "market_regulation", parallel=False)
    assert result.status == "refused" and _chinese(result.message)


@pytest.mark.parametrize("content", [
    b"PK\x03\x04" + b"\x00" * 200,  # a zip header and nothing else
    b"PK\x03\x04" + bytes(range(256)) * 40,  # garbage after the signature
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600,  # an OLE header (old .xls) that is empty
], ids=["empty-zip", "garbage-zip", "empty-ole"])
def test_malformed_spreadsheets_are_refused(engine, db_url, tmp_path, content):  # noqa: F811
    path = tmp_path / "处罚.xlsx"
    path.write_bytes(content)
    result = ingest_file(engine, path, "admin_penalty", "market_regulation", parallel=False)
    assert result.status == "refused" and _chinese(result.message)
    assert _kept(db_url)["records"] == 0


def test_truncated_real_xlsx_is_refused(engine, db_url, tmp_path):  # noqa: F811
    import xlsxwriter

    path = tmp_path / "p.xlsx"
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet()
    for c, label in enumerate(penalty_labels()):
        ws.write_string(0, c, label)
        ws.write_string(1, c, "值")
    wb.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result = ingest_file(engine, path, "admin_penalty", "market_regulation", parallel=False)
    assert result.status == "refused" and _chinese(result.message)


@pytest.mark.parametrize("body", [
    b'"a","b\n' * 3,  # unbalanced quotes
    b"\x00\x01\x02\xff\xfe" * 5000,  # binary
    "处罚决定书文号,行政相对人名称\n".encode() + b"\x00" * 1000 + b"\n",  # NUL bytes
], ids=["quotes", "binary", "nul"])
def test_malformed_csv_is_refused_or_rejected_cleanly(engine, db_url, tmp_path, body):  # noqa: F811
    path = tmp_path / "p.csv"
    path.write_bytes(body)
    result = ingest_file(engine, path, "admin_penalty", "market_regulation", parallel=False)
    assert result.status in ("refused", "committed")
    if result.status == "refused":
        assert _chinese(result.message)
    assert _kept(db_url)["records"] == 0


def test_huge_cells_are_bounded(engine, db_url, tmp_path):  # noqa: F811
    labels = penalty_labels()
    path = tmp_path / "p.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(labels)
        w.writerow(["X" * (5 * 1024 * 1024)] * 2 + [""] * (len(labels) - 2))
    result = ingest_file(engine, path, "admin_penalty", "market_regulation", parallel=False)
    assert result.status == "refused" and _chinese(result.message)
    assert _kept(db_url)["records"] == 0
    # Long but readable cells: the row is rejected and the stored error keeps a bounded excerpt.
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(labels)
        w.writerow(["=cmd|' /C calc'!A0" + "Y" * 100_000 for _ in labels])
    result = ingest_file(engine, path, "admin_penalty", "market_regulation", parallel=False)
    assert result.status == "committed" and result.rows_rejected == 1
    with session_scope(db_url) as s:
        values = s.scalars(select(BatchError.value)).all()
        assert values and max(len(v or "") for v in values) <= 1000


def test_deeply_nested_json_is_refused(dept_client, db_url, settings_env, tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    r = dept_client.post("/api/v1/intake/admin_penalty", content=deep, headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and _chinese(r.json()["error"]["message"])
    nested = '[{"处罚决定书文号": ' + "[" * 50_000 + "1" + "]" * 50_000 + "}]"
    for name, body in (("deep.json", nested), ("deep.ndjson", nested[1:-1] + "\n")):
        r = dept_client.post("/api/v1/intake/admin_penalty", files={"file": (name, body.encode(), "application/json")})
        assert r.status_code in (200, 422), r.text
        if r.status_code == 422:
            assert _chinese(r.json()["error"]["message"])
        else:
            assert r.json()["status"] == "refused" and _chinese(r.json()["message"])
    assert _kept(db_url)["records"] == 0 and _kept(db_url)["committed"] == 0
    assert _leftovers(settings_env) == []


def test_path_traversal_file_names_are_neutralised(dept_client, db_url, settings_env, tmp_path):
    path = write_penalty_csv(tmp_path / "p.csv", 3)
    for name in ("../../../../tmp/evil.csv", "..\\..\\windows\\evil.csv", "/etc/passwd.csv", "a\x00b.csv"):
        with open(path, "rb") as fh:
            r = dept_client.post("/api/v1/intake/admin_penalty", files={"file": (name, fh, "text/csv")})
        assert r.status_code == 200, r.text
        stored = r.json()["file_name"]
        assert "/" not in stored and "\\" not in stored and ".." not in stored and "\x00" not in stored
    assert not Path("/tmp/evil.csv").exists()
    assert _leftovers(settings_env) == []  # the temporary upload is always removed


def test_oversized_upload_is_refused_before_it_is_stored(dept_client, db_url, settings_env, tmp_path, monkeypatch):
    import xinyong.intake.api as intake_api

    monkeypatch.setattr(intake_api, "MAX_UPLOAD_BYTES", 64 * 1024)
    path = write_penalty_csv(tmp_path / "p.csv", 1000)
    assert path.stat().st_size > 64 * 1024
    with open(path, "rb") as fh:
        r = dept_client.post("/api/v1/intake/admin_penalty", files={"file": ("p.csv", fh, "text/csv")})
    assert r.status_code == 413 and r.json()["error"]["code"] in ("file_too_large", "payload_too_large")
    assert _chinese(r.json()["error"]["message"])
    # Streamed without a length (chunked): stopped as soon as the limit is passed.
    def chunks():
        for _ in range(100):
            yield b"x" * 16384

    r = dept_client.post("/api/v1/intake/admin_penalty", content=chunks(),
                         headers={"Content-Type": "multipart/form-data; boundary=zzz"})
    assert r.status_code == 413
    assert _kept(db_url)["batches"] == 0 and _leftovers(settings_env) == []


def test_formula_injection_is_neutralised_in_the_error_report(dept_client, db_url, settings_env, tmp_path):
    labels = penalty_labels()
    path = tmp_path / "p.csv"
    payloads = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(labels)
        for p in payloads:
            w.writerow([p] * len(labels))
    with open(path, "rb") as fh:
        r = dept_client.post("/api/v1/intake/admin_penalty", files={"file": ("p.csv", fh, "text/csv")})
    assert r.status_code == 200 and r.json()["rows_rejected"] == len(payloads)
    batch_id = r.json()["batch_id"]
    report = dept_client.get(f"/api/v1/intake/batches/{batch_id}/errors.csv").content.decode("utf-8-sig")
    for row in list(csv.reader(io.StringIO(report)))[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    from python_calamine import CalamineWorkbook

    xlsx = dept_client.get(f"/api/v1/intake/batches/{batch_id}/errors.xlsx").content
    sheet = CalamineWorkbook.from_filelike(io.BytesIO(xlsx)).get_sheet_by_index(0).to_python()
    for row in sheet[1:]:
        for cell in row:
            assert not str(cell).startswith(("=", "+", "-", "@", "\t", "\r")), row
    with zipfile.ZipFile(io.BytesIO(xlsx)) as z:
        assert not any(b"<f>" in z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/"))
    json.dumps(r.json())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_stored_upload_names_never_carry_a_path(name):
    out = safe_upload_name(name)
    assert out and len(out) <= 255 and "/" not in out and "\\" not in out
    assert not out.startswith(".") and not any(ord(c) < 32 or ord(c) == 127 for c in out)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=50))
def test_formula_safe_cells_never_start_a_formula(value):
    assert not formula_safe(value).startswith(("=", "+", "-", "@", "\t", "\r"))
