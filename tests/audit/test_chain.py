"""The hash-chained audit log: recording, verification, tampering, anchors, concurrency —
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from xinyong.accounts.actor import Actor
from xinyong.accounts.purposes import Purpose
from xinyong.audit.models import AuditEvent
from xinyong.audit.service import (
    GENESIS,
    Anchor,
    canonical_parts,
    compute_hash,
    make_anchor,
    record_event,
    verify_chain,
)
from xinyong.cli import app as cli
from xinyong.db.engine import get_engine, session_scope

runner = CliRunner()
CLERK = Actor(kind="user", role="dept_querier", id=7, name="clerk", department_id=2,
              department_code="tax", department_name="税务局")


def _fill(db_url: str, n: int = 6) -> None:
    with session_scope(db_url) as s:
        for i in range(n):
            record_event(s, "admin_penalty.read" if i % 2 else "user.create", actor=CLERK, subject_id=100 + i,
                         resources=["admin_penalty"], purpose=Purpose("bidding", "招标投标", f"项目{i}号"),
                         request_id=f"req-{i}", details={"n": i, "nested": {"ok": True, "list": [1, "二"]}})


def _tamper(db_url: str, *statements: str) -> None:
    """What an intruder with database rights does: bypass the append-only triggers, then edit."""
    engine = get_engine(db_url)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # triggers off
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
        for stmt in statements:
            conn.execute(text(stmt))


def _verify(db_url: str, anchor: Anchor | None = None):
    with session_scope(db_url) as s:
        return verify_chain(s, anchor)


def test_record_and_verify(db_url):
    assert _verify(db_url).ok and _verify(db_url).count == 0
    _fill(db_url)
    with session_scope(db_url) as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
        assert events[0].prev_hash == GENESIS
        assert all(b.prev_hash == a.hash for a, b in pairwise(events))
        assert all(compute_hash(e) == e.hash for e in events)
        e = events[1]
        assert (e.actor_kind, e.actor_id, e.actor_name, e.role, e.department) == ("user", "7", "clerk",
                                                                                 "dept_querier", "tax")
        assert (e.purpose_code, e.purpose_text, e.request_id) == ("bidding", "项目1号", "req-1")
        assert e.details == {"n": 1, "nested": {"ok": True, "list": [1, "二"]}}
    result = _verify(db_url)
    assert result.ok and result.count == 6 and result.head_seq == 6 and "审计链完整" in result.message


def test_rolled_back_events_leave_no_gap(db_url):
    _fill(db_url, 2)
    with pytest.raises(RuntimeError), session_scope(db_url) as s:
        record_event(s, "user.create", actor=CLERK)
        raise RuntimeError("the change this event described failed")
    _fill(db_url, 1)
    result = _verify(db_url)
    assert result.ok and result.count == 3 and result.head_seq == 3


def test_edited_event_is_caught(db_url):
    _fill(db_url)
    _tamper(db_url, "UPDATE audit_events SET actor_name = 'someone-else' WHERE seq = 3")
    r = _verify(db_url)
    assert (r.ok, r.reason, r.first_bad_seq, r.count) == (False, "modified", 3, 2)
    assert "第 3 号事件的内容被修改" in r.message


def test_edited_details_are_caught(db_url):
    _fill(db_url)
    _tamper(db_url, """UPDATE audit_events SET details = '{"n": 4, "nested": {"ok": false, "list": [1, "二"]}}'
                       WHERE seq = 5""")
    r = _verify(db_url)
    assert (r.reason, r.first_bad_seq) == ("modified", 5)


def test_deleted_event_is_caught(db_url):
    _fill(db_url)
    _tamper(db_url, "DELETE FROM audit_events WHERE seq = 3")
    r = _verify(db_url)
    assert (r.ok, r.reason, r.first_bad_seq) == (False, "deleted", 3)
    assert "第 3 号事件缺失" in r.message


def test_deleted_and_renumbered_is_caught(db_url):
    _fill(db_url)
    _tamper(db_url, "DELETE FROM audit_events WHERE seq = 3",
            "UPDATE audit_events SET seq = -(seq - 1) WHERE seq > 3",
            "UPDATE audit_events SET seq = -seq WHERE seq < 0")
    r = _verify(db_url)
    assert (r.ok, r.reason, r.first_bad_seq) == (False, "deleted", 3)


def test_swapped_events_are_caught(db_url):
    _fill(db_url)
    _tamper(db_url, "UPDATE audit_events SET seq = -1 WHERE seq = 3",
            "UPDATE audit_events SET seq = 3 WHERE seq = 4",
            "UPDATE audit_events SET seq = 4 WHERE seq = -1")
    r = _verify(db_url)
    assert (r.ok, r.reason, r.first_bad_seq) == (False, "reordered", 3)
    assert "顺序被调换" in r.message and "原为第 4 号" in r.message


def test_anchor_catches_a_rewritten_chain_and_truncation(db_url):
    _fill(db_url)
    with session_scope(db_url) as s:
        anchor = make_anchor(s)
    assert (anchor.head_seq, anchor.count) == (6, 6)
    assert _verify(db_url, anchor).ok
    _fill(db_url, 2)  # the chain grows past the anchor: still fine
    assert _verify(db_url, anchor).ok
    # Rewriting history with freshly computed hashes gives a valid-looking chain;
    # only the externally witnessed anchor notices.
    with session_scope(db_url) as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        prev, updates = GENESIS, []
        for ev in rows:
            if ev.seq == 2:
                ev.actor_name = "forged"
            ev.prev_hash = prev
            ev.hash = compute_hash(ev)
            prev = ev.hash
            updates.append((ev.seq, ev.actor_name, ev.prev_hash, ev.hash))
        s.expunge_all()
    _tamper(db_url, *[f"UPDATE audit_events SET actor_name = '{n}', prev_hash = '{p}', hash = '{h}' "
                      f"WHERE seq = {q}" for q, n, p, h in updates])
    assert _verify(db_url).ok
    r = _verify(db_url, anchor)
    assert (r.ok, r.reason, r.first_bad_seq) == (False, "modified", 6) and "锚点" in r.message
    # Cutting off the tail: also invisible without the anchor.
    with session_scope(db_url) as s:
        anchor = make_anchor(s)
    _tamper(db_url, "DELETE FROM audit_events WHERE seq >= 7")
    assert _verify(db_url).ok
    r = _verify(db_url, anchor)
    assert (r.ok, r.reason, r.first_bad_seq) == (False, "deleted", 7)
    assert "锚点记录的第 8 号事件已不存在" in r.message


def test_append_only_triggers(db_url):
    _fill(db_url, 2)
    for stmt in ("UPDATE audit_events SET actor_name = 'x' WHERE seq = 1", "DELETE FROM audit_events WHERE seq = 2"):
        with pytest.raises(DBAPIError) as exc, session_scope(db_url) as s:
            s.execute(text(stmt))
        assert "append-only" in str(exc.value)
    assert _verify(db_url).count == 2


_json = st.recursive(st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=12),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                     max_leaves=8)


@given(payload=st.fixed_dictionaries(
    {"seq": st.integers(1, 10**15), "prev_hash": st.text("0123456789abcdef", min_size=64, max_size=64),
     "action": st.text(max_size=20), "details": _json, "resources": st.lists(st.text(max_size=8), max_size=3),
     "subject_id": st.none() | st.integers(1, 10**12), "time": st.text(max_size=32)},
    optional={"actor_name": st.text(max_size=10), "purpose_text": st.text(max_size=10), "role": st.none()}))
def test_canonical_parts_rebuild_the_canonical_text(payload):
    """The database hashes a + prev_hash + b + seq + c (audit_append): that must be, byte for
    byte, the canonical JSON the chain is verified against, whatever the event holds."""
    a, b, c = canonical_parts(payload)
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert f"{a}{payload['prev_hash']}{b}{payload['seq']}{c}" == canonical


def test_events_with_awkward_text_verify(db_url):
    """Quotes, backslashes, control characters, CJK and emoji: hashed the same by whichever side
    computes the hash (the database on PostgreSQL) as by the verifier."""
    awkward = 'say "是" \\ path\n\t tab \u0001 😀 𠀀 ‘’ end'
    with session_scope(db_url) as s:
        record_event(s, "subject.read", actor=CLERK.with_(name=awkward), subject_id=1, resources=["admin_penalty", "甲"],
                     purpose=Purpose("bidding", "招标投标", awkward), request_id="r-1",
                     details={"text": awkward, "list": [awkward, 1.5, None, {"深": {"层": [True, False]}}], "empty": {}})
        record_event(s, "subject.read", actor=None, details=None)
    r = _verify(db_url)
    assert r.ok and r.count == 2, r.message
    with session_scope(db_url) as s:
        first = s.scalars(select(AuditEvent).order_by(AuditEvent.seq)).first()
        assert first.purpose_text == awkward and first.details["list"][0] == awkward


def test_an_event_that_ends_the_unit_of_work_commits_it(db_url):
    """commit=True: the change and its event are committed together (on PostgreSQL with the
    append, in one round trip); a rollback after it has nothing left to undo."""
    from xinyong.departments.models import Department

    with session_scope(db_url) as s:
        s.add(Department(code="d1", name="甲局", uscc="11440600MB0000001X"))
        s.flush()
        record_event(s, "department.create", actor=CLERK, details={"code": "d1"}, commit=True)
        s.rollback()
    with session_scope(db_url) as s:
        assert s.scalar(select(Department.name).where(Department.code == "d1")) == "甲局"
    r = _verify(db_url)
    assert r.ok and r.count == 1


def test_a_failed_append_with_commit_rolls_back_as_any_database_error(db_url, monkeypatch):
    """PostgreSQL sends the append and the COMMIT through psycopg's pipeline: a failure there is
    raised as SQLAlchemy's error (what the web layer maps to 503 or 500), nothing of the unit of
    work is kept, and the pool's connection serves the next one."""
    import xinyong.audit.service as svc
    from sqlalchemy.exc import DBAPIError

    from xinyong.departments.models import Department

    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite appends through SQLAlchemy")
    monkeypatch.setattr(svc, "_PG_APPEND_RAW", svc._PG_APPEND_RAW.replace("%(lock)s", "%(lock)s / 0"))
    with pytest.raises(DBAPIError), session_scope(db_url) as s:
        s.add(Department(code="d2", name="乙局", uscc="11440600MB0000002X"))
        s.flush()
        record_event(s, "department.create", actor=CLERK, commit=True)
    monkeypatch.undo()
    with session_scope(db_url) as s:
        assert s.scalar(select(Department.id).where(Department.code == "d2")) is None
        record_event(s, "department.create", actor=CLERK, commit=True)
    r = _verify(db_url)
    assert r.ok and r.count == 1


def test_concurrent_writers_keep_one_chain(db_url):
    """Parallel transactions append in a single well-defined order: no fork, no gap; those whose
    event ends the unit of work (commit=True) interleave with the others."""
    _fill(db_url, 1)
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def writer(k: int) -> None:
        try:
            barrier.wait()
            for i in range(8):
                with session_scope(db_url) as s:
                    record_event(s, "subject.read", actor=CLERK.with_(id=k), subject_id=k, details={"i": i},
                                 commit=(k % 2 == 0 and i != 3))
                    if i == 3:
                        s.rollback()  # an abandoned transaction must not leave a hole
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    r = _verify(db_url)
    assert r.ok and r.count == 1 + 6 * 7 and r.head_seq == r.count


def test_an_appended_event_carries_every_column_of_the_row(session):
    """record_event returns the event as written, not an ORM object: every column of the table,
    so a column added to AuditEvent cannot be left out of the INSERT and the hash."""
    from dataclasses import fields

    from xinyong.audit.service import AppendedEvent

    assert [f.name for f in fields(AppendedEvent)] == [c.key for c in AuditEvent.__table__.columns]
    ev = record_event(session, "subject.read", actor=CLERK, subject_id=7, details={"n": 1})
    row = session.scalar(select(AuditEvent).where(AuditEvent.seq == ev.seq))
    assert {c.key: getattr(row, c.key) for c in AuditEvent.__table__.columns if c.key != "time"} == \
        {c.key: getattr(ev, c.key) for c in AuditEvent.__table__.columns if c.key != "time"}
    assert compute_hash(row) == ev.hash


def test_secrets_are_refused_and_ids_masked(session):
    with pytest.raises(ValueError):
        record_event(session, "user.create", details={"password": "hunter2hunter2"})
    with pytest.raises(ValueError):
        record_event(session, "client.create", details={"nested": {"api_key": "xy_1_abc"}})
    ev = record_event(session, "subject.read", details={"note": "查询 110101199003074514 的记录"})
    assert "110101199003074514" not in json.dumps(ev.details, ensure_ascii=False)
    with pytest.raises(Exception) as exc:
        record_event(session, "Bad Action")
    assert "审计动作名称不合法" in str(exc.value)


def test_audit_cli(db_url, tmp_path):
    assert runner.invoke(cli, ["init"]).exit_code == 0
    res = runner.invoke(cli, ["audit", "verify", "--json"])
    assert res.exit_code == 0 and json.loads(res.output)["count"] == 0
    _fill(db_url)
    anchor_file = tmp_path / "anchor.json"
    res = runner.invoke(cli, ["audit", "anchor", "--out", str(anchor_file)])
    assert res.exit_code == 0, res.output
    saved = json.loads(anchor_file.read_text(encoding="utf-8"))
    assert saved["head_seq"] == 6 and saved["count"] == 6 and len(saved["head_hash"]) == 64
    assert json.loads(runner.invoke(cli, ["audit", "anchor"]).output)["head_hash"] == saved["head_hash"]
    res = runner.invoke(cli, ["audit", "verify", "--anchor", str(anchor_file)])
    assert res.exit_code == 0 and "与锚点一致" in res.output
    tail = json.loads(runner.invoke(cli, ["audit", "tail", "--limit", "2", "--json"]).output)
    assert [e["seq"] for e in tail] == [6, 5]
    assert "user.create" in runner.invoke(cli, ["audit", "tail"]).output
    _tamper(db_url, "UPDATE audit_events SET purpose_text = '改过' WHERE seq = 4")
    res = runner.invoke(cli, ["audit", "verify", "--json"])
    assert res.exit_code == 1
    body = json.loads(res.output)
    assert (body["ok"], body["first_bad_seq"], body["reason"]) == (False, 4, "modified")
    res = runner.invoke(cli, ["audit", "verify"])
    assert res.exit_code == 1 and "第 4 号事件的内容被修改" in res.output
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    res = runner.invoke(cli, ["audit", "verify", "--anchor", str(bad)])
    assert res.exit_code == 2 and "锚点文件格式不正确" in res.output
