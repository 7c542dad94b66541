"""intake: batches, records (current state) and record versions

Revision ID: 0003_intake
Revises: 0001
Create Date: 2026-11-22 05:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_intake"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "intake_batches",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("file_format", sa.String(length=16), nullable=True),
        sa.Column("encoding", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("message", sa.String(length=1000), nullable=True),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_accepted", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("rows_duplicate", sa.Integer(), nullable=False),
        sa.Column("records_created", sa.Integer(), nullable=False),
        sa.Column("records_updated", sa.Integer(), nullable=False),
        sa.Column("records_unchanged", sa.Integer(), nullable=False),
        sa.Column("subjects_created", sa.Integer(), nullable=False),
        sa.Column("rows_matched", sa.Integer(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.Column("submitted_on", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_report", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"],
                                name=op.f("fk_intake_batches_department_id_departments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_batches")),
    )
    with op.batch_alter_table("intake_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intake_batches_department_id"), ["department_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_intake_batches_resource"), ["resource"], unique=False)
        batch_op.create_index(batch_op.f("ix_intake_batches_file_sha256"), ["file_sha256"], unique=False)

    op.create_table(
        "records",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("natural_key_hash", sa.String(length=32).with_variant(sa.String(length=32, collation="C"),
                                                                        "postgresql"), nullable=False),
        sa.Column("natural_key", sa.String(length=500), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("main_date", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("raw_hash", sa.String(length=32), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("personal_enc", sa.LargeBinary(), nullable=True),
        sa.Column("last_batch_id", sa.BigInteger(), nullable=True),
        sa.Column("submitted_on", sa.Date(), nullable=True),
        sa.Column("delay_workdays", sa.Integer(), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_reason", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_records")),
        sa.UniqueConstraint("resource", "natural_key_hash", name=op.f("uq_records_resource_natural_key_hash")),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_records_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "record_versions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("row_no", sa.Integer(), nullable=True),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("personal_enc", sa.LargeBinary(), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_versions")),
        sa.UniqueConstraint("record_id", "version", name=op.f("uq_record_versions_record_id_version")),
    )

    op.create_table(
        "intake_batch_errors",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("batch_id", BigId, nullable=False),
        sa.Column("row_no", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=64), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["intake_batches.id"],
                                name=op.f("fk_intake_batch_errors_batch_id_intake_batches"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_batch_errors")),
    )
    with op.batch_alter_table("intake_batch_errors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intake_batch_errors_batch_id"), ["batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("intake_batch_errors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intake_batch_errors_batch_id"))
    op.drop_table("intake_batch_errors")
    op.drop_table("record_versions")
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_records_subject_id"))
    op.drop_table("records")
    with op.batch_alter_table("intake_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intake_batches_file_sha256"))
        batch_op.drop_index(batch_op.f("ix_intake_batches_resource"))
        batch_op.drop_index(batch_op.f("ix_intake_batches_department_id"))
    op.drop_table("intake_batches")
