"""Portal tables: the name-search index and the notices administrators publish.

Search (see ``portal.search``) needs substring matching of 2+ characters on millions of names
on both SQLite and PostgreSQL. Neither database's trigram index answers 2-character queries, so
the index is a table of character grams: ``portal_search_grams(gram, subject_id)``, one row per
distinct bigram and trigram of a subject's names, and bigram, trigram and four-gram of their
pinyin initials. A query reads the posting list of its rarest gram (the longest grams the query
holds) in subject order and confirms the full substring on ``portal_search.names_key``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db.base import Base, BigId, utcnow
from xinyong.intake.models import Record


class SearchEntry(Base):
    """One row per subject: what search matches on and filters by."""

    __tablename__ = "portal_search"

    subject_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(6))
    # Normalised current name, then former names, joined by "\n" (never inside a name key).
    names_key: Mapped[str] = mapped_column(Text)
    # Pinyin initials of the current name (lower case), e.g. 佛山美的 → fsmd.
    initials: Mapped[str] = mapped_column(String(255), default="")


class SearchGram(Base):
    """Posting lists: gram code → subjects. The primary key is the only index."""

    __tablename__ = "portal_search_grams"
    __table_args__ = (
        PrimaryKeyConstraint("gram", "subject_id", name="pk_portal_search_grams"),
        {"sqlite_with_rowid": False},
    )

    gram: Mapped[int] = mapped_column(BigInteger, autoincrement=False)
    subject_id: Mapped[int] = mapped_column(BigInteger, autoincrement=False)


class Notice(Base):
    """A notice or policy page (通知公告、政策文件) written in Markdown by an administrator."""

    __tablename__ = "portal_notices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    # notice | policy
    kind: Mapped[str] = mapped_column(String(16), default="notice")
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    author: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# The public lists page through one resource's records newest first; the console pages through
# one department's. Declared here (the portal's need) on the intake table. After the order
# (main_date, id) come the columns of ``publication.public_record_clause``: counting a list and
# finding a page's ids read the index alone, never the rows that are not public (0014).
_PUBLIC = (Record.published, Record.status, Record.repaired_at, Record.valid_until, Record.public_until)
Index("ix_records_public_resource", Record.resource, Record.main_date, Record.id, *_PUBLIC)
Index("ix_records_public_department", Record.department_id, Record.resource, Record.main_date, Record.id, *_PUBLIC)
