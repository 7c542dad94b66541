"""Intake tables: batches, the current state of each record, and every version of it.

Hashes are 32 hex characters (128-bit keyed BLAKE2b, see ``intake.prepare``): short keys keep
the indexes small, and keying them means a hash of a row never lets anyone guess the personal
data in it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db.base import Base, BigId, utcnow

HASH_LEN = 32
# Hashes compare byte-wise on PostgreSQL ("C" collation): cheaper index probes than a locale's rules.
Hash = String(HASH_LEN).with_variant(String(HASH_LEN, collation="C"), "postgresql")


class IntakeBatch(Base):
    """One submission (报送批次): a file or a set of rows from one department for one resource."""

    __tablename__ = "intake_batches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    resource: Mapped[str] = mapped_column(String(64), index=True)
    # file | api
    source: Mapped[str] = mapped_column(String(16), default="file")
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    file_format: Mapped[str | None] = mapped_column(String(16))
    encoding: Mapped[str | None] = mapped_column(String(32))
    # committed | refused (the file as a whole) | failed (an unexpected error; nothing was kept)
    status: Mapped[str] = mapped_column(String(16), default="committed")
    message: Mapped[str | None] = mapped_column(String(1000))
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_accepted: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    records_created: Mapped[int] = mapped_column(Integer, default=0)
    records_updated: Mapped[int] = mapped_column(Integer, default=0)
    records_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    subjects_created: Mapped[int] = mapped_column(Integer, default=0)
    rows_matched: Mapped[int] = mapped_column(Integer, default=0)
    # Extra figures: match kinds, timeliness, unknown columns.
    stats: Mapped[dict | None] = mapped_column(JSON)
    submitted_on: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_report: Mapped[str | None] = mapped_column(String(500))


class Record(Base):
    """The current state of one record, identified by resource + natural key."""

    __tablename__ = "records"
    # Only the indexes lookups need: every index costs each of millions of inserts.
    __table_args__ = (
        UniqueConstraint("resource", "natural_key_hash"),
        # A subject's records; after subject_id, the columns of ``publication.public_record_clause``
        # (and the badges' resource and objection flag), so that what the public may see of a
        # subject is decided in the index, without reading rows that are not public (0014); then
        # the date and severity, so that rating a set of subjects reads the index, not the rows (0015).
        Index("ix_records_subject_public", "subject_id", "resource", "objection_open", "published", "status",
              "repaired_at", "valid_until", "public_until", "main_date", "severity"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource: Mapped[str] = mapped_column(String(64))
    natural_key_hash: Mapped[str] = mapped_column(Hash)
    # The key as text for people (personal parts masked).
    natural_key: Mapped[str] = mapped_column(String(500))
    # No foreign keys on records and versions: PostgreSQL checks each one per inserted row, which
    # doubled the cost of bulk intake. Every id written here is read or created in the same
    # transaction (subjects and departments are never deleted), so the code is the guarantee.
    subject_id: Mapped[int] = mapped_column(BigInteger)
    department_id: Mapped[int] = mapped_column(Integer)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    # active | withdrawn
    status: Mapped[str] = mapped_column(String(16), default="active")
    main_date: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    content_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    # Hash of the cells as submitted: an identical row re-submitted skips validation.
    raw_hash: Mapped[str | None] = mapped_column(String(HASH_LEN))
    # Non-personal normalised values; personal ones only as ciphertext (JSON, encrypted).
    data: Mapped[dict] = mapped_column(JSON)
    personal_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    last_batch_id: Mapped[int | None] = mapped_column(BigInteger)
    # Double publicity timeliness: first submission, working days after the decision.
    submitted_on: Mapped[date | None] = mapped_column(Date)
    delay_workdays: Mapped[int | None] = mapped_column(Integer)
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_reason: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Disclosure window (workflows, see xinyong.workflows.windows and xinyong.publication):
    # severity under the window rules; False when the rules say "not published" (minor, ended);
    # last day published; first day repair may be asked for; set by `xinyong tick` once closed.
    severity: Mapped[str | None] = mapped_column(String(16))
    published: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    public_until: Mapped[date | None] = mapped_column(Date)
    repair_after: Mapped[date | None] = mapped_column(Date)
    window_closed_on: Mapped[date | None] = mapped_column(Date)
    objection_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    repaired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RecordVersion(Base):
    """Every version of every record, never changed once written (append-only)."""

    __tablename__ = "record_versions"
    __table_args__ = (UniqueConstraint("record_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(BigInteger)  # no foreign key: see Record.subject_id
    version: Mapped[int] = mapped_column(Integer)
    # created | updated | withdrawn
    change: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    # Provenance.
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    department_id: Mapped[int] = mapped_column(Integer)
    subject_id: Mapped[int] = mapped_column(BigInteger)
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    row_no: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(HASH_LEN))
    data: Mapped[dict] = mapped_column(JSON)
    personal_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    reason: Mapped[str | None] = mapped_column(String(1000))
    actor: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BatchError(Base):
    """Each rejected row's problems (messages already masked)."""

    __tablename__ = "intake_batch_errors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("intake_batches.id", ondelete="CASCADE"), index=True)
    row_no: Mapped[int | None] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(Text)
