"""Indicator snapshots: every indicator's figures, computed once and read by the dashboard.

Computing coverage and timeliness scans the records; at 10 million records that takes seconds
to minutes, so it happens in ``xinyong indicators refresh`` (and after a city intake), never on
a page view. The dashboard reads one snapshot: a few thousand small rows.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db.base import Base, BigId, utcnow


class IndicatorSnapshot(Base):
    __tablename__ = "indicator_snapshots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: The day the figures describe (China time).
    as_of: Mapped[date] = mapped_column(Date, index=True)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    #: Hash of the definition file the figures were computed with.
    definitions_digest: Mapped[str] = mapped_column(String(32))
    records_total: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Newest committed intake batch included: a newer one makes the snapshot stale.
    last_batch_id: Mapped[int | None] = mapped_column(BigInteger)
    #: Per indicator: {"available": bool, "reason": str | None}
    meta: Mapped[dict | None] = mapped_column(JSON)


class IndicatorValue(Base):
    __tablename__ = "indicator_values"
    __table_args__ = (Index("ix_indicator_values_snapshot_indicator", "snapshot_id", "indicator"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("indicator_snapshots.id", ondelete="CASCADE"))
    indicator: Mapped[str] = mapped_column(String(64))
    #: total | department | sector | region | month
    dimension: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64), default="")
    label: Mapped[str] = mapped_column(String(200), default="")
    numerator: Mapped[float | None] = mapped_column(Float)
    denominator: Mapped[float | None] = mapped_column(Float)
    #: numerator ÷ denominator (or the count); None when the denominator is 0
    value: Mapped[float | None] = mapped_column(Float)
