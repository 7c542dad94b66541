"""Schema, migrations and `xinyong init` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from typer.testing import CliRunner

from xinyong.cli import app
from xinyong.db.engine import get_engine
from xinyong.db.migrate import current_revision, head_revision
from xinyong.db.models import Base

runner = CliRunner()


def test_migrations_match_models(db_url):
    """The migration chain produces exactly the schema the models declare (no drift)."""
    engine = get_engine(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []
    assert current_revision(db_url) == head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"departments", "subjects", "subject_identifiers", "subject_names"} <= tables


def test_init_is_idempotent(db_url):
    first = runner.invoke(app, ["init", "--json"])
    assert first.exit_code == 0, first.output
    a = json.loads(first.output)
    assert a["revision"] == head_revision() and a["departments_seeded"] > 0
    second = json.loads(runner.invoke(app, ["init", "--json"]).output)
    assert second["revision_before"] == second["revision"] == a["revision"]
    assert second["departments_seeded"] == 0


def test_init_creates_private_key_file_for_embedded_default(settings_env, monkeypatch):
    monkeypatch.delenv("XINYONG_SECRET_KEY")
    from xinyong.config import reset_settings

    reset_settings()
    res = runner.invoke(app, ["init", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    key = settings_env / "secret.key"
    assert out["key_file_created"] == str(key)
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    assert (settings_env / "xinyong.sqlite3").exists()
    # A second init keeps the key (re-keying would make stored data unreadable).
    before = key.read_bytes()
    assert json.loads(runner.invoke(app, ["init", "--json"]).output)["key_file_created"] is None
    assert key.read_bytes() == before


def test_commands_refuse_uninitialised_database(settings_env):
    res = runner.invoke(app, ["departments", "list"])
    assert res.exit_code == 2
    assert "xinyong init" in res.output


def test_write_turn_queues_sqlite_writers_until_the_transaction_ends(db_url):
    """take_write_turn: on SQLite a second writer waits for the first's commit, rollback or
    close (then goes at once); on PostgreSQL it is a no-op."""
    import threading
    import time

    from sqlalchemy import text

    from xinyong.db import engine as eng
    from xinyong.db.engine import session_scope, take_write_turn

    sqlite = db_url.startswith("sqlite")
    for end in ("commit", "rollback", "close"):
        s = eng.get_sessionmaker(db_url)()
        take_write_turn(s)
        take_write_turn(s)  # a session takes its turn once
        assert eng._write_turn.locked() is sqlite
        s.execute(text("SELECT 1"))
        waited: list[float] = []

        def other() -> None:
            t0 = time.monotonic()
            with session_scope(db_url) as s2:
                take_write_turn(s2)
                waited.append(time.monotonic() - t0)

        t = threading.Thread(target=other)
        t.start()
        time.sleep(0.3)
        if sqlite:
            assert waited == []  # still waiting for the first session's turn
        getattr(s, end)()
        t.join(5)
        s.close()
        assert len(waited) == 1 and (waited[0] >= 0.25 if sqlite else waited[0] < 0.25)
        assert not eng._write_turn.locked()
    # A turn that cannot be had in time lets the write go on (to SQLite's own lock and timeout).
    if sqlite:
        with eng._write_turn:
            s = eng.get_sessionmaker(db_url)()
            take_write_turn(s, timeout=0.05)
            s.close()
        assert not eng._write_turn.locked()


def test_postgresql_connections_run_without_jit_and_keep_the_urls_options(db_url):
    """Requests' short queries are never JIT-compiled (a search once spent 270 ms compiling);
    server options given in the URL still apply."""
    import pytest
    from sqlalchemy import text

    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    with get_engine(db_url).connect() as conn:
        assert conn.scalar(text("SHOW jit")) == "off"
    sep = "&" if "?" in db_url else "?"
    with get_engine(f"{db_url}{sep}options=-c%20work_mem%3D77MB").connect() as conn:
        assert conn.scalar(text("SHOW jit")) == "off" and conn.scalar(text("SHOW work_mem")) == "77MB"


def test_postgresql_pool_pings_only_connections_left_idle_and_replaces_lost_ones(db_url, monkeypatch):
    """A connection used a moment ago goes straight back to work (no ping round trip first);
    one left idle past the window is tested, and one the server dropped meanwhile is replaced
    instead of failing the request. A connection lost inside the window fails that statement
    once, and the next unit of work gets a new connection."""
    import pytest
    from sqlalchemy import exc, text

    from xinyong.db import engine as engine_mod

    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    sep = "&" if "?" in db_url else "?"
    eng = get_engine(f"{db_url}{sep}application_name=xinyong-ping-test")  # its own, empty pool
    pings: list[int] = []
    real_ping = eng.dialect.do_ping
    monkeypatch.setattr(eng.dialect, "do_ping", lambda c: pings.append(1) or real_ping(c))
    backend = text("SELECT pg_backend_pid()")

    def drop(pid: int) -> None:  # as a server restart or an idle timeout would
        with get_engine(db_url).connect() as admin:
            assert admin.scalar(text("SELECT pg_terminate_backend(:p)"), {"p": pid})

    try:
        with eng.connect() as c:
            pid = c.scalar(backend)
        with eng.connect() as c:
            assert c.scalar(backend) == pid
        assert pings == []  # reused at once: not pinged

        drop(pid)
        monkeypatch.setattr(engine_mod, "PING_IDLE_S", 0.0)  # every idle connection counts as long idle
        with eng.connect() as c:
            new_pid = c.scalar(backend)
        assert pings == [1] and new_pid != pid  # pinged, found dead, replaced

        drop(new_pid)
        monkeypatch.setattr(engine_mod, "PING_IDLE_S", 3600.0)  # inside the window: not pinged
        with pytest.raises(exc.DBAPIError) as lost, eng.connect() as c:
            c.scalar(backend)
        assert lost.value.connection_invalidated
        with eng.connect() as c:
            assert c.scalar(backend) not in (pid, new_pid)
        assert pings == [1]
    finally:
        eng.dispose()
