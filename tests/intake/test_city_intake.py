"""The synthetic city goes in whole; a copy with injected faults gives exactly the expected
accepted and rejected rows. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.catalogue import load_catalogue
from xinyong.catalogue.validation import excel_serial
from xinyong.intake.models import IntakeBatch, Record, RecordVersion
from xinyong.intake.service import ingest_city, ingest_file
from xinyong.synthetic.generator import read_manifest

from .conftest import AS_OF

PENALTY = load_catalogue().get("admin_penalty")
FULL = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})


def test_city_ingests_whole_and_again_unchanged(registered, city):
    manifest = read_manifest(city)
    results = ingest_city(registered, city)
    assert len(results) == len(manifest["files"])
    assert all(r.status == "committed" for r in results)
    assert [(r.file_name, r.errors[:3]) for r in results if r.rows_rejected] == []
    assert sum(r.rows_accepted for r in results) == manifest["records_total"]
    assert sum(r.records_created for r in results) == manifest["records_total"]
    # Every subject is in the registry: every row matched, nothing created.
    assert sum(r.subjects_created for r in results) == 0
    assert all(r.match_rate == 1.0 for r in results)
    assert {r.resource for r in results} == set(load_catalogue().codes)

    again = ingest_city(registered, city)
    assert sum(r.records_unchanged for r in again) == manifest["records_total"]
    assert sum(r.records_created + r.records_updated + r.rows_rejected for r in again) == 0
    with Session(registered) as s:
        assert s.scalar(select(func.count()).select_from(Record)) == manifest["records_total"]
        assert s.scalar(select(func.count()).select_from(RecordVersion)) == manifest["records_total"]
        assert s.scalar(select(func.count()).select_from(IntakeBatch)) == 2 * len(manifest["files"])


def _penalty_rows(city: Path) -> list[dict[str, str]]:
    """Every admin_penalty row of the city's CSV files (several departments)."""
    out = []
    for entry in read_manifest(city)["files"]:
        if entry["resource"] == "admin_penalty" and entry["format"] == "csv":
            with open(city / entry["path"], encoding=entry["encoding"], newline="") as fh:
                data = list(csv.reader(fh))
            codes = [f.code for f in PENALTY.map_headers(data[0])]
            out.extend(dict(zip(codes, row)) for row in data[1:])
    return out


def test_injected_faults_give_exactly_the_expected_rows(engine, city, tmp_path):
    rows = _penalty_rows(city)[:60]
    org = [i for i, r in enumerate(rows) if r["subject_category"] == "法人及非法人组织"]
    fined = [i for i in org if "罚款" in r_cat(rows[i])]
    person = [i for i, r in enumerate(rows) if r["subject_category"] == "自然人"]
    expected: dict[int, tuple[str | None, str]] = {}  # index → (field, code)

    def fault(i: int, field: str | None, code: str, **changes: str) -> None:
        rows[i] = {**rows[i], **changes}
        expected[i] = (field, code)

    a, b, c, d, e, f, g, h = org[:8]
    bad_uscc = rows[a]["authority_uscc"][:-1] + ("0" if rows[a]["authority_uscc"][-1] != "0" else "1")
    fault(a, "authority_uscc", "invalid_uscc", authority_uscc=bad_uscc)
    fault(b, "decision_date", "invalid_date", decision_date="2025-02-30")
    fault(c, "violation_type", "required", violation_type="")
    fault(d, "penalty_category", "invalid_enum", penalty_category="罚没")
    fault(e, "remarks", "formula_like", remarks='=HYPERLINK("http://example.com","详情")')
    fault(f, "uscc", "required", uscc="")  # 法人及非法人组织 without a USCC
    j = next(i for i in fined if i not in expected)
    fault(j, "fine_amount", "required", fine_amount="")  # 罚款 without an amount
    if person:
        cid = rows[person[0]]["id_no"]
        fault(person[0], "id_no", "invalid_citizen_id", id_no=cid[:-1] + ("0" if cid[-1] != "0" else "1"))
    # Harmless variations that must be accepted and normalised.
    rows[g] = {**rows[g], "decision_date": str(excel_serial(__import__("datetime").date.fromisoformat(rows[g]["decision_date"])))}
    rows[h] = {**rows[h], "uscc": rows[h]["uscc"].lower().translate(FULL),
               "authority_uscc": rows[h]["authority_uscc"].translate(FULL)}
    duplicate = dict(rows[h])  # the same row twice: the second is a duplicate, not an error
    conflicting = {**rows[g], "violation_facts": rows[g]["violation_facts"] + "（更正）"}
    rows += [duplicate, conflicting]
    expected[len(rows) - 1] = (None, "duplicate_key_conflict")

    path = tmp_path / "处罚信息.csv"
    with open(path, "w", encoding="gbk", newline="") as fh:  # an older system's export
        w = csv.writer(fh)
        w.writerow([f.label for f in PENALTY.fields])
        w.writerows([[r.get(fl.code, "") for fl in PENALTY.fields] for r in rows])

    result = ingest_file(engine, path, "admin_penalty", "market_regulation", today=AS_OF)
    assert result.status == "committed" and result.encoding == "gb18030"
    assert result.rows_total == len(rows)
    assert result.rows_rejected == len(expected)
    assert result.rows_accepted == len(rows) - len(expected)
    assert result.rows_duplicate == 1 and result.records_unchanged == 1
    assert result.records_created == len(rows) - len(expected) - 1
    got = {(e["row"], e["field"], e["code"]) for e in result.errors}
    assert got == {(i + 2, fld, code) for i, (fld, code) in expected.items()}  # line 1 is the header
    messages = {e["code"]: e["message"] for e in result.errors}
    assert "校验位" in messages["invalid_uscc"]
    assert "不是有效日期" in messages["invalid_date"] and "2024/3/5" in messages["invalid_date"]
    assert "罚没" in messages["invalid_enum"]
    assert "公式" in messages["formula_like"]
    assert f"第{g + 2}行" in messages["duplicate_key_conflict"]
    # The error report is formula-safe, in CSV and XLSX.
    report = Path(result.error_report["csv"]).read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in report and "\n=" not in report and ",=" not in report
    assert Path(result.error_report["xlsx"]).exists()

    with Session(engine) as s:
        stored = {r.natural_key: r.data for r in s.scalars(select(Record))}
    g_row = stored[f"{rows[g]['decision_no']} / {rows[g]['authority']}"]
    assert g_row["decision_date"] == _penalty_rows(city)[g]["decision_date"]  # serial → ISO
    h_row = stored[f"{rows[h]['decision_no']} / {rows[h]['authority']}"]
    assert h_row["uscc"] == rows[h]["uscc"].translate({c + 0xFEE0: c for c in range(0x21, 0x7F)}).upper()

    # The same file again: every accepted row unchanged, the same rows rejected.
    again = ingest_file(engine, path, "admin_penalty", "market_regulation", today=AS_OF)
    assert again.records_unchanged == result.rows_accepted
    assert again.records_created == again.records_updated == 0
    assert again.rows_rejected == result.rows_rejected
    assert json.dumps(again.errors, ensure_ascii=False) == json.dumps(result.errors, ensure_ascii=False)


def r_cat(row: dict[str, str]) -> str:
    return row.get("penalty_category") or ""
