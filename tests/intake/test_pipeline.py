"""The helper process gives the same batch as in-process preparation; a file broken half-way
is refused whole. SQLite and PostgreSQL."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from xinyong.intake.bulkdata import write_penalty_csv
from xinyong.intake.models import IntakeBatch, Record
from xinyong.intake.service import ingest_file

from .conftest import AS_OF


@pytest.fixture(scope="module")
def faulty(tmp_path_factory):
    path = write_penalty_csv(tmp_path_factory.mktemp("pipeline") / "p.csv", 3000)
    with open(path, encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    for i in (5, 700, 2999):
        rows[i][header.index("处罚决定日期")] = "2024-13-01"
    rows.append(list(rows[10]))  # an identical duplicate
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    return path


def test_helper_and_in_process_agree(engine, faulty):
    helper = ingest_file(engine, faulty, "admin_penalty", "market_regulation", today=AS_OF, parallel=True, chunk_rows=700)
    assert (helper.rows_total, helper.rows_rejected, helper.rows_duplicate, helper.records_created) == (3001, 3, 1, 2997)
    assert [e["row"] for e in helper.errors] == [7, 702, 3001]
    again = ingest_file(engine, faulty, "admin_penalty", "market_regulation", today=AS_OF, parallel=False)
    assert (again.records_unchanged, again.records_created, again.records_updated) == (2998, 0, 0)
    assert again.errors == helper.errors
    once_more = ingest_file(engine, faulty, "admin_penalty", "market_regulation", today=AS_OF, parallel=True)
    assert (once_more.records_unchanged, once_more.rows_rejected) == (2998, 3)


def test_a_file_broken_half_way_is_refused_whole(engine, tmp_path):
    path = write_penalty_csv(tmp_path / "p.ndjson.csv", 50)
    json_path = tmp_path / "p.json"
    with open(path, encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    import json

    objs = [json.dumps(dict(zip(header, r)), ensure_ascii=False) for r in rows]
    json_path.write_text("[" + ",\n".join(objs) + ",\n{\"行政相对人名称\": ", encoding="utf-8")  # cut off
    result = ingest_file(engine, json_path, "admin_penalty", "market_regulation", today=AS_OF, chunk_rows=10)
    assert result.status == "refused" and "JSON" in result.message
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 0
        batch = s.scalar(select(IntakeBatch))
        assert batch.status == "refused" and batch.rows_total == 0


def test_an_unexpected_failure_keeps_nothing_but_a_trace(engine, faulty, monkeypatch):
    from xinyong.intake import store

    original, calls = store.BatchStore.apply, []

    def failing(self, chunk):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated failure")
        return original(self, chunk)

    monkeypatch.setattr(store.BatchStore, "apply", failing)
    with pytest.raises(RuntimeError):
        ingest_file(engine, faulty, "admin_penalty", "market_regulation", today=AS_OF, parallel=True, chunk_rows=500)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 0
        batch = s.scalar(select(IntakeBatch))
        assert batch.status == "failed" and "未入库" in batch.message


def test_text_with_copy_format_characters_is_stored_as_sent(engine, tmp_path):
    """Backslashes, tabs, line ends and a literal \\N (COPY's own escapes) in free text and in the
    natural key reach the record and its first version unchanged."""
    import json

    from xinyong.intake.models import RecordVersion

    path = write_penalty_csv(tmp_path / "p.csv", 6)
    with open(path, encoding="utf-8", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    facts, number = header.index("违法事实"), header.index("行政处罚决定书文号")
    odd = ["含\\反斜杠", "含\t制表符", "多\n行\r\n文本", "\\N", '引号"\\t"', "末尾\\"]
    for row, text in zip(rows, odd):
        row[facts] = row[facts] + text
        row[number] = row[number].replace("号", text.replace("\n", "").replace("\r", "") + "号")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    result = ingest_file(engine, path, "admin_penalty", "market_regulation", today=AS_OF, parallel=False)
    assert (result.records_created, result.rows_rejected) == (6, 0), result.errors
    with Session(engine) as s:
        records = s.scalars(select(Record).order_by(Record.id)).all()
        versions = {v.record_id: v for v in s.scalars(select(RecordVersion))}
    for rec, text in zip(records, odd):
        data = rec.data if isinstance(rec.data, dict) else json.loads(rec.data)
        assert data["violation_facts"].endswith(text)
        assert text.replace("\n", "").replace("\r", "").strip() in rec.natural_key
        assert versions[rec.id].data == rec.data
    # Row numbers are the file's line numbers (a cell with line breaks spans several).
    assert [versions[r.id].row_no for r in records] == [2, 3, 4, 7, 8, 9]
    again = ingest_file(engine, path, "admin_penalty", "market_regulation", today=AS_OF, parallel=True)
    assert again.records_unchanged == 6


def test_gc_pauses_nest_and_restore():
    import gc

    from xinyong.intake.pipeline import gc_paused

    assert gc.isenabled()
    with gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # a caller's own choice is left alone
    finally:
        gc.enable()


def test_hints_are_read_after_a_concurrent_batch_commits(engine, tmp_path):
    """A file that re-sends records another writer is changing at that moment: the helper's
    unchanged-row hints wait for this batch's writer lock, so the record changed meanwhile is
    updated back to the file's content, not counted unchanged."""
    import threading
    import time

    from sqlalchemy import text, update

    from xinyong.intake.store import BatchStore

    path = write_penalty_csv(tmp_path / "p.csv", 40)
    first = ingest_file(engine, path, "admin_penalty", "market_regulation", today=AS_OF, parallel=False)
    assert first.records_created == 40
    with Session(engine) as s:
        target, original = s.execute(select(Record.id, Record.content_hash).order_by(Record.id).limit(1)).one()
    # Another writer of the same resource holds its lock and changes one record.
    other = Session(engine)
    if engine.dialect.name == "sqlite":
        other.connection().exec_driver_sql("BEGIN IMMEDIATE")
    else:
        BatchStore.lock(other, "admin_penalty")
    other.execute(update(Record).where(Record.id == target).values(content_hash="changed-elsewhere",
                                                                   raw_hash="changed-elsewhere"))
    results = []
    worker = threading.Thread(target=lambda: results.append(ingest_file(
        engine, path, "admin_penalty", "market_regulation", today=AS_OF, parallel=True)))
    worker.start()
    time.sleep(3)  # the helper is up and has read the file; its lookups must still wait
    other.commit()
    other.close()
    worker.join(timeout=120)
    (again,) = results
    assert (again.records_updated, again.records_unchanged, again.records_created) == (1, 39, 0)
    with Session(engine) as s:
        assert s.scalar(select(Record.content_hash).where(Record.id == target)) == original
        assert s.scalar(text("SELECT count(*) FROM records")) == 40
