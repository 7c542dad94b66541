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


def counted_clause(model: Scorecard, as_of: date) -> ColumnElement[bool]:
    """Which records count, as the model documents: in force (not withdrawn, within their own
    valid-until date and their disclosure window, not ruled "not published", dated on or before
    the evaluation day), repaired ones and ones under objection per ``model.rules``. These are
    the same record columns ``xinyong.publication`` reads; unlike a public page, the evaluation
    also reads the government-shared resources its dimensions name (e.g. tax ratings)."""
    conds: list[ColumnElement[bool]] = [
        Record.status == "active",
        Record.published == true(),
        or_(Record.valid_until.is_(None), Record.valid_until >= as_of),
        or_(Record.public_until.is_(None), Record.public_until >= as_of),
        or_(Record.main_date.is_(None), Record.main_date <= as_of),
    ]
    if model.repaired == "exclude":
        conds.append(Record.repaired_at.is_(None))
    if model.under_objection == "exclude":
        conds.append(Record.objection_open == false())
    return and_(*conds)


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
    """``column`` is one of the keys of ``targets`` (a work table keyed by subject or record
    id; ``key``: another of its columns). On PostgreSQL ``column = ANY(ARRAY(SELECT …))``: the
    planner cannot count it, guesses a few dozen rows and reads through the column's index (or,
    with index scans off, a bitmap scan: the rows in physical order), where ``IN (SELECT …)``
    would have it hash-join from a scan of the whole table (deleting 30,000 subjects' factors
    scanned all 3,000,000)."""

    inherit_cache = False

    def __init__(self, column: Any, targets: Table, key: Any = None) -> None:
        self.column, self.targets = column, targets
        self.key = key if key is not None else _only_column(targets)


def _col(c: Any) -> Any:
    return c.__clause_element__() if hasattr(c, "__clause_element__") else c


def _only_column(t: Table) -> Any:
    (col,) = t.primary_key.columns
    return col


@compiles(InTargets)
def _in_targets(el: InTargets, compiler: Any, **kw: Any) -> str:
    return compiler.process(_col(el.column).in_(select(el.key)), **kw)


@compiles(InTargets, "postgresql")
def _in_targets_pg(el: InTargets, compiler: Any, **kw: Any) -> str:
    ids = compiler.process(select(el.key).scalar_subquery(), **kw)
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


def _restrict(q: Select[Any], subjects: Any, column: Any) -> Select[Any]:
    """Only these subjects: a list of ids, or a work table of them (see ``InTargets``)."""
    if subjects is None:
        return q
    if isinstance(subjects, Table):
        return q.where(InTargets(column, subjects))
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
    where = [NoSeek(Record.resource).in_(dim.resources), counted_clause(model, as_of)]
    if dim.aggregate == "latest":
        rn = func.row_number().over(partition_by=Record.subject_id,
                                    order_by=(Record.main_date.desc().nulls_last(), Record.id.desc()))
        inner = _restrict(select(Record.subject_id.label("subject_id"), Record.id.label("item_id"),
                                 Record.main_date.label("item_date"), _record_points(dim, as_of).label("points"),
                                 rn.label("rn")).where(*where), subjects, Record.subject_id).subquery("latest_items")
        return select(inner.c.subject_id, inner.c.item_id, inner.c.item_date, inner.c.points).where(inner.c.rn == 1)
    return _restrict(select(Record.subject_id.label("subject_id"), Record.id.label("item_id"),
                            Record.main_date.label("item_date"), _record_points(dim, as_of).label("points")
                            ).where(*where), subjects, Record.subject_id)


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
    """(subject_id, dimension, points) of a dimension not read from records (registration
    fields, objections), for the subjects where it is not zero. Record dimensions are summed
    from their kept items (``item_totals``)."""
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


def item_groups(dims: list[Dimension]) -> list[list[Dimension]]:
    """The record dimensions in groups over disjoint resources: each group's items come from
    one pass over the records (a record's resource names its dimension in the group)."""
    groups: list[list[Dimension]] = []
    for d in (d for d in dims if d.source == "records"):
        for g in groups:
            if not any(set(d.resources) & set(o.resources) for o in g):
                g.append(d)
                break
        else:
            groups.append([d])
    return groups


def dimension_items(model: Scorecard, dims: list[Dimension], as_of: date,
                    records: Table | None = None, where: tuple[ColumnElement[bool], ...] = ()) -> Select[Any]:
    """(subject_id, dimension, record_id, item_date, points): each counted record of these
    dimensions (disjoint resources, see ``item_groups``) once, with its dimension and points;
    zeros of summed dimensions left out (they add nothing; a latest-record dimension keeps
    them: the latest record wins even at zero). ``records``: only the record ids in this work
    table (read through the primary key, see ``InTargets``); ``where``: other conditions on
    the records."""
    resources = [r for d in dims for r in d.resources]
    dim_of = case(*[(Record.resource.in_(d.resources), literal(d.code, String)) for d in dims])
    pts = case(*[(Record.resource.in_(d.resources), _record_points(d, as_of)) for d in dims],
               else_=literal(0, Integer))
    q = select(Record.subject_id.label("subject_id"), dim_of.label("dimension"), Record.id.label("record_id"),
               Record.main_date.label("item_date"), pts.label("points")).where(
        NoSeek(Record.resource).in_(resources), counted_clause(model, as_of), *where)
    if records is not None:
        q = q.where(InTargets(Record.id, records))
    latest = [d.code for d in dims if d.aggregate == "latest"]
    if len(latest) == len(dims):
        return q
    inner = q.subquery("counted")
    keep = inner.c.points != 0
    if latest:
        keep = or_(keep, inner.c.dimension.in_(latest))
    return select(*inner.c).where(keep)


def _capped_by_dimension(dims: list[Dimension], dimension: Any, raw: Any) -> ColumnElement[Any]:
    whens = []
    for d in dims:
        if d.cap_min is not None:
            whens.append((and_(dimension == d.code, raw < d.cap_min), literal(d.cap_min, Integer)))
        if d.cap_max is not None:
            whens.append((and_(dimension == d.code, raw > d.cap_max), literal(d.cap_max, Integer)))
    return case(*whens, else_=raw) if whens else raw


def item_totals(dims: list[Dimension], items: Table) -> Select[Any]:
    """(subject_id, dimension, points) from ``items`` (``rating_items``, or the targets' items
    in ``tmp_items``) for these dimensions, all of one aggregate: summed per subject and
    dimension (for ``latest``: only each subject's latest item, ordered as ``record_items``
    orders them), capped per dimension, zeros left out."""
    (aggregate,) = {d.aggregate for d in dims}
    q = select(items.c.subject_id, items.c.dimension, items.c.item_date, items.c.points,
               items.c.record_id).where(items.c.dimension.in_([d.code for d in dims]))
    src = q.subquery("dim_items")
    if aggregate == "latest":
        rn = func.row_number().over(partition_by=(src.c.subject_id, src.c.dimension),
                                    order_by=(src.c.item_date.desc().nulls_last(), src.c.record_id.desc()))
        ranked = select(src.c.subject_id, src.c.dimension, src.c.points, rn.label("rn")).subquery("ranked")
        src = select(ranked.c.subject_id, ranked.c.dimension, ranked.c.points).where(ranked.c.rn == 1).subquery(
            "latest_items")
    sums = select(src.c.subject_id, src.c.dimension, func.sum(src.c.points).label("raw")).group_by(
        src.c.subject_id, src.c.dimension).subquery("sums")
    inner = select(sums.c.subject_id, sums.c.dimension,
                   _capped_by_dimension(dims, sums.c.dimension, sums.c.raw).label("points")).subquery("capped")
    return select(inner.c.subject_id, inner.c.dimension, inner.c.points).where(inner.c.points != 0)


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
tmp_records = Table("rating_tmp_records", TMP, Column("record_id", _BigInteger, primary_key=True),
                    prefixes=["TEMPORARY"])
tmp_extra = Table("rating_tmp_extra", TMP, Column("record_id", _BigInteger, primary_key=True), prefixes=["TEMPORARY"])


def _items_table(name: str, keyed: bool = False) -> Table:
    return Table(name, TMP, Column("subject_id", _BigInteger, nullable=False),
                 Column("dimension", String(32), nullable=False, primary_key=keyed),
                 Column("record_id", _BigInteger, nullable=False, primary_key=keyed),
                 Column("item_date", Date), Column("points", Integer, nullable=False), prefixes=["TEMPORARY"])


tmp_items = _items_table("rating_tmp_items")  # the targets' items
tmp_new_items = _items_table("rating_tmp_new_items", keyed=True)  # the re-read records' items
tmp_added = _items_table("rating_tmp_added")  # new or changed items
tmp_old_items = _items_table("rating_tmp_old_items")  # their items as stored
tmp_gone = _items_table("rating_tmp_gone")  # stored items gone or changed
tmp_factor_diff = Table("rating_tmp_factor_diff", TMP, Column("subject_id", _BigInteger, nullable=False),
                        Column("dimension", String(32), nullable=False), Column("points", Integer, nullable=False),
                        Column("side", Integer, nullable=False), prefixes=["TEMPORARY"])  # 1 new, 0 stored
tmp_whole = Table("rating_tmp_whole", TMP, Column("subject_id", _BigInteger, primary_key=True),
                  prefixes=["TEMPORARY"])
TMP_TABLES = (tmp_targets, tmp_factors, tmp_scores, tmp_changed, tmp_records, tmp_extra, tmp_whole, tmp_items,
              tmp_new_items, tmp_old_items, tmp_added, tmp_gone, tmp_factor_diff)


def grade_case(model: Scorecard, score: ColumnElement[Any]) -> ColumnElement[Any]:
    return case(*[(score >= g.min, literal(g.code, String)) for g in model.grades[:-1]],
                else_=literal(model.grades[-1].code, String))


def clamp(model: Scorecard, raw: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((raw < model.score_min, literal(model.score_min, Integer)),
                (raw > model.score_max, literal(model.score_max, Integer)), else_=raw)


__all__ = ["TMP_TABLES", "InTargets", "capped", "clamp", "counted_clause", "dimension_items",
           "dimension_totals", "grade_case", "item_groups", "item_totals", "months_before", "record_items",
           "subject_field_total", "tmp_added", "tmp_changed", "tmp_extra", "tmp_factor_diff", "tmp_factors",
           "tmp_gone", "tmp_items", "tmp_new_items", "tmp_old_items", "tmp_records", "tmp_scores", "tmp_targets",
           "tmp_whole"]
