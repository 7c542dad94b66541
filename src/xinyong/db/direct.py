"""Statements of the hottest request, a single joint-measures check, run directly on
PostgreSQL's driver (psycopg) connection, inside the session's transaction.

A Core ``execute`` builds an execution context, result metadata and row objects every time:
for the check's three statements that cost more than psycopg's own work (callgrind, the whole
request in process: 4.10 → 3.59 million instructions). Here each statement is compiled once
per dialect and key set; values go through the same type processors SQLAlchemy applies (JSON
is sent as SQLAlchemy sends it), Python-side column defaults are filled in as an INSERT would
fill them, and driver errors are raised as SQLAlchemy raises them (a lost server: 503 and the
pool renewed). On any other driver (SQLite) the same methods run the statement through
SQLAlchemy, so callers need no branch of their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import ClauseElement

_Compiled = tuple[str, dict[str, Any], dict[str, Any], tuple[tuple[str, Any], ...]]


class Direct:
    """One Core statement, run on the driver connection of a SQLAlchemy ``Connection``."""

    __slots__ = ("stmt", "_compiled")

    def __init__(self, stmt: ClauseElement) -> None:
        self.stmt = stmt
        self._compiled: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def _compile(self, conn: Connection, keys: tuple[str, ...] = ()) -> _Compiled:
        dialect = conn.dialect
        hit = self._compiled.get((dialect.name, keys))
        if hit is not None:
            return hit
        defaults: tuple[tuple[str, Any], ...] = ()
        column_keys: list[str] | None = None
        if isinstance(self.stmt, Insert):
            # What an INSERT without these keys would fill in on the Python side.
            table: Any = self.stmt.table
            filled = []
            for col in table.columns:
                d = col.default
                if col.key in keys or d is None:
                    continue
                if d.is_scalar:
                    filled.append((col.key, lambda v=d.arg: v))
                elif d.is_callable:
                    filled.append((col.key, lambda f=d.arg: f(None)))  # SQLAlchemy wraps it to take a context
                else:
                    raise RuntimeError(f"direct INSERT cannot fill the default of {table.name}.{col.key}")
            defaults = tuple(filled)
            column_keys = [*keys, *(k for k, _ in defaults)]
        compiled: Any = self.stmt.compile(dialect=dialect, column_keys=column_keys,
                                          compile_kwargs={"render_postcompile": True})
        processors = {}
        for name, bind in compiled.binds.items():
            proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if proc is not None:
                processors[name] = proc
        fixed = {k: v for k, v in compiled.params.items() if v is not None and k not in keys}
        hit = self._compiled[(dialect.name, keys)] = (str(compiled), fixed, processors, defaults)
        return hit

    def _params(self, c: _Compiled, values: dict[str, Any]) -> dict[str, Any]:
        _, fixed, processors, defaults = c
        params = {**fixed, **values, **{k: make() for k, make in defaults}}
        for name, proc in processors.items():
            if name in params:
                params[name] = proc(params[name])
        return params

    def all(self, conn: Connection, values: dict[str, Any]) -> list[Any]:
        """The rows, as named tuples (attributes by column label)."""
        if conn.dialect.driver != "psycopg":
            return list(conn.execute(self.stmt, values).all())
        from psycopg.rows import namedtuple_row

        c = self._compile(conn)
        params = self._params(c, values)
        with driver_errors(conn, c[0], params) as raw, raw.cursor(row_factory=namedtuple_row) as cur:
            cur.execute(c[0], params)
            return cur.fetchall()

    def returning(self, conn: Connection, values: dict[str, Any]) -> Any:
        """The first column of the one row an ``INSERT … RETURNING`` wrote."""
        if conn.dialect.driver != "psycopg":
            return conn.execute(self.stmt, values).scalar_one()
        c = self._compile(conn, tuple(values))
        params = self._params(c, values)
        with driver_errors(conn, c[0], params) as raw, raw.cursor() as cur:
            cur.execute(c[0], params)
            row = cur.fetchone()
        assert row is not None
        return row[0]

    def many(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Run for every row (each with the same keys)."""
        if not rows:
            return
        if conn.dialect.driver != "psycopg":
            conn.execute(self.stmt, list(rows))
            return
        c = self._compile(conn, tuple(rows[0]))
        params = [self._params(c, r) for r in rows]
        with driver_errors(conn, c[0], params) as raw, raw.cursor() as cur:
            cur.executemany(c[0], params)


@contextmanager
def driver_errors(conn: Connection, statement: str, params: Any) -> Iterator[Any]:
    """The driver connection under ``conn``; its errors re-raised as SQLAlchemy would raise them
    from ``conn.execute`` (a lost connection invalidated first), parameters hidden."""
    import psycopg

    raw = conn.connection.driver_connection
    try:
        yield raw
    except psycopg.Error as exc:
        lost = conn.dialect.is_disconnect(exc, raw, None)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(statement, params, exc, psycopg.Error, hide_parameters=True,
                                  connection_invalidated=lost, dialect=conn.dialect) from exc
