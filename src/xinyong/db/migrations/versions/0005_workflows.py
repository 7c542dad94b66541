"""workflows: disclosure-window columns on records; objections, repair, list determinations,
commitments, timelines, attachments; notifications and the e-mail outbox

Revision ID: 0005_workflows
Revises: 0004_merge
Create Date: 2026-11-23 09:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_workflows"
down_revision = "0004_merge"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts() -> list[sa.Column]:
    return [sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)]


def _index(table: str, *cols: str) -> None:
    with op.batch_alter_table(table, schema=None) as b:
        for col in cols:
            b.create_index(b.f(f"ix_{table}_{col}"), [col], unique=False)


def upgrade() -> None:
    with op.batch_alter_table("records", schema=None) as b:
        b.add_column(sa.Column("severity", sa.String(length=16), nullable=True))
        b.add_column(sa.Column("published", sa.Boolean(), server_default=sa.true(), nullable=False))
        b.add_column(sa.Column("public_until", sa.Date(), nullable=True))
        b.add_column(sa.Column("repair_after", sa.Date(), nullable=True))
        b.add_column(sa.Column("window_closed_on", sa.Date(), nullable=True))
        b.add_column(sa.Column("objection_open", sa.Boolean(), server_default=sa.false(), nullable=False))
        b.add_column(sa.Column("repaired_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "objections",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("applicant_kind", sa.String(length=16), nullable=False),
        sa.Column("applicant_user_id", sa.Integer(), nullable=True),
        sa.Column("applicant_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=True),
        sa.Column("tracking_hash", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_change", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("escalated_on", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("record_version_before", sa.Integer(), nullable=True),
        sa.Column("record_version_after", sa.Integer(), nullable=True),
        *_ts(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objections")),
    )
    _index("objections", "record_id", "subject_id", "department_id", "applicant_user_id", "tracking_hash",
           "state", "due_on")

    op.create_table(
        "repair_applications",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("record_id", sa.BigInteger(), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("applicant_user_id", sa.Integer(), nullable=True),
        sa.Column("applicant_name", sa.String(length=200), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=True),
        sa.Column("fulfilment", sa.Text(), nullable=False),
        sa.Column("commitment_text", sa.Text(), nullable=False),
        sa.Column("commitment_signed_by", sa.String(length=200), nullable=False),
        sa.Column("precheck", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("escalated_on", sa.Date(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        *_ts(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_applications")),
    )
    _index("repair_applications", "record_id", "subject_id", "department_id", "state", "due_on")

    op.create_table(
        "list_determinations",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("list_kind", sa.String(length=8), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("personal_enc", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("proposed_on", sa.Date(), nullable=False),
        sa.Column("noticed_on", sa.Date(), nullable=True),
        sa.Column("objection_until", sa.Date(), nullable=True),
        sa.Column("statement", sa.Text(), nullable=True),
        sa.Column("decision_no", sa.String(length=100), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("removed_on", sa.Date(), nullable=True),
        sa.Column("removal_reason", sa.Text(), nullable=True),
        *_ts(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_determinations")),
    )
    _index("list_determinations", "resource", "subject_id", "department_id", "state", "valid_until", "record_id")

    op.create_table(
        "commitments",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("commitment_no", sa.String(length=100), nullable=False),
        sa.Column("commitment_type", sa.String(length=32), nullable=False),
        sa.Column("domain", sa.String(length=16), nullable=False),
        sa.Column("matter", sa.String(length=500), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("committed_on", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("verified_on", sa.Date(), nullable=True),
        sa.Column("breach_facts", sa.Text(), nullable=True),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        *_ts(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitments")),
    )
    _index("commitments", "subject_id", "department_id", "state", "record_id")

    op.create_table(
        "workflow_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workflow", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("state_from", sa.String(length=20), nullable=True),
        sa.Column("state_to", sa.String(length=20), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("on_day", sa.Date(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_events")),
    )
    _index("workflow_events", "workflow", "case_id")

    op.create_table(
        "workflow_attachments",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("workflow", sa.String(length=16), nullable=False),
        sa.Column("case_id", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_attachments")),
    )
    _index("workflow_attachments", "case_id")

    op.create_table(
        "notifications",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("audience_id", sa.BigInteger(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=300), nullable=True),
        sa.Column("workflow", sa.String(length=16), nullable=True),
        sa.Column("case_id", sa.BigInteger(), nullable=True),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    _index("notifications", "created_at")
    op.create_index("ix_notifications_audience", "notifications", ["audience", "audience_id"])

    op.create_table(
        "notification_contacts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("audience_id", sa.BigInteger(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_contacts")),
        sa.UniqueConstraint("audience", "audience_id", "email",
                            name=op.f("uq_notification_contacts_audience_audience_id_email")),
    )

    op.create_table(
        "email_outbox",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.BigInteger(), nullable=True),
        sa.Column("to_addr", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=250), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox")),
    )
    _index("email_outbox", "status")


def downgrade() -> None:
    for table in ("email_outbox", "notification_contacts", "notifications", "workflow_attachments",
                  "workflow_events", "commitments", "list_determinations", "repair_applications", "objections"):
        op.drop_table(table)
    with op.batch_alter_table("records", schema=None) as b:
        for col in ("repaired_at", "objection_open", "window_closed_on", "repair_after", "public_until",
                    "published", "severity"):
            b.drop_column(col)
