"""`xinyong ingest` / `ingest-city` / `intake …`, and no citizen ID in clear anywhere intake
writes: database, error reports, CLI output, logs."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from pathlib import Path

from typer.testing import CliRunner

from xinyong.catalogue import load_catalogue
from xinyong.cli import app
from xinyong.db.engine import dispose_all
from xinyong.synthetic.generator import read_manifest
from xinyong.synthetic.population import Population

from .conftest import AS_OF, CITY_SEED, penalty_labels, write_csv

runner = CliRunner()
PENALTY = load_catalogue().get("admin_penalty")


def _all_table_text(url: str) -> str:
    from tests.synthetic.test_personal_data import _all_table_text as dump

    return dump(url)


def leaked(ids: list[str], text: str) -> list[str]:
    """IDs from ``ids`` found in ``text`` (one regex pass, not one scan per ID)."""
    wanted = set(ids)
    found = set()
    for run in re.findall(r"[0-9Xx]{15,}", text):
        for size in (15, 18):
            found.update(run[i:i + size].upper() for i in range(len(run) - size + 1))
    return sorted(wanted & found)


def _city_ids(city: Path) -> list[str]:
    manifest = read_manifest(city)
    pop = Population(manifest["subjects"]["organisations"], CITY_SEED, n_persons=manifest["subjects"]["persons"])
    ids = [pop.person(j).citizen_id for j in range(pop.n_persons)]
    ids += [pop.subject(i).legal_rep_id for i in range(pop.n_subjects)]
    return ids


def test_cli_ingest_json_exit_codes_and_no_ids_in_clear(engine, db_url, city, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    out = runner.invoke(app, ["ingest-city", str(city), "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)
    assert summary["rows_rejected"] == 0 and summary["refused"] == 0
    assert summary["rows_accepted"] == read_manifest(city)["records_total"]

    # A file with a broken citizen ID and a broken legal representative's ID.
    ids = _city_ids(city)
    penalty_file = next(f for f in read_manifest(city)["files"] if f["resource"] == "admin_penalty" and f["format"] == "csv")
    with open(city / penalty_file["path"], encoding=penalty_file["encoding"], newline="") as fh:
        header, *rows = list(csv.reader(fh))
    idx = {c: header.index(PENALTY.field(c).label) for c in ("id_no", "legal_rep_id_no", "decision_no", "id_type")}
    bad = []
    for n, row in enumerate(rows[:6]):
        row[idx["decision_no"]] += "-改"
        field = "id_no" if row[idx["id_no"]] else "legal_rep_id_no"
        cid = row[idx[field]]
        row[idx[field]] = cid[:-1] + ("0" if cid[-1] != "0" else "1")
        bad.append(row[idx[field]])
    path = write_csv(tmp_path / "faulty.csv", header, rows[:6])
    out = runner.invoke(app, ["ingest", str(path), "-r", "admin_penalty", "-d", "佛山市市场监督管理局", "--json",
                              "--today", AS_OF.isoformat()])
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    for key in ("batch_id", "rows_total", "rows_accepted", "rows_rejected", "records_created", "records_updated",
                "records_unchanged", "subjects_created", "match_rate", "errors", "error_report"):
        assert key in result
    assert result["rows_rejected"] == 6 and {e["code"] for e in result["errors"]} == {"invalid_citizen_id"}
    assert all({"row", "field", "code", "message"} <= set(e) for e in result["errors"])
    report = Path(result["error_report"]["csv"]).read_text(encoding="utf-8-sig")
    xlsx = Path(result["error_report"]["xlsx"]).read_bytes()

    # Human output: summary and a progress bar (on stderr); same privacy rules.
    human = runner.invoke(app, ["ingest", str(path), "-r", "admin_penalty", "-d", "market_regulation",
                                "--today", AS_OF.isoformat()])
    assert human.exit_code == 0 and "拒收 6 行" in human.stdout

    texts = {"cli json": out.stdout, "cli human": human.output, "report": report,
             "database": _all_table_text(db_url),
             "logs": "\n".join(r.getMessage() for r in caplog.records)}
    assert leaked(ids, f"x{ids[0]}y") == [ids[0]]  # the scan does see an ID
    for where, text in texts.items():
        assert leaked(ids + bad, text) == [], where
    assert leaked(ids + bad, xlsx.decode("latin-1")) == []
    if db_url.startswith("sqlite"):
        dispose_all()
        file = db_url.removeprefix("sqlite:///")
        raw = b"".join(Path(p).read_bytes() for p in (file, file + "-wal") if os.path.exists(p))
        assert leaked(ids, raw.decode("latin-1")) == []

    timeliness = runner.invoke(app, ["intake", "timeliness", "--json"])
    assert timeliness.exit_code == 0
    rows = json.loads(timeliness.stdout)["departments"]
    assert rows and all(0 <= d["on_time_rate"] <= 1 and d["total"] == d["on_time"] + d["late"] for d in rows)
    batch = runner.invoke(app, ["intake", "batch", str(result["batch_id"]), "--json"])
    assert json.loads(batch.stdout)["rows_rejected"] == 6


def test_cli_refusals_exit_2_with_a_chinese_message(engine, tmp_path):
    no_header = tmp_path / "x.csv"
    no_header.write_text("这不是表头\n1,2,3\n", encoding="utf-8")
    out = runner.invoke(app, ["ingest", str(no_header), "-r", "admin_penalty", "-d", "market_regulation", "--json"])
    assert out.exit_code == 2
    assert json.loads(out.stdout)["status"] == "refused" and "表头" in json.loads(out.stdout)["message"]
    wrong = write_csv(tmp_path / "l.csv", [f.label for f in load_catalogue().get("admin_license").fields], [])
    out = runner.invoke(app, ["ingest", str(wrong), "-r", "admin_penalty", "-d", "market_regulation"])
    assert out.exit_code == 2 and "缺少必填列" in out.output
    out = runner.invoke(app, ["ingest", str(wrong), "-r", "no_such_resource", "-d", "market_regulation"])
    assert out.exit_code == 2 and "没有资源" in out.output
    out = runner.invoke(app, ["ingest", str(tmp_path / "missing.csv"), "-r", "admin_penalty", "-d", "market_regulation"])
    assert out.exit_code == 2 and "无法读取文件" in out.output
    out = runner.invoke(app, ["ingest", str(wrong), "-r", "admin_penalty", "-d", "不存在的局"])
    assert out.exit_code == 2 and "未找到部门" in out.output


def test_cli_needs_an_initialised_database(settings_env, tmp_path):
    path = write_csv(tmp_path / "p.csv", penalty_labels(), [])
    out = runner.invoke(app, ["ingest", str(path), "-r", "admin_penalty", "-d", "market_regulation"])
    assert out.exit_code == 2 and "xinyong init" in out.output
