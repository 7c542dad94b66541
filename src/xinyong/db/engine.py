from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from xinyong.config import get_settings

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_makers: dict[str, sessionmaker[Session]] = {}


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - exercised implicitly
    cur = dbapi_conn.cursor()
    # WAL lets the portal read while intake writes; FK enforcement is off by default in SQLite.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


#: A pooled PostgreSQL connection idle longer than this is pinged before it is handed out.
PING_IDLE_S = 1.0


def _ping_if_idle(engine: Engine) -> None:
    """Ping a connection before use only when it has sat in the pool for ``PING_IDLE_S``: one
    used a moment ago is alive as far as a ping could tell, and ``pool_pre_ping`` cost every
    unit of work a round trip (psycopg's empty query) before its first statement. A dead one is
    replaced, the pool's older ones with it (as pre-ping does). A server lost within the last
    second fails the statement in flight: SQLAlchemy then invalidates the pool the same way."""

    def connected(_dbapi_conn, record) -> None:
        record.info["idle_since"] = None  # new: nothing to test

    def returned(_dbapi_conn, record) -> None:
        record.info["idle_since"] = time.monotonic()

    def handed_out(dbapi_conn, record, _proxy) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < PING_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as err:
            if engine.dialect.is_disconnect(err, dbapi_conn, None):
                # As pool_pre_ping does: the server went away, so every older connection is stale.
                raise sa_exc.InvalidatePoolError(str(err)) from err
            raise

    event.listen(engine, "connect", connected)
    event.listen(engine, "checkin", returned)
    event.listen(engine, "checkout", handed_out)


@lru_cache(maxsize=64)
def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and route them to psycopg 3. (Cached: every unit of
    work asks, and parsing the URL cost more than the rest of opening a session.)"""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def get_engine(url: str | None = None) -> Engine:
    url = normalize_url(url or get_settings().resolved_database_url)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            u = make_url(url)
            kwargs: dict = {"future": True, "echo": get_settings().sql_echo}
            if u.get_backend_name() == "sqlite":
                if u.database and u.database != ":memory:":
                    Path(u.database).parent.mkdir(parents=True, exist_ok=True)
                    # As many as the server's worker threads use at once: with the default five,
                    # every request past five opened a connection (and its pragmas) and closed it.
                    kwargs.update(pool_size=16, max_overflow=24)
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            else:
                kwargs.update(pool_size=10, max_overflow=10)
                # No JIT compilation: it pays off only for long analytical scans, and a search
                # over a million subjects spent 100-270 ms compiling a query that ran in 20 ms.
                # (The rating run turns it back on for its own transaction.)
                given = u.query.get("options")  # a URL's own server options are kept
                kwargs["connect_args"] = {"options": " ".join([*([given] if isinstance(given, str) else given or []),
                                                              "-c jit=off"])}
            engine = create_engine(url, **kwargs)
            if u.get_backend_name() == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                _ping_if_idle(engine)
            _engines[url] = engine
        return engine


def get_sessionmaker(url: str | None = None) -> sessionmaker[Session]:
    key = normalize_url(url or get_settings().resolved_database_url)  # the key of get_engine's dict
    maker = _makers.get(key)
    if maker is not None:
        return maker
    engine = get_engine(key)
    with _lock:
        maker = _makers.get(key)
        if maker is None or maker.kw.get("bind") is not engine:
            maker = sessionmaker(bind=engine, expire_on_commit=False, future=True)
            _makers[key] = maker
        return maker


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A unit of work: commits on success, rolls back everything on any error."""
    session = get_sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def read_scope(url: str | None = None) -> Iterator[Session]:
    """A session for a read that needs no transaction (one statement): nothing is committed,
    and on PostgreSQL its connection runs in autocommit, which saves the BEGIN and COMMIT round
    trips. Never write through it: writes belong in a ``session_scope``."""
    session = get_sessionmaker(url)()
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
    finally:
        session.close()


# -- SQLite: one writer at a time, queued in the process ------------------------------------------

_write_turn = threading.Lock()
_TURN = "xinyong.write_turn"


def take_write_turn(session: Session, timeout: float = 30.0) -> None:
    """On SQLite, wait in this process for the turn to write, held until the session's
    transaction ends (commit, rollback or close); a no-op on PostgreSQL.

    SQLite has one write lock; a writer that finds it taken polls in SQLite's busy handler,
    sleeping 1, 2, 5 … 100 ms between tries, so under load a short write waited tens or hundreds
    of milliseconds after the lock was free. Writers that take a turn first queue on a lock that
    wakes the next one at once. Call it just before the first write of a short unit of work.
    Other writers (and other processes) still meet SQLite's own lock and busy timeout; after
    ``timeout`` seconds without a turn, the write goes ahead and meets it too."""
    if session.info.get(_TURN) or session.get_bind().dialect.name != "sqlite":
        return
    session.connection()  # a transaction whose end gives the turn back, even if nothing is written
    if _write_turn.acquire(timeout=timeout):
        session.info[_TURN] = True


@event.listens_for(Session, "after_transaction_end")
def _end_write_turn(session: Session, transaction) -> None:
    if transaction.parent is None and session.info.pop(_TURN, False):
        _write_turn.release()


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _makers.clear()
