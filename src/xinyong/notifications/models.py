"""In-app notifications (站内消息) and the e-mail outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db.base import Base, BigId, utcnow


class Notification(Base):
    """A message to one audience: a user, a subject (every account of it), a department (every
    account of it) or the credit office (administrators and reviewers)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_audience", "audience", "audience_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # user | subject | department | credit_office
    audience: Mapped[str] = mapped_column(String(16))
    audience_id: Mapped[int | None] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(300))
    workflow: Mapped[str | None] = mapped_column(String(16))
    case_id: Mapped[int | None] = mapped_column(BigInteger)
    # Overdue items are shown in red.
    urgent: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationContact(Base):
    """Where an audience wants e-mail (a department's mailbox, a user's address)."""

    __tablename__ = "notification_contacts"
    __table_args__ = (UniqueConstraint("audience", "audience_id", "email"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    audience: Mapped[str] = mapped_column(String(16))
    audience_id: Mapped[int | None] = mapped_column(BigInteger)
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EmailMessage(Base):
    """The outbox: written in the transaction that made the change, sent after it commits
    (``deliver_pending``), retried on failure."""

    __tablename__ = "email_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notification_id: Mapped[int | None] = mapped_column(BigInteger)
    to_addr: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(250))
    body: Mapped[str] = mapped_column(Text)
    # pending | sent | failed (gave up)
    status: Mapped[str] = mapped_column(String(8), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
