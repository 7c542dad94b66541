"""rating: scoring runs, current scores and factors, history, dirty queue, inspection draws;
an index on records.updated_at for incremental scoring

Revision ID: 0011_rating
Revises: 0009_merge
Create Date: 2026-12-01 18:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_rating"
down_revision = "0009_merge"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rating_runs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("model_digest", sa.String(64), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("subjects_scored", sa.Integer(), nullable=False),
        sa.Column("subjects_changed", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_runs")),
    )
    op.create_table(
        "rating_scores",
        sa.Column("subject_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(8), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_rating_scores")),
    )
    op.create_index(op.f("ix_rating_scores_grade"), "rating_scores", ["grade"], unique=False)
    op.create_table(
        "rating_factors",
        sa.Column("subject_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("dimension", sa.String(32), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subject_id", "dimension", name=op.f("pk_rating_factors")),
    )
    op.create_table(
        "rating_history",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("subject_id", sa.BigInteger(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(8), nullable=False),
        sa.Column("previous_score", sa.Integer(), nullable=True),
        sa.Column("previous_grade", sa.String(8), nullable=True),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("computed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_history")),
    )
    op.create_index(op.f("ix_rating_history_run_id"), "rating_history", ["run_id"], unique=False)
    op.create_index(op.f("ix_rating_history_subject_id"), "rating_history", ["subject_id"], unique=False)
    op.create_table(
        "rating_dirty",
        sa.Column("subject_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("queued_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_rating_dirty")),
    )
    op.create_table(
        "inspection_draws",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("draw_date", sa.Date(), nullable=False),
        sa.Column("population_hash", sa.String(64), nullable=False),
        sa.Column("seed", sa.String(64), nullable=False),
        sa.Column("population_size", sa.Integer(), nullable=False),
        sa.Column("selected_count", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspection_draws")),
        sa.UniqueConstraint("department_id", "draw_date", name=op.f("uq_inspection_draws_department_id_draw_date")),
    )
    op.create_index(op.f("ix_inspection_draws_department_id"), "inspection_draws", ["department_id"], unique=False)
    op.create_table(
        "inspection_population",
        sa.Column("draw_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("subject_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("grade", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("draw_id", "subject_id", name=op.f("pk_inspection_population")),
    )
    op.create_table(
        "inspection_items",
        sa.Column("draw_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("subject_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("grade", sa.String(8), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("ticket", sa.String(64), nullable=False),
        sa.Column("inspectors", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("draw_id", "subject_id", name=op.f("pk_inspection_items")),
    )
    op.create_index("ix_records_updated_at", "records", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_records_updated_at", table_name="records")
    for t in ("inspection_items", "inspection_population", "inspection_draws", "rating_dirty", "rating_history",
              "rating_factors", "rating_scores", "rating_runs"):
        op.drop_table(t)
