"""What the public may see of a record right now: the one rule every public surface uses.

The portal, search, double-publicity lists, exports, public API and reports all filter with
``public_record_clause`` and label with ``record_status_label``; none of them decides
visibility on its own. The workflows (disclosure windows, objections, repair) change the
state this module reads, so a record leaves every public surface at once:

* a record of a non-public resource, a withdrawn (撤销) record, a record the window rules do
  not publish (minor penalties, ``ends_when`` met), a repaired (已修复) record, and a record past
  its last day of publication (``public_until``) or its own valid-until date are not public;
* a record with an open objection stays public, labelled 异议处理中.

The window's end is a date comparison, so a record leaves the public surfaces on the day its
window ends even before ``xinyong tick`` has recorded the closure.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, true

from xinyong.catalogue import load_catalogue
from xinyong.db.sql import in_codes
from xinyong.intake.models import Record

OBJECTION_OPEN = "异议处理中"
REPAIRED = "已修复"
WITHDRAWN = "已撤销"
WINDOW_CLOSED = "已过公示期"
NOT_PUBLISHED = "不予公示"


def public_resource_codes() -> list[str]:
    return sorted(r.code for r in load_catalogue().resources.values() if r.is_public)


def _today(today: date | None) -> date:
    if today is not None:
        return today
    from xinyong.workflows.clock import today as clock_today

    return clock_today()


_clauses: dict[tuple, ColumnElement[bool]] = {}
_clauses_lock = threading.Lock()


def public_record_clause(today: date | None = None) -> ColumnElement[bool]:
    """SQL condition: the record is of a public resource, in force, published under its window
    rules, not repaired, and neither past its window nor its own end date."""
    today = _today(today)
    codes = tuple(public_resource_codes())
    if not codes:
        return false()
    # Building this expression cost about a millisecond, twice per public page; it depends only
    # on the day and the catalogue, and SQLAlchemy expressions are immutable, so it is reused.
    key = (today, codes)
    clause = _clauses.get(key)
    if clause is None:
        clause = and_(in_codes(Record.resource, codes), in_force_clause(today))
        with _clauses_lock:
            if len(_clauses) > 64:
                _clauses.clear()
            _clauses[key] = clause
    return clause


_built: dict[tuple, tuple[ColumnElement[bool], Any]] = {}


def built_on_public_clause(key: Hashable, today: date | None, build: Callable[[ColumnElement[bool]], Any]) -> Any:
    """``build(clause)`` (a statement filtering with the day's ``public_record_clause``), built
    once per ``key`` and clause and reused: building a page's statements cost more than running
    them. A new day or catalogue gives a new clause, and so a new statement."""
    clause = public_record_clause(today)
    hit = _built.get((key, id(clause)))
    if hit is None or hit[0] is not clause:  # the clause kept in the entry: its id is never reused
        hit = (clause, build(clause))
        with _clauses_lock:
            if len(_built) > 256:
                _built.clear()
            _built[(key, id(clause))] = hit
    return hit[1]


def in_force_clause(today: date | None = None) -> ColumnElement[bool]:
    """The same rule without the resource's disclosure class: the record is in force, published
    under its window rules, not repaired, and neither past its window nor its own end date.
    For government uses of non-public resources under the same rule (joint measures, #7)."""
    today = _today(today)
    return and_(
        Record.status == "active",
        Record.published == true(),
        Record.repaired_at.is_(None),
        or_(Record.valid_until.is_(None), Record.valid_until >= today),
        or_(Record.public_until.is_(None), Record.public_until >= today),
    )


def is_public(record: Record, today: date | None = None) -> bool:
    """The same rule for one loaded record (pages that already hold the row)."""
    today = _today(today)
    return (record.resource in set(public_resource_codes()) and record.status == "active"
            and record.published is not False and record.repaired_at is None
            and (record.valid_until is None or record.valid_until >= today)
            and (record.public_until is None or record.public_until >= today))


def record_status_label(record: Record, today: date | None = None) -> str | None:
    """The status shown beside a record (None: nothing special). Public pages only ever see
    public records, so they show at most 异议处理中; the subject's own file sees them all."""
    if record.status == "withdrawn":
        return WITHDRAWN
    if record.repaired_at is not None:
        return REPAIRED
    if record.objection_open:
        return OBJECTION_OPEN
    if record.published is False:
        return NOT_PUBLISHED
    if record.public_until is not None and record.public_until < _today(today):
        return WINDOW_CLOSED
    return None
