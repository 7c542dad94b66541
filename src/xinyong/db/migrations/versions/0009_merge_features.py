"""merge the workflows (0005), portal (0006), reports (0007) and indicators (0008) branches

Revision ID: 0009_merge
Revises: 0005_workflows, 0006_portal, 0007_reports, 0008_indicators
Create Date: 2026-11-22 09:10:00

The four features were built side by side from 0004 and touch different tables (0005 and 0006
both change `records`, but different columns and indexes); this joins them into one head.
"""
from __future__ import annotations

revision = "0009_merge"
down_revision = ("0005_workflows", "0006_portal", "0007_reports", "0008_indicators")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
