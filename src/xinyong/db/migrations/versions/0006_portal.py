"""portal: name-search index (bigram posting lists), notices, list-page indexes on records

Revision ID: 0006_portal
Revises: 0004_merge
Create Date: 2026-11-22 08:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_portal"
down_revision = "0004_merge"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "portal_search",
        sa.Column("subject_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("region", sa.String(length=6), nullable=True),
        sa.Column("names_key", sa.Text(), nullable=False),
        sa.Column("initials", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_portal_search")),
    )
    op.create_table(
        "portal_search_grams",
        sa.Column("gram", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("subject_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("gram", "subject_id", name="pk_portal_search_grams"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "portal_notices",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_notices")),
        sa.UniqueConstraint("slug", name=op.f("uq_portal_notices_slug")),
    )
    op.create_index("ix_records_resource_main_date", "records", ["resource", "main_date"], unique=False)
    op.create_index("ix_records_department_resource_main_date", "records",
                    ["department_id", "resource", "main_date"], unique=False)
    # Subjects registered before this revision become searchable at once.
    from xinyong.portal.search import rebuild_index

    rebuild_index(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_records_department_resource_main_date", table_name="records")
    op.drop_index("ix_records_resource_main_date", table_name="records")
    op.drop_table("portal_notices")
    op.drop_table("portal_search_grams")
    op.drop_table("portal_search")
