"""No citizen ID in clear: not in the database files, not in logs, not in any API response."""

from __future__ import annotations

import json
import logging
from datetime import date

from sqlalchemy import inspect, text
from typer.testing import CliRunner

from xinyong.cli import app
from xinyong.db.engine import dispose_all, get_engine
from xinyong.synthetic.generator import generate_city
from xinyong.synthetic.load import load_city
from xinyong.synthetic.population import Population

runner = CliRunner()


def _all_table_text(url: str) -> str:
    """Every row of every table, as text (PostgreSQL row-to-text, SQLite via quote())."""
    engine = get_engine(url)
    chunks = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            if engine.dialect.name == "postgresql":
                rows = conn.execute(text(f'SELECT t::text FROM "{table}" t'))
            else:
                cols = [c["name"] for c in inspect(engine).get_columns(table)]
                expr = " || '|' || ".join(f'quote("{c}")' for c in cols)
                rows = conn.execute(text(f'SELECT {expr} FROM "{table}"'))
            chunks.extend(r[0] for r in rows)
    return "\n".join(chunks)


def test_citizen_ids_never_in_clear(db_url, tmp_path, caplog, client):
    caplog.set_level(logging.DEBUG)
    assert runner.invoke(app, ["init"]).exit_code == 0
    city = tmp_path / "city"
    generate_city(city, n_subjects=400, seed=5, as_of=date(2026, 11, 1))
    stats = load_city(city)
    manifest = json.loads((city / "manifest.json").read_text(encoding="utf-8"))
    pop = Population(400, 5, n_persons=manifest["subjects"]["persons"])
    ids = [pop.person(j).citizen_id for j in range(pop.n_persons)]
    assert stats["created"] == 400 + len(ids)
    # Loading again changes nothing.
    assert load_city(city) == {"created": 0, "updated": 0, "unchanged": 400 + len(ids)}

    table_text = _all_table_text(db_url)
    leaked = [cid for cid in ids if cid in table_text or cid.lower() in table_text]
    assert leaked == []
    # The masked form is there, so the scan would have seen the column.
    assert ids[0][:4] + "*" * 10 + ids[0][-4:] in table_text

    if db_url.startswith("sqlite"):
        dispose_all()  # checkpoint the WAL into the file
        path = db_url.removeprefix("sqlite:///")
        raw = b"".join(open(p, "rb").read() for p in (path, path + "-wal") if __import__("os").path.exists(p))
        assert not [cid for cid in ids if cid.encode() in raw]

    # Every person can be found by ID through the API, and the answer never echoes it.
    for cid in ids[:50]:
        r = client.get(f"/api/v1/subjects/{cid}")
        assert r.status_code == 404 and cid not in r.text
    page = client.get("/api/v1/subjects", params={"size": 100}).text
    assert not [cid for cid in ids if cid in page]
    # The test client's own request log (httpx) is the caller's, not the platform's.
    logs = "\n".join(rec.getMessage() for rec in caplog.records if not rec.name.startswith("httpx"))
    assert not [cid for cid in ids if cid in logs]


def test_generate_cli_json(settings_env, tmp_path):
    out = tmp_path / "c"
    res = runner.invoke(app, ["generate", "--subjects", "200", "--seed", "3", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    manifest = json.loads(res.output)
    assert manifest["subjects"]["organisations"] == 200 and manifest["records_total"] > 200
    assert (out / "manifest.json").exists()
    assert all((out / f["path"]).exists() for f in manifest["files"])
