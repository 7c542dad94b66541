"""indicators: snapshots of every indicator's figures (dashboard, exports, monthly report)

Revision ID: 0008_indicators
Revises: 0004_merge
Create Date: 2026-11-22 08:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_indicators"
down_revision = "0004_merge"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "indicator_snapshots",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("definitions_digest", sa.String(length=32), nullable=False),
        sa.Column("records_total", sa.BigInteger(), nullable=False),
        sa.Column("last_batch_id", sa.BigInteger(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_snapshots")),
    )
    op.create_index(op.f("ix_indicator_snapshots_as_of"), "indicator_snapshots", ["as_of"], unique=False)
    op.create_table(
        "indicator_values",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("snapshot_id", BigId, nullable=False),
        sa.Column("indicator", sa.String(length=64), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("numerator", sa.Float(), nullable=True),
        sa.Column("denominator", sa.Float(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["snapshot_id"], ["indicator_snapshots.id"], ondelete="CASCADE",
                                name=op.f("fk_indicator_values_snapshot_id_indicator_snapshots")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_values")),
    )
    op.create_index("ix_indicator_values_snapshot_indicator", "indicator_values", ["snapshot_id", "indicator"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_indicator_values_snapshot_indicator", table_name="indicator_values")
    op.drop_table("indicator_values")
    op.drop_index(op.f("ix_indicator_snapshots_as_of"), table_name="indicator_snapshots")
    op.drop_table("indicator_snapshots")
