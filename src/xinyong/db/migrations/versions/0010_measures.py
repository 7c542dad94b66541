"""measures: joint rewards and punishments — checks, returned measures with feedback, batch jobs

Revision ID: 0010_measures
Revises: 0009_merge
Create Date: 2026-12-01 18:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_measures"
down_revision = "0009_merge"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Any-identifier lookups (resolve_subject, batch checks) search by value without the scheme.
    op.create_index("ix_subject_identifiers_value", "subject_identifiers", ["value"], unique=False)
    op.create_table(
        "measure_checks",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("scenario", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=False),
        sa.Column("feedback_due", sa.Date(), nullable=True),
        sa.Column("measures_total", sa.Integer(), nullable=False),
        sa.Column("rewards", sa.Integer(), nullable=False),
        sa.Column("punishments", sa.Integer(), nullable=False),
        sa.Column("feedback_done", sa.Integer(), nullable=False),
        sa.Column("feedback_complete", sa.Boolean(), nullable=False),
        sa.Column("feedback_completed_on", sa.Date(), nullable=True),
        sa.Column("feedback_reminded_on", sa.Date(), nullable=True),
        sa.Column("catalogue_version", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measure_checks")),
    )
    op.create_index(op.f("ix_measure_checks_subject_id"), "measure_checks", ["subject_id"], unique=False)
    op.create_index(op.f("ix_measure_checks_batch_id"), "measure_checks", ["batch_id"], unique=False)
    op.create_index("ix_measure_checks_department_due", "measure_checks", ["department_id", "feedback_due"],
                    unique=False)
    op.create_table(
        "measure_check_items",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("check_id", BigId, nullable=False),
        sa.Column("measure", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("strength", sa.String(length=32), nullable=False),
        sa.Column("triggers", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("feedback_on", sa.Date(), nullable=True),
        sa.Column("feedback_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("feedback_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["check_id"], ["measure_checks.id"], ondelete="CASCADE",
                                name=op.f("fk_measure_check_items_check_id_measure_checks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measure_check_items")),
    )
    op.create_index(op.f("ix_measure_check_items_check_id"), "measure_check_items", ["check_id"], unique=False)
    op.create_index(op.f("ix_measure_check_items_measure"), "measure_check_items", ["measure"], unique=False)
    op.create_table(
        "measure_check_batches",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("scenario", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("found", sa.Integer(), nullable=False),
        sa.Column("with_measures", sa.Integer(), nullable=False),
        sa.Column("rewards", sa.Integer(), nullable=False),
        sa.Column("punishments", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_measure_check_batches")),
    )
    op.create_index(op.f("ix_measure_check_batches_department_id"), "measure_check_batches", ["department_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_measure_check_batches_department_id"), table_name="measure_check_batches")
    op.drop_table("measure_check_batches")
    op.drop_index(op.f("ix_measure_check_items_measure"), table_name="measure_check_items")
    op.drop_index(op.f("ix_measure_check_items_check_id"), table_name="measure_check_items")
    op.drop_table("measure_check_items")
    op.drop_index("ix_measure_checks_department_due", table_name="measure_checks")
    op.drop_index(op.f("ix_measure_checks_batch_id"), table_name="measure_checks")
    op.drop_index(op.f("ix_measure_checks_subject_id"), table_name="measure_checks")
    op.drop_table("measure_checks")
    op.drop_index("ix_subject_identifiers_value", table_name="subject_identifiers")
