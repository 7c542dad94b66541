"""SQL constructs shared by the features' statements."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, String, any_, bindparam, false, literal_column
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class InBound(ColumnElement[bool]):
    """``column IN :name``, the list given when the statement runs. On PostgreSQL
    ``column = ANY(:name)`` with one array parameter: the SQL text is the same whatever the
    list's length, so neither SQLAlchemy nor psycopg renders and parses a new statement per
    request (an expanding ``IN`` of a page's twenty ids cost ~10% of a search page's CPU), and
    psycopg can prepare it. On SQLite ``column IN (SELECT value FROM json_each(:name))``, one
    JSON parameter, for the same reason. Elsewhere an expanding ``IN``."""

    type = Boolean()
    _is_implicitly_boolean = True  # a comparison: no "= 1" after it where booleans are integers
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("name", InternalTraversal.dp_string), ("strings", InternalTraversal.dp_boolean)]

    def __init__(self, column: Any, name: str, *, strings: bool = False) -> None:
        self.column = column.__clause_element__() if hasattr(column, "__clause_element__") else column
        self.name, self.strings = name, strings


def in_bound(column: Any, name: str, *, strings: bool = False) -> InBound:
    """``column IN`` the list bound as ``name`` at execution (ids; ``strings`` for text)."""
    return InBound(column, name, strings=strings)


@compiles(InBound)
def _in_bound(el: InBound, compiler: Any, **kw: Any) -> str:
    return compiler.process(el.column.in_(bindparam(el.name, expanding=True)), **kw)


@compiles(InBound, "sqlite")
def _in_bound_sqlite(el: InBound, compiler: Any, **kw: Any) -> str:
    # One JSON text parameter, its elements read by json_each: the same SQL for every length.
    values = compiler.process(bindparam(el.name, type_=JSON()), **kw)
    return f"{compiler.process(el.column, **kw)} IN (SELECT value FROM json_each({values}))"


@compiles(InBound, "postgresql")
def _in_bound_pg(el: InBound, compiler: Any, **kw: Any) -> str:
    item = String() if el.strings else BigInteger()
    return compiler.process(el.column == any_(bindparam(el.name, type_=ARRAY(item))), **kw)


_CODE = re.compile(r"^[a-z][a-z0-9_]*$")  # the catalogues' code pattern (catalogue.schemas.CODE_PATTERN)


def in_codes(column: Any, codes: Iterable[str]) -> ColumnElement[bool]:
    """``column IN ('a', 'b', ...)`` for catalogue codes, written into the SQL: a statement built
    once then has the same text at every execution. Given as values, SQLAlchemy binds them as an
    expanding ``IN`` and renders it again for every execution (the public-record rule's resource
    codes: ~10% of a search page's CPU). Only codes are written (``[a-z][a-z0-9_]*``); anything
    else is refused, never quoted."""
    codes = sorted(set(codes))
    bad = [c for c in codes if not _CODE.match(c)]
    if bad:
        raise ValueError(f"not catalogue codes: {bad[:5]}")
    if not codes:
        return false()
    return column.in_([literal_column(f"'{c}'") for c in codes])
