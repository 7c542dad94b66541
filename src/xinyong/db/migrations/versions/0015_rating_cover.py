"""rating: incremental scoring reads indexes, not rows

Revision ID: 0015_rating_cover
Revises: 0014_portal_perf
Create Date: 2026-12-02 01:00:00

An incremental run rescores the subjects with a changed record. A 1% change touches 10% of
the subjects, whose records lie on almost every page of the table, so reading their rows cost
most of the run (2.5-4 s of 6-7 s at 10 million records on SQLite).
- ``ix_records_subject_public`` gains ``main_date`` and ``severity``: the dimensions that score
  a record by its resource, severity and age (penalties, lists, court enforcement, honours) are
  then summed from the index alone; only those reading a data field still read rows.
- ``ix_records_updated_at`` gains ``resource`` and ``subject_id``: the changed records of the
  model's resources, and their subjects, are found in the index alone.
Both are rebuilt: about a minute each at 10 million records.
"""
from __future__ import annotations

from alembic import op

revision = "0015_rating_cover"
down_revision = "0014_portal_perf"
branch_labels = None
depends_on = None

SUBJECT_PUBLIC = ["subject_id", "resource", "objection_open", "published", "status", "repaired_at", "valid_until",
                  "public_until"]


def upgrade() -> None:
    op.drop_index("ix_records_subject_public", table_name="records")
    op.create_index("ix_records_subject_public", "records", [*SUBJECT_PUBLIC, "main_date", "severity"], unique=False)
    op.drop_index("ix_records_updated_at", table_name="records")
    op.create_index("ix_records_updated_at", "records", ["updated_at", "resource", "subject_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_records_updated_at", table_name="records")
    op.create_index("ix_records_updated_at", "records", ["updated_at"], unique=False)
    op.drop_index("ix_records_subject_public", table_name="records")
    op.create_index("ix_records_subject_public", "records", SUBJECT_PUBLIC, unique=False)
