"""Workflow tables: objections, repair applications, list determinations, commitments, their
timelines (every transition) and attachments.

Each case row holds its current state; ``workflow_events`` keeps every step, which is what the
applicant sees as a timeline (the audit log keeps the same steps hash-chained).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db.base import Base, BigId, TimestampMixin, utcnow


class Objection(TimestampMixin, Base):
    """异议: against a record, or against a subject's basic information (record_id None)."""

    __tablename__ = "objections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    subject_id: Mapped[int] = mapped_column(BigInteger, index=True)
    # record | subject_info
    target: Mapped[str] = mapped_column(String(16), default="record")
    # Routed to: the record's source department; None = the credit office.
    department_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # subject (the subject's own account) | public (anyone, for a public record)
    applicant_kind: Mapped[str] = mapped_column(String(16))
    applicant_user_id: Mapped[int | None] = mapped_column(Integer, index=True)
    applicant_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    # SHA-256 of the tracking code an applicant without an account uses to follow the case.
    tracking_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(Text)
    requested_change: Mapped[str | None] = mapped_column(Text)
    # submitted | upheld | corrected | record_withdrawn | cancelled
    state: Mapped[str] = mapped_column(String(20), default="submitted", index=True)
    filed_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    escalated_on: Mapped[date | None] = mapped_column(Date)
    decided_on: Mapped[date | None] = mapped_column(Date)
    reply: Mapped[str | None] = mapped_column(Text)
    record_version_before: Mapped[int | None] = mapped_column(Integer)
    record_version_after: Mapped[int | None] = mapped_column(Integer)


class RepairApplication(TimestampMixin, Base):
    """信用修复申请 for one negative record."""

    __tablename__ = "repair_applications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    record_id: Mapped[int] = mapped_column(BigInteger, index=True)
    subject_id: Mapped[int] = mapped_column(BigInteger, index=True)
    department_id: Mapped[int] = mapped_column(Integer, index=True)
    applicant_user_id: Mapped[int | None] = mapped_column(Integer)
    applicant_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    # What the subject declares it did (fine paid, correction made) and its signed commitment.
    fulfilment: Mapped[str] = mapped_column(Text)
    commitment_text: Mapped[str] = mapped_column(Text)
    commitment_signed_by: Mapped[str] = mapped_column(String(200))
    precheck: Mapped[dict] = mapped_column(JSON)
    # submitted | approved | rejected | cancelled
    state: Mapped[str] = mapped_column(String(20), default="submitted", index=True)
    filed_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    escalated_on: Mapped[date | None] = mapped_column(Date)
    decided_on: Mapped[date | None] = mapped_column(Date)
    decision_reason: Mapped[str | None] = mapped_column(Text)


class ListDetermination(TimestampMixin, Base):
    """认定: a proposal to put a subject on a red/black/watch list, through notice, decision,
    publication and removal. The rows of these are the list membership history."""

    __tablename__ = "list_determinations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    resource: Mapped[str] = mapped_column(String(64), index=True)
    list_kind: Mapped[str] = mapped_column(String(8))
    subject_id: Mapped[int] = mapped_column(BigInteger, index=True)
    department_id: Mapped[int] = mapped_column(Integer, index=True)
    facts: Mapped[str] = mapped_column(Text)
    basis: Mapped[str] = mapped_column(Text)
    # The list record's field values (non-personal), personal ones encrypted.
    data: Mapped[dict] = mapped_column(JSON)
    personal_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # proposed | noticed | decided | published | dropped | expired | repaired | revoked
    state: Mapped[str] = mapped_column(String(16), default="proposed", index=True)
    proposed_on: Mapped[date] = mapped_column(Date)
    noticed_on: Mapped[date | None] = mapped_column(Date)
    objection_until: Mapped[date | None] = mapped_column(Date)
    statement: Mapped[str | None] = mapped_column(Text)
    decision_no: Mapped[str | None] = mapped_column(String(100))
    decided_on: Mapped[date | None] = mapped_column(Date)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date, index=True)
    published_on: Mapped[date | None] = mapped_column(Date)
    record_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    removed_on: Mapped[date | None] = mapped_column(Date)
    removal_reason: Mapped[str | None] = mapped_column(Text)


class Commitment(TimestampMixin, Base):
    """信用承诺 of a catalogue type, kept as a record of ``credit_commitments``."""

    __tablename__ = "commitments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(BigInteger, index=True)
    department_id: Mapped[int] = mapped_column(Integer, index=True)
    commitment_no: Mapped[str] = mapped_column(String(100))
    commitment_type: Mapped[str] = mapped_column(String(32))
    domain: Mapped[str] = mapped_column(String(16))
    matter: Mapped[str] = mapped_column(String(500))
    content: Mapped[str] = mapped_column(Text)
    committed_on: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    # active | fulfilled | breached
    state: Mapped[str] = mapped_column(String(16), default="active", index=True)
    verified_on: Mapped[date | None] = mapped_column(Date)
    breach_facts: Mapped[str | None] = mapped_column(Text)
    record_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    created_by_user_id: Mapped[int | None] = mapped_column(Integer)


class WorkflowEvent(Base):
    """One step of one case: the applicant's timeline."""

    __tablename__ = "workflow_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # objection | repair | determination | commitment
    workflow: Mapped[str] = mapped_column(String(16), index=True)
    case_id: Mapped[int] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(32))
    state_from: Mapped[str | None] = mapped_column(String(20))
    state_to: Mapped[str] = mapped_column(String(20))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    on_day: Mapped[date] = mapped_column(Date)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Attachment(Base):
    """A file attached to a case: stored content-addressed under the var dir, never executed
    or served with a type the uploader chose."""

    __tablename__ = "workflow_attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workflow: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[int] = mapped_column(BigInteger, index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    # Detected from the content (an allow-list), not taken from the upload.
    media_type: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(200))
    uploaded_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


__all__ = ["Attachment", "Commitment", "ListDetermination", "Objection", "RepairApplication",
           "WorkflowEvent"]
