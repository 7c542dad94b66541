"""merge the measures (0010), rating (0011) and exchange (0012) branches

Revision ID: 0013_merge
Revises: 0010_measures, 0011_rating, 0012_exchange
Create Date: 2026-12-01 19:30:00

Built side by side from 0009. Each adds its own tables; on shared tables they only add
different things (0010 an index on subject_identifiers, 0011 an index on records.updated_at,
0012 feed triggers on records and record_versions); this joins them into one head.
"""
from __future__ import annotations

revision = "0013_merge"
down_revision = ("0010_measures", "0011_rating", "0012_exchange")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
