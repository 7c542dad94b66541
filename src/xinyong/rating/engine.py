"""The scoring SQL: one set-based statement per dimension, the same expressions for the batch
and for one subject's explanation (so the two can never disagree).

Why SQL (and not Polars or DuckDB): the records already live in the database and the result
goes back into it. A set-based ``INSERT … SELECT … GROUP BY`` reads each record once inside the
database, moves no rows through Python, needs no second engine or copy of 10 million records,
keeps peak memory flat whatever the size, and runs unchanged on SQLite and PostgreSQL
(``bench/rating.py`` measures it).

Points are integers. A record's contribution is ``points × percent / 100`` truncated toward
zero (integer division on both databases), so base + the dimension totals is the score exactly.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Date,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy import BigInteger as _BigInteger
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.sql.visitors import InternalTraversal

from xinyong.intake.models import Record
from xinyong.subjects.models import Subject
from xinyong.workflows.models import Objection

from .scorecard import Dimension, Scorecard


def months_before(day: date, months: int) -> date:
    """The same day ``months`` earlier (the last day of the month when it has no such day)."""
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    return min(day.replace(year=y, month=m, day=1) + timedelta(days=day.day - 1), nxt - timedelta(days=1))


def counted_conditions(model: Scorecard, as_of: date) -> tuple[list[ColumnElement[bool]], list[ColumnElement[bool]]]:
    """Which records count, as the model documents: in force (not withdrawn, within their own
    valid-until date and their disclosure window, not ruled "not published", dated on or before
    the evaluation day), repaired ones and ones under objection per ``model.rules``. These are
    the same record columns ``xinyong.publication`` reads; unlike a public page, the evaluation
    also reads the government-shared resources its dimensions name (e.g. tax ratings).
    Returned as (conditions on columns of the subject index ``ix_records_subject_public``,
    the others): the first can be decided in the index, before any row is read."""
    indexed: list[ColumnElement[bool]] = [
        Record.status == "active",
        Record.published == true(),
        or_(Record.valid_until.is_(None), Record.valid_until >= as_of),
        or_(Record.public_until.is_(None), Record.public_until >= as_of),
    ]
    if model.repaired == "exclude":
        indexed.append(Record.repaired_at.is_(None))
    if model.under_objection == "exclude":
        indexed.append(Record.objection_open == false())
    return indexed, [or_(Record.main_date.is_(None), Record.main_date <= as_of)]


def counted_clause(model: Scorecard, as_of: date) -> ColumnElement[bool]:
    """All of ``counted_conditions``."""
    indexed, other = counted_conditions(model, as_of)
    return and_(*indexed, *other)


def _idiv100(expr: ColumnElement[Any]) -> ColumnElement[Any]:
    # Integer division truncating toward zero on both SQLite and PostgreSQL.
    return expr.op("/")(literal(100, Integer))


def _record_points(dim: Dimension, as_of: date) -> ColumnElement[Any]:
    if dim.points is not None:
        pts: ColumnElement[Any] = literal(dim.points, Integer)
    elif dim.severity_points:
        pts = case({k: literal(v, Integer) for k, v in dim.severity_points.items()}, value=Record.severity,
                   else_=literal(0, Integer))
    else:
        value = Record.data[dim.field_name].as_string()
        pts = case({k: literal(v, Integer) for k, v in dim.field_values.items()}, value=value,
                   else_=literal(0, Integer))
    if not dim.decay:
        return pts
    first = dim.decay[0].percent
    whens = [(Record.main_date.is_(None), literal(first, Integer))]
    whens += [(Record.main_date > months_before(as_of, b.within_months), literal(b.percent, Integer))
              for b in dim.decay]
    pct = case(*whens, else_=literal(0, Integer))
    return _idiv100(pts * pct)


class InTargets(ColumnElement[bool]):
    """``column`` is one of the subject ids in ``targets`` (a one-column ``subject_id`` table),
    read in the table's physical order. A 1% change can touch 10% of the subjects, whose rows
    lie on almost every page: reading them row by row through the subject index, in subject
    order, costs a random page visit each (3× a sequential scan at 10 million records).
    - PostgreSQL: ``column = ANY(ARRAY(SELECT …))``, a bitmap index scan: the heap pages in order.
    - SQLite: ``key IN (SELECT key … JOIN targets)``, the row ids from the covering subject
      index, which SQLite sorts and then visits in order (``key``: the row id, ``via``: the
      indexed subject column of the same table; without them, ``column IN (SELECT …)``).
      ``filters``, conditions on columns of that index, are applied there too, so rows that
      cannot count (licences, withdrawn or unpublished records) are skipped unread."""

    inherit_cache = False

    def __init__(self, column: Any, targets: Table, key: Any = None, via: Any = None,
                 filters: list[ColumnElement[bool]] | None = None) -> None:
        self.column, self.targets, self.key, self.via = column, targets, key, via
        self.filters = filters or []


def _col(c: Any) -> Any:
    return c.__clause_element__() if hasattr(c, "__clause_element__") else c


@compiles(InTargets)
def _in_targets(el: InTargets, compiler: Any, **kw: Any) -> str:
    if el.key is None:
        return compiler.process(_col(el.column).in_(select(el.targets.c.subject_id)), **kw)
    key, via = _col(el.key), _col(el.via)
    inner = key.table.alias("targeted")
    sub = select(inner.c[key.key]).join(el.targets, el.targets.c.subject_id == inner.c[via.key])
    if el.filters:
        adapt = ClauseAdapter(inner)
        sub = sub.where(*[adapt.traverse(f) for f in el.filters])
    return compiler.process(key.in_(sub), **kw)


@compiles(InTargets, "postgresql")
def _in_targets_pg(el: InTargets, compiler: Any, **kw: Any) -> str:
    ids = compiler.process(select(el.targets.c.subject_id).scalar_subquery(), **kw)
    return f"{compiler.process(_col(el.column), **kw)} = ANY(ARRAY{ids})"


class NoSeek(ColumnElement[Any]):
    """A column the planner should filter on, not seek by. On SQLite ``+column``: with
    ``resource IN (15 resources)`` it would otherwise seek the subject index once per subject
    and resource instead of reading each subject's few entries in one range (20% of the CPU of
    summing 75,000 subjects' records). PostgreSQL reads its index the same way either way."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: Any) -> None:
        self.column = _col(column)
        self.type = self.column.type


@compiles(NoSeek)
def _no_seek(el: NoSeek, compiler: Any, **kw: Any) -> str:
    return compiler.process(el.column, **kw)


@compiles(NoSeek, "sqlite")
def _no_seek_sqlite(el: NoSeek, compiler: Any, **kw: Any) -> str:
    return "+" + compiler.process(el.column, **kw)


def _restrict(q: Select[Any], subjects: Any, column: Any, key: Any = None,
              filters: list[ColumnElement[bool]] | None = None) -> Select[Any]:
    """Only these subjects: a list of ids, or the targets table (see ``InTargets``)."""
    if subjects is None:
        return q
    if isinstance(subjects, Table):
        return q.where(InTargets(column, subjects, key, column if key is not None else None, filters))
    return q.where(column.in_(subjects))


def record_items(model: Scorecard, dim: Dimension, as_of: date,
                 subjects: Table | list[int] | None = None) -> Select[Any]:
    """Per-item contributions of one dimension: (subject_id, item_id, item_date, points).
    ``subjects``: restrict to these subject ids (a list or a one-column select)."""
    if dim.source == "objections":
        q = select(Objection.subject_id.label("subject_id"), Objection.id.label("item_id"),
                   Objection.filed_on.label("item_date"), literal(dim.points or 0, Integer).label("points")
                   ).where(Objection.state.in_(dim.states), Objection.applicant_kind == "subject")
        return _restrict(q, subjects, Objection.subject_id)
    if dim.source != "records":
        raise ValueError(dim.source)
    indexed, other = counted_conditions(model, as_of)
    indexed = [NoSeek(Record.resource).in_(dim.resources), *indexed]
    where = [*indexed, *other]
    if dim.aggregate == "latest":
        rn = func.row_number().over(partition_by=Record.subject_id,
                                    order_by=(Record.main_date.desc().nulls_last(), Record.id.desc()))
        inner = _restrict(select(Record.subject_id.label("subject_id"), Record.id.label("item_id"),
                                 Record.main_date.label("item_date"), _record_points(dim, as_of).label("points"),
                                 rn.label("rn")).where(*where), subjects, Record.subject_id, Record.id,
                         indexed).subquery("latest_items")
        return select(inner.c.subject_id, inner.c.item_id, inner.c.item_date, inner.c.points).where(inner.c.rn == 1)
    return _restrict(select(Record.subject_id.label("subject_id"), Record.id.label("item_id"),
                            Record.main_date.label("item_date"), _record_points(dim, as_of).label("points")
                            ).where(*where), subjects, Record.subject_id, Record.id, indexed)


def _present(col: ColumnElement[Any], is_text: bool) -> ColumnElement[bool]:
    return and_(col.is_not(None), col != "") if is_text else col.is_not(None)


SUBJECT_COLUMNS = {"uscc": (Subject.uscc, True), "legal_rep": (Subject.legal_rep, True),
                   "region": (Subject.region, True), "established": (Subject.established, False),
                   "address": (Subject.address, True), "reg_status": (Subject.reg_status, True)}


def subject_field_total(dim: Dimension) -> ColumnElement[Any]:
    total: ColumnElement[Any] = literal(0, Integer)
    for f, p in dim.fields.items():
        col, is_text = SUBJECT_COLUMNS[f]
        total = total + case((_present(col, is_text), literal(p, Integer)), else_=literal(0, Integer))
    return total


def capped(dim: Dimension, expr: ColumnElement[Any]) -> ColumnElement[Any]:
    whens = []
    if dim.cap_min is not None:
        whens.append((expr < dim.cap_min, literal(dim.cap_min, Integer)))
    if dim.cap_max is not None:
        whens.append((expr > dim.cap_max, literal(dim.cap_max, Integer)))
    return case(*whens, else_=expr) if whens else expr


def dimension_totals(model: Scorecard, dim: Dimension, as_of: date,
                     subjects: Table | None = None) -> Select[Any]:
    """(subject_id, dimension, points) for the subjects where this dimension is not zero."""
    if dim.source == "subject_fields":
        total = capped(dim, subject_field_total(dim))
        q = select(Subject.id.label("subject_id"), literal(dim.code, String).label("dimension"),
                   total.label("points"))
        inner = _restrict(q, subjects, Subject.id).subquery("field_totals")
    else:
        items = record_items(model, dim, as_of, subjects).subquery("items")
        sums = select(items.c.subject_id, func.sum(items.c.points).label("raw")).group_by(
            items.c.subject_id).subquery("sums")
        inner = select(sums.c.subject_id, literal(dim.code, String).label("dimension"),
                       capped(dim, sums.c.raw).label("points")).subquery("capped")
    return select(inner.c.subject_id, inner.c.dimension, inner.c.points).where(inner.c.points != 0)


def combinable(dims: list[Dimension], aggregates: tuple[str, ...] = ("sum",)) -> list[Dimension]:
    """Record dimensions (of these aggregates) over resources no other such dimension reads:
    these are computed together from one pass over the records."""
    out: list[Dimension] = []
    seen: set[str] = set()
    for d in dims:
        if d.source == "records" and d.aggregate in aggregates and not (set(d.resources) & seen):
            out.append(d)
            seen |= set(d.resources)
    return out


def reads_data(dim: Dimension) -> bool:
    """Its points come from a field of the record's data. Every other record dimension reads
    only columns the subject index ``ix_records_subject_public`` holds (0015), so for a set
    of subjects it is computed from the index alone, without reading a row."""
    return dim.source == "records" and dim.points is None and not dim.severity_points


def dimension_items(model: Scorecard, dims: list[Dimension], as_of: date,
                    subjects: Table | None = None) -> Select[Any]:
    """(subject_id, dimension, item_id, item_date, points): each counted record of these
    dimensions (disjoint resources, see ``combinable``) once, with its dimension and points.
    For the ``subjects`` table: from the subject index when no dimension ``reads_data``, else
    the rows in physical order (see ``InTargets``)."""
    resources = [r for d in dims for r in d.resources]
    dim_of = case(*[(Record.resource.in_(d.resources), literal(d.code, String)) for d in dims])
    pts = case(*[(Record.resource.in_(d.resources), _record_points(d, as_of)) for d in dims],
               else_=literal(0, Integer))
    indexed, other = counted_conditions(model, as_of)
    indexed = [NoSeek(Record.resource).in_(resources), *indexed]
    q = select(Record.subject_id.label("subject_id"), dim_of.label("dimension"), Record.id.label("item_id"),
               Record.main_date.label("item_date"), pts.label("points")).where(*indexed, *other)
    if any(reads_data(d) for d in dims):
        return _restrict(q, subjects, Record.subject_id, Record.id, indexed)
    return _restrict(q, subjects, Record.subject_id)


def _capped_by_dimension(dims: list[Dimension], dimension: Any, raw: Any) -> ColumnElement[Any]:
    whens = []
    for d in dims:
        if d.cap_min is not None:
            whens.append((and_(dimension == d.code, raw < d.cap_min), literal(d.cap_min, Integer)))
        if d.cap_max is not None:
            whens.append((and_(dimension == d.code, raw > d.cap_max), literal(d.cap_max, Integer)))
    return case(*whens, else_=raw) if whens else raw


def item_totals(dims: list[Dimension], items: Any) -> Select[Any]:
    """(subject_id, dimension, points) from ``items`` (rows of ``dimension_items``, or the
    ``tmp_items`` table holding them) for these dimensions, all of one aggregate: summed per
    subject and dimension (for ``latest``: only each subject's latest item, ordered as
    ``record_items`` orders them), capped per dimension, zeros left out."""
    (aggregate,) = {d.aggregate for d in dims}
    src = items
    if isinstance(items, Table):
        src = select(items).where(items.c.dimension.in_([d.code for d in dims])).subquery("dim_items")
    if aggregate == "latest":
        rn = func.row_number().over(partition_by=(src.c.subject_id, src.c.dimension),
                                    order_by=(src.c.item_date.desc().nulls_last(), src.c.item_id.desc()))
        ranked = select(src.c.subject_id, src.c.dimension, src.c.points, rn.label("rn")).subquery("ranked")
        src = select(ranked.c.subject_id, ranked.c.dimension, ranked.c.points).where(ranked.c.rn == 1).subquery(
            "latest_items")
    sums = select(src.c.subject_id, src.c.dimension, func.sum(src.c.points).label("raw")).group_by(
        src.c.subject_id, src.c.dimension).subquery("sums")
    inner = select(sums.c.subject_id, sums.c.dimension,
                   _capped_by_dimension(dims, sums.c.dimension, sums.c.raw).label("points")).subquery("capped")
    return select(inner.c.subject_id, inner.c.dimension, inner.c.points).where(inner.c.points != 0)


def combined_totals(model: Scorecard, dims: list[Dimension], as_of: date,
                    subjects: Table | None = None) -> Select[Any]:
    """(subject_id, dimension, points) of several summed record dimensions in ONE scan of the
    records: each record's dimension and points by its resource, summed per subject and
    dimension, then capped per dimension."""
    return item_totals(dims, dimension_items(model, dims, as_of, subjects).subquery("items"))


# --- temporary work tables ------------------------------------------------------------------------

TMP = MetaData()
tmp_targets = Table("rating_tmp_targets", TMP, Column("subject_id", _BigInteger, primary_key=True),
                    prefixes=["TEMPORARY"])
tmp_factors = Table("rating_tmp_factors", TMP, Column("subject_id", _BigInteger, nullable=False),
                    Column("dimension", String(32), nullable=False), Column("points", Integer, nullable=False),
                    prefixes=["TEMPORARY"])
tmp_scores = Table("rating_tmp_scores", TMP, Column("subject_id", _BigInteger, primary_key=True),
                   Column("raw", Integer, nullable=False), Column("score", Integer, nullable=False),
                   Column("grade", String(8), nullable=False), prefixes=["TEMPORARY"])
tmp_changed = Table("rating_tmp_changed", TMP, Column("subject_id", _BigInteger, primary_key=True),
                    prefixes=["TEMPORARY"])
tmp_items = Table("rating_tmp_items", TMP, Column("subject_id", _BigInteger, nullable=False),
                  Column("dimension", String(32), nullable=False), Column("item_id", _BigInteger, nullable=False),
                  Column("item_date", Date), Column("points", Integer, nullable=False), prefixes=["TEMPORARY"])
TMP_TABLES = (tmp_targets, tmp_factors, tmp_scores, tmp_changed, tmp_items)


def grade_case(model: Scorecard, score: ColumnElement[Any]) -> ColumnElement[Any]:
    return case(*[(score >= g.min, literal(g.code, String)) for g in model.grades[:-1]],
                else_=literal(model.grades[-1].code, String))


def clamp(model: Scorecard, raw: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((raw < model.score_min, literal(model.score_min, Integer)),
                (raw > model.score_max, literal(model.score_max, Integer)), else_=raw)


__all__ = ["TMP_TABLES", "InTargets", "capped", "clamp", "combinable", "combined_totals", "counted_clause",
           "counted_conditions", "dimension_items", "dimension_totals", "grade_case", "item_totals", "months_before",
           "reads_data", "record_items", "subject_field_total", "tmp_changed", "tmp_factors", "tmp_items", "tmp_scores",
           "tmp_targets"]
