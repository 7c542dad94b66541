"""Rating tables: runs, each subject's current score and its factors, score history, and the
inspection draws (with the population they were drawn from, so a draw can be re-verified)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db.base import Base, BigId, utcnow
from xinyong.intake.models import Record

# Incremental scoring finds the subjects with a record changed since the last run, of a
# resource the model reads, in this index alone (0015).
RECORDS_UPDATED_AT_INDEX = Index("ix_records_updated_at", Record.updated_at, Record.resource, Record.subject_id)


class RatingRun(Base):
    """One scoring run that changed at least one score (a run that changes nothing writes nothing)."""

    __tablename__ = "rating_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    model_version: Mapped[str] = mapped_column(String(32))
    model_digest: Mapped[str] = mapped_column(String(64))
    # full | incremental
    mode: Mapped[str] = mapped_column(String(16))
    as_of: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    subjects_scored: Mapped[int] = mapped_column(Integer, default=0)
    subjects_changed: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str | None] = mapped_column(String(200))
    # Grade → count after the run, and previous grade → new grade transitions of this run.
    stats: Mapped[dict | None] = mapped_column(JSON)


class RatingScore(Base):
    """A subject's current score and grade (one row per scored subject)."""

    __tablename__ = "rating_scores"

    subject_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(8), index=True)
    model_version: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[int] = mapped_column(BigInteger)
    as_of: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RatingFactor(Base):
    """One dimension's contribution to a subject's current score (non-zero ones only; the base
    score comes from the model). Base + the factors = the score, exactly."""

    __tablename__ = "rating_factors"

    subject_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    dimension: Mapped[str] = mapped_column(String(32), primary_key=True)
    points: Mapped[int] = mapped_column(Integer)


class RatingItem(Base):
    """One record's points in one dimension, as of the last batch run's evaluation day: what
    each counted record of a record dimension contributes (zeros of summed dimensions left
    out; a latest-record dimension keeps every counted record, the latest one wins even at
    zero). An incremental run replaces the items of the records that changed and sums the
    affected subjects' items here, instead of reading every record of those subjects again
    (a 1% change touches 10% of the subjects, whose records lie on nearly every page). One
    marker row (record id 0, see ``service._kept_items``) says the items are complete."""

    __tablename__ = "rating_items"
    __table_args__ = (
        # Sums per subject and dimension walk it alone, in order (SQLite: 1.0 s against 5.2 s
        # through the key at a million records; the latest item's tie-break, the record id, is
        # in it as part of the key).
        Index("ix_rating_items_subject", "subject_id", "dimension", "item_date", "points"),
        {"sqlite_with_rowid": False},
    )

    record_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    dimension: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject_id: Mapped[int] = mapped_column(BigInteger)
    item_date: Mapped[date | None] = mapped_column(Date)
    points: Mapped[int] = mapped_column(Integer)


class RatingHistory(Base):
    """Every change of a subject's score or explanation (append-only)."""

    __tablename__ = "rating_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(BigInteger, index=True)
    subject_id: Mapped[int] = mapped_column(BigInteger, index=True)
    score: Mapped[int] = mapped_column(Integer)
    grade: Mapped[str] = mapped_column(String(8))
    previous_score: Mapped[int | None] = mapped_column(Integer)
    previous_grade: Mapped[str | None] = mapped_column(String(8))
    model_version: Mapped[str] = mapped_column(String(32))
    as_of: Mapped[date] = mapped_column(Date)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RatingDirty(Base):
    """Subjects to rescore on the next run whatever their records' timestamps say (an objection
    filed or cancelled, an appeal decided)."""

    __tablename__ = "rating_dirty"

    subject_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(String(64))
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InspectionDraw(Base):
    """A 双随机 draw: one department, one day, its published seed and population commitment."""

    __tablename__ = "inspection_draws"
    __table_args__ = (UniqueConstraint("department_id", "draw_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    department_id: Mapped[int] = mapped_column(Integer, index=True)
    draw_date: Mapped[date] = mapped_column(Date)
    # SHA-256 of the eligible population (one "subject_id,grade" line each, ascending ids).
    population_hash: Mapped[str] = mapped_column(String(64))
    seed: Mapped[str] = mapped_column(String(64))
    population_size: Mapped[int] = mapped_column(Integer)
    selected_count: Mapped[int] = mapped_column(Integer)
    # Grade → percent, the roster digest and algorithm version: everything needed to re-run.
    params: Mapped[dict] = mapped_column(JSON)
    model_version: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))


class InspectionPopulation(Base):
    """The eligible population of a draw as committed (so the draw can be verified later even
    after grades change)."""

    __tablename__ = "inspection_population"

    draw_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    subject_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    grade: Mapped[str] = mapped_column(String(8))


class InspectionItem(Base):
    """A subject drawn for inspection and the inspectors assigned to it."""

    __tablename__ = "inspection_items"

    draw_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    subject_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    grade: Mapped[str] = mapped_column(String(8))
    rank: Mapped[int] = mapped_column(Integer)
    ticket: Mapped[str] = mapped_column(String(64))
    inspectors: Mapped[list] = mapped_column(JSON)


__all__ = ["InspectionDraw", "InspectionItem", "InspectionPopulation", "RatingDirty", "RatingFactor",
           "RatingHistory", "RatingRun", "RatingScore"]
