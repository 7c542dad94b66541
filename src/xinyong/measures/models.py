"""Tables of joint rewards and punishments: checks, the measures each returned (with the
department's feedback), and batch-check jobs."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db.base import Base, BigId, utcnow


class MeasureCheck(Base):
    """One check (核查) of one subject in one scenario by one department."""

    __tablename__ = "measure_checks"
    __table_args__ = (Index("ix_measure_checks_department_due", "department_id", "feedback_due"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(BigInteger, index=True)
    department_id: Mapped[int] = mapped_column(Integer)
    scenario: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    checked_on: Mapped[date] = mapped_column(Date)
    #: Feedback is due by this day (checks that returned no measure need none: NULL).
    feedback_due: Mapped[date | None] = mapped_column(Date)
    measures_total: Mapped[int] = mapped_column(Integer, default=0)
    rewards: Mapped[int] = mapped_column(Integer, default=0)
    punishments: Mapped[int] = mapped_column(Integer, default=0)
    feedback_done: Mapped[int] = mapped_column(Integer, default=0)
    #: Every returned measure has feedback (a check with no measure is never "complete").
    feedback_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    feedback_completed_on: Mapped[date | None] = mapped_column(Date)
    #: The day the department's inbox was told the feedback is overdue (once per check).
    feedback_reminded_on: Mapped[date | None] = mapped_column(Date)
    catalogue_version: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(String(500))


class MeasureCheckItem(Base):
    """A measure a check returned, what triggered it, and what the department did (反馈)."""

    __tablename__ = "measure_check_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    check_id: Mapped[int] = mapped_column(ForeignKey("measure_checks.id", ondelete="CASCADE"), index=True)
    measure: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    strength: Mapped[str] = mapped_column(String(32))
    triggers: Mapped[list] = mapped_column(JSON)
    #: applied | not_applied | NULL (no feedback yet)
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    feedback_on: Mapped[date | None] = mapped_column(Date)
    feedback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    feedback_by: Mapped[str | None] = mapped_column(String(200))


class MeasureCheckBatch(Base):
    """A batch check job: an uploaded list of subjects checked in one scenario."""

    __tablename__ = "measure_check_batches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    department_id: Mapped[int] = mapped_column(Integer, index=True)
    scenario: Mapped[str] = mapped_column(String(64))
    #: queued | running | done | failed
    state: Mapped[str] = mapped_column(String(16), default="queued")
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    total: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    found: Mapped[int] = mapped_column(Integer, default=0)
    with_measures: Mapped[int] = mapped_column(Integer, default=0)
    rewards: Mapped[int] = mapped_column(Integer, default=0)
    punishments: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
