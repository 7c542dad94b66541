"""The change feed on both databases: every kind of change, in order, with stable cursors."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import select, text

from xinyong.accounts.actor import Actor
from xinyong.db.engine import get_engine, session_scope
from xinyong.errors import InvalidInput
from xinyong.exchange.feed import decode_cursor, encode_cursor, read_page, sequence_pending
from xinyong.intake.models import Record
from xinyong.intake.service import ingest_rows, withdraw_record
from xinyong.workflows.tick import run_tick

from .conftest import penalty, seed_platform

ADMIN = Actor.cli("pytest")


def all_changes(url: str, actor: Actor = ADMIN, *, since: str | None = None, limit: int = 3, **kw) -> list[dict]:
    out, cursor = [], since
    while True:
        with session_scope(url) as s:
            page = read_page(s, actor, since=cursor, limit=limit, **kw)
        out.extend(page.changes)
        if not page.has_more:
            assert page.next_cursor == (page.changes[-1]["cursor"] if page.changes else page.next_cursor)
            return out
        cursor = page.next_cursor


def test_versions_withdrawals_and_window_closings_in_one_ordered_feed(db_url):
    codes = seed_platform(db_url, companies=2, per_company=2)
    changes = all_changes(db_url)
    assert [c["type"] for c in changes] == ["record.created"] * 4
    assert [c["seq"] for c in changes] == [1, 2, 3, 4]
    assert changes[0]["record"]["data"]["decision_no"].startswith("佛市监罚")
    assert changes[0]["subject"]["uscc"] in codes
    last = changes[-1]["cursor"]
    # A correction (new version), a withdrawal (tombstone), a closed window.
    with session_scope(db_url) as s:
        ingest_rows(s, [penalty(10, codes[0], name="佛山市测试1号企业有限公司", fine_amount="6000")],
                    "admin_penalty", "market_regulation", today=date(2026, 11, 2))
    with session_scope(db_url) as s:
        rid = s.scalars(select(Record.id).order_by(Record.id)).all()[1]
        withdraw_record(s, rid, reason="行政处罚决定已被依法撤销", actor=ADMIN)
    with session_scope(db_url) as s:
        s.execute(text("UPDATE records SET public_until = '2026-01-31' WHERE id = (SELECT MIN(id) FROM records)"))
    with session_scope(db_url) as s:
        run_tick(s, date(2026, 11, 20))
    new = all_changes(db_url, since=last)
    assert [c["type"] for c in new] == ["record.updated", "record.withdrawn", "record.window_closed"]
    assert new[0]["record"]["data"]["fine_amount"] == "6000" and new[0]["record"]["version"] == 2
    assert new[1]["tombstone"] is True and "data" not in new[1]["record"]
    assert new[1]["record"]["reason"].startswith("行政处罚决定")
    # Re-running the tick adds nothing; reading again from the same cursor gives the same page.
    with session_scope(db_url) as s:
        run_tick(s, date(2026, 11, 20))
    assert all_changes(db_url, since=last) == new
    assert all_changes(db_url, since=new[-1]["cursor"]) == []


def test_scopes_and_resource_filter(db_url):
    seed_platform(db_url, companies=1)
    with session_scope(db_url) as s:
        ingest_rows(s, [{"subject_name": "佛山市测试1号企业有限公司", "uscc": "91440604MA4UJ3TL0X"}], "admin_license",
                    "market_regulation", today=date(2026, 11, 1))
    scoped = Actor(kind="client", role="dept_querier", id=1, name="c", resources=frozenset({"admin_penalty"}),
                   disclosures=frozenset({"public", "government"}))
    assert {c["resource"] for c in all_changes(db_url, scoped)} == {"admin_penalty"}
    from xinyong.errors import Forbidden

    with pytest.raises(Forbidden), session_scope(db_url) as s:
        read_page(s, scoped, since=None, resources=["admin_license"])
    with pytest.raises(InvalidInput), session_scope(db_url) as s:
        read_page(s, ADMIN, since=None, resources=["no_such_thing"])


def test_cursor_is_opaque_and_checked():
    assert decode_cursor(encode_cursor(12345)) == 12345
    assert decode_cursor(None) == 0 and decode_cursor("") == 0
    for bad in ("abc", "12", "!!", "x" * 100):
        with pytest.raises(InvalidInput):
            decode_cursor(bad)


def test_late_commit_is_never_skipped_on_postgresql(db_url):
    """A transaction that drew its feed row first but commits last must still be read."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time")
    codes = seed_platform(db_url, companies=1, per_company=1)
    engine = get_engine(db_url)
    slow = engine.connect()
    tx = slow.begin()
    # The slow writer inserts a version first (its pending row gets the lower id) and holds on.
    slow.execute(text("INSERT INTO record_versions (record_id, version, change, status, department_id, subject_id,"
                      " content_hash, data, created_at) SELECT id, 99, 'updated', 'active', department_id, subject_id,"
                      " content_hash, data, now() FROM records LIMIT 1"))
    with session_scope(db_url) as s:
        ingest_rows(s, [penalty(77, codes[0], name="佛山市测试1号企业有限公司")], "admin_penalty",
                    "market_regulation", today=date(2026, 11, 2))
    seen = all_changes(db_url)
    assert [c["type"] for c in seen] == ["record.created", "record.created"]
    tx.commit()
    slow.close()
    later = all_changes(db_url, since=seen[-1]["cursor"])
    assert [c["record"]["version"] for c in later] == [99]


def test_concurrent_writers_and_readers_see_each_change_once(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("concurrent writers need PostgreSQL")
    seed_platform(db_url, companies=1, per_company=1)
    from .conftest import usccs

    codes = usccs(40, seed=99)
    errors: list[Exception] = []

    def writer(part: list[str], base: int) -> None:
        try:
            for i, code in enumerate(part):
                with session_scope(db_url) as s:
                    ingest_rows(s, [penalty(base + i, code, name=f"并发企业{base + i}有限公司")],
                                "admin_penalty" if i % 2 else "admin_penalty", "market_regulation",
                                today=date(2026, 11, 3))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(codes[k::4], 1000 + 100 * k)) for k in range(4)]
    for t in threads:
        t.start()
    got: list[int] = []
    cursor = None
    while any(t.is_alive() for t in threads):
        with session_scope(db_url) as s:
            page = read_page(s, ADMIN, since=cursor, limit=7)
        got.extend(c["seq"] for c in page.changes)
        cursor = page.next_cursor
    for t in threads:
        t.join()
    assert not errors
    got.extend(c["seq"] for c in all_changes(db_url, since=cursor, limit=50))
    sequence_pending(get_engine(db_url))
    assert got == list(range(1, 42))


from hypothesis import given
from hypothesis import strategies as st


@given(st.integers(min_value=0, max_value=2**62))
def test_cursor_round_trip(seq):
    assert decode_cursor(encode_cursor(seq)) == seq


@given(st.text(max_size=80))
def test_any_text_is_a_cursor_or_a_clear_refusal(value):
    try:
        assert decode_cursor(value) >= 0
    except InvalidInput as exc:
        assert "游标" in exc.message


def test_list_entry_added_then_removed_appears_as_a_tombstone(db_url, monkeypatch):
    """A black-list entry: published (a record version) and taken off at expiry (a tombstone)."""
    from tests.workflows.conftest import actor_for
    from xinyong.workflows import determinations
    from xinyong.workflows.tick import run_tick

    for k, v in (("XINYONG_ARGON2_TIME_COST", "1"), ("XINYONG_ARGON2_MEMORY_COST", "8"),
                 ("XINYONG_ARGON2_PARALLELISM", "1")):
        monkeypatch.setenv(k, v)
    codes = seed_platform(db_url, companies=1, per_company=1)
    dept = actor_for(db_url, "yjj", "dept_submitter", dept="emergency")
    with session_scope(db_url) as s:
        d = determinations.propose_determination(
            s, dept, resource="safety_production_blacklist", subject=codes[0], facts="发生较大生产安全事故，负有责任。",
            basis="《安全生产严重失信主体名单管理办法》第六条",
            data={"dishonest_facts": "发生较大生产安全事故", "penalty_decision_no": "佛应急罚〔2026〕8号",
                  "decision_no": "佛应急失信〔2026〕1号", "decision_authority": "佛山市应急管理局", "status": "列入"},
            today=date(2026, 11, 1))
        determinations.advance_determination(s, dept, d["id"], "notify", today=date(2026, 11, 1))
        determinations.advance_determination(s, dept, d["id"], "decide", decision_no="佛应急失信〔2026〕1号",
                                             reason="事实清楚，证据确凿。", valid_until=date(2027, 10, 31),
                                             today=date(2026, 11, 9))
        determinations.advance_determination(s, dept, d["id"], "publish", today=date(2026, 11, 9))
    with session_scope(db_url) as s:
        run_tick(s, date(2027, 11, 1))
    changes = all_changes(db_url, resources=["safety_production_blacklist"])
    assert [c["type"] for c in changes] == ["record.created", "record.window_closed", "list.removed"]
    assert changes[-1]["tombstone"] is True and changes[-1]["determination_id"] == d["id"]
    assert changes[0]["record"]["id"] == changes[-1]["record"]["id"]
