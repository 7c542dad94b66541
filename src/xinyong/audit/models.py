from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db.base import Base, BigId


class AuditEvent(Base):
    """One link of the append-only, hash-chained audit log (审计日志).

    ``hash`` is SHA-256 over the canonical JSON of every other column, ``prev_hash`` included,
    so editing, deleting or reordering any event breaks the chain. Database triggers refuse
    UPDATE and DELETE; the chain catches whoever bypasses them.
    """

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject_seq", "subject_id", "seq"),)

    # Assigned as head + 1 under a lock, never by a sequence: a rolled-back transaction
    # must not leave a gap that looks like a deleted event.
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # anonymous | user | client | cli | system
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_name: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str | None] = mapped_column(String(32))
    department: Mapped[str | None] = mapped_column(String(64))  # department code
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_id: Mapped[int | None] = mapped_column(BigId)
    resources: Mapped[list] = mapped_column(JSON)
    purpose_code: Mapped[str | None] = mapped_column(String(32))
    purpose_text: Mapped[str | None] = mapped_column(String(400))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), index=True)
