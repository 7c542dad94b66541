"""The register of issued reports: what ``/verify/{number}`` looks up."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db.base import Base, BigId, utcnow


class Report(Base):
    """One issued report. The canonical content is kept so a later download of the same number
    renders the same document, and so the verify page can show what was certified."""

    __tablename__ = "reports"
    __table_args__ = (Index("ix_reports_subject_kind", "subject_id", "kind", "variant"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    # No foreign key: like records, subjects are never deleted.
    subject_id: Mapped[int] = mapped_column(BigInteger)
    # public | full | scenario
    kind: Mapped[str] = mapped_column(String(16))
    # Scenario code for scenario reports, "" otherwise: (subject, kind, variant) is one series.
    variant: Mapped[str] = mapped_column(String(64), default="")
    # SHA-256 (hex) of the canonical JSON, and of its data part only (unchanged data → same report).
    content_hash: Mapped[str] = mapped_column(String(64))
    data_hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
    key_id: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set when a newer report of the same series is issued (the data changed).
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    superseded_by: Mapped[str | None] = mapped_column(String(32))
