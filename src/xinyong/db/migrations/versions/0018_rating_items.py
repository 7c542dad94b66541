"""rating: each record's points kept, so incremental runs read the changed records only

Revision ID: 0018_rating_items
Revises: 0017_initials_trigrams
Create Date: 2026-12-06 15:00:00

``rating_items`` holds what each counted record contributes to a dimension as of the last batch
run. An incremental run computes the items of the records changed since, writes the ones that
differ and rescores the subjects whose items differ, where it used to read every record of the
subjects a change touched (a 1% change touched 10% of the subjects, whose records lie on almost
every page: 5-9 s at 10 million records). The table starts empty: the first run after this
revision is a full one (``run_scoring`` sees that the last run kept no items). Full runs rebuild
it; on PostgreSQL as an UNLOGGED table (derived data; emptied by a crash, then rebuilt).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_rating_items"
down_revision = "0017_initials_trigrams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rating_items",
        sa.Column("record_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("dimension", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("item_date", sa.Date(), nullable=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("record_id", "dimension", name=op.f("pk_rating_items")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_rating_items_subject", "rating_items", ["subject_id", "dimension", "item_date", "points"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_rating_items_subject", table_name="rating_items")
    op.drop_table("rating_items")
