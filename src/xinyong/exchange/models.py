"""Exchange tables: the change feed, its staging rows, webhook subscriptions and deliveries,
upstream peers (pull cursors) and imported packages.

The feed is fed by database triggers (see the ``0012_exchange`` migration), so no writer of
records, versions or workflow events has to remember it and the bulk intake path gains no
Python work:

* SQLite serialises writers, so a trigger appends straight to ``exchange_changes`` with the
  next ``seq``: commit order is ``seq`` order.
* PostgreSQL commits concurrent transactions in any order, so a sequence number drawn at
  insert time could become visible *after* a reader has passed it. Triggers therefore append
  to ``exchange_pending`` (a set-based ``INSERT … SELECT`` per statement on ``record_versions``);
  ``xinyong.exchange.feed.sequence_pending`` moves committed pending rows into
  ``exchange_changes`` under an advisory lock, numbering them after every number already
  visible. A reader only ever sees numbers that were committed in order.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db.base import Base, BigId, utcnow


class ExchangeChange(Base):
    """One change in the feed, in commit order (``seq``)."""

    __tablename__ = "exchange_changes"
    __table_args__ = (Index("ix_exchange_changes_resource_seq", "resource", "seq"),)

    # BIGINT on PostgreSQL; the rowid on SQLite (INTEGER PRIMARY KEY), which its triggers append to.
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    # record.created | record.updated | record.withdrawn | record.repaired | record.window_closed | list.removed
    kind: Mapped[str] = mapped_column(String(32))
    resource: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int | None] = mapped_column(Integer)
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    department_id: Mapped[int | None] = mapped_column(Integer)
    # Withdrawn, or taken off a list: consumers delete what they hold.
    tombstone: Mapped[bool] = mapped_column(Boolean, default=False)
    # The workflow case behind a list change (determination id).
    ref_id: Mapped[int | None] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ExchangePending(Base):
    """PostgreSQL only: changes committed but not yet numbered (see the module docstring)."""

    __tablename__ = "exchange_pending"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    resource: Mapped[str | None] = mapped_column(String(64))
    record_id: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int | None] = mapped_column(Integer)
    subject_id: Mapped[int | None] = mapped_column(BigInteger)
    department_id: Mapped[int | None] = mapped_column(Integer)
    tombstone: Mapped[bool] = mapped_column(Boolean, default=False)
    ref_id: Mapped[int | None] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Subscription(Base):
    """A client's webhook: which changes (resources, subject kinds) go to which URL."""

    __tablename__ = "exchange_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(Integer, index=True)
    url: Mapped[str] = mapped_column(String(1000))
    resources: Mapped[list] = mapped_column(JSON)
    subject_kinds: Mapped[list] = mapped_column(JSON)
    # The HMAC secret, encrypted with the platform keyring (shown once at creation).
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # Last change delivered (acknowledged with 2xx).
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    # active | paused | deleted
    status: Mapped[str] = mapped_column(String(16), default="active")
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_failure_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_total: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Delivery(Base):
    """One delivery: a fixed range of the feed, sent (and re-sent) under one id until acknowledged."""

    __tablename__ = "exchange_deliveries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subscription_id: Mapped[int] = mapped_column(BigInteger, index=True)
    seq_from: Mapped[int] = mapped_column(BigInteger)
    seq_to: Mapped[int] = mapped_column(BigInteger)
    changes: Mapped[int] = mapped_column(Integer)
    # pending | delivered
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Peer(Base):
    """An upstream platform this one pulls packages from, and how far it has got."""

    __tablename__ = "exchange_peers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(1000), unique=True)
    platform: Mapped[str | None] = mapped_column(String(200))
    cursor: Mapped[str | None] = mapped_column(String(100))
    last_pull_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(500))


class ImportedPackage(Base):
    """A package applied here (by its manifest hash): provenance and idempotence."""

    __tablename__ = "exchange_imports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    manifest_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    platform: Mapped[str] = mapped_column(String(200))
    package_id: Mapped[str] = mapped_column(String(64))
    cursor_from: Mapped[str | None] = mapped_column(String(100))
    cursor_to: Mapped[str | None] = mapped_column(String(100))
    summary: Mapped[dict] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


__all__ = ["Delivery", "ExchangeChange", "ExchangePending", "ImportedPackage", "Peer", "Subscription"]
