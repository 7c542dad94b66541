from __future__ import annotations

from datetime import date

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from xinyong.db.base import Base, BigId, TimestampMixin


class Subject(TimestampMixin, Base):
    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # legal_entity | individual_business | natural_person
    kind: Mapped[str] = mapped_column(String(32), index=True)
    # for legal entities: enterprise | public_institution | social_org | government | other
    org_type: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    # Width/bracket/space-normalised name: the key for name search and matching.
    name_norm: Mapped[str] = mapped_column(String(255), index=True)
    uscc: Mapped[str | None] = mapped_column(String(18), unique=True)
    region: Mapped[str | None] = mapped_column(String(6), index=True)
    legal_rep: Mapped[str | None] = mapped_column(String(100))
    reg_status: Mapped[str | None] = mapped_column(String(32))
    established: Mapped[date | None] = mapped_column(Date)
    address: Mapped[str | None] = mapped_column(String(500))
    # False when created by a data row that matched no registered subject.
    verified: Mapped[bool] = mapped_column(Boolean, default=True)
    # Natural persons: the ID number only ever as ciphertext, keyed hash and mask.
    citizen_id_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    citizen_id_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    citizen_id_masked: Mapped[str | None] = mapped_column(String(18))

    identifiers: Mapped[list[SubjectIdentifier]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", order_by="SubjectIdentifier.id"
    )
    names: Mapped[list[SubjectName]] = relationship(
        back_populates="subject", cascade="all, delete-orphan", order_by="SubjectName.id"
    )


class SubjectIdentifier(TimestampMixin, Base):
    """Every code a subject is known by; a code identifies at most one subject."""

    __tablename__ = "subject_identifiers"
    # By value alone: any-identifier lookups (resolve_subject, batch checks) do not know the scheme,
    # and the (scheme, value) key cannot serve them (a scan of every identifier).
    __table_args__ = (UniqueConstraint("scheme", "value"), Index("ix_subject_identifiers_value", "value"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    # uscc | reg_no | org_code | tax_no | institution_no | social_org_no | citizen_id_hash
    scheme: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(64))
    # registered | derived (e.g. org code embedded in the USCC) | intake
    source: Mapped[str] = mapped_column(String(32), default="registered")

    subject: Mapped[Subject] = relationship(back_populates="identifiers")


class SubjectName(TimestampMixin, Base):
    """Name history: a renamed enterprise keeps its former names searchable."""

    __tablename__ = "subject_names"
    __table_args__ = (Index("ix_subject_names_name_norm", "name_norm"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    name_norm: Mapped[str] = mapped_column(String(255))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(64))

    subject: Mapped[Subject] = relationship(back_populates="names")
