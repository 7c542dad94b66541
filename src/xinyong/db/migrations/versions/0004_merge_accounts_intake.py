"""merge the accounts (0002) and intake (0003) branches

Revision ID: 0004_merge
Revises: 0002_accounts, 0003_intake
Create Date: 2026-11-22 05:40:00

Both branches start from 0001 and touch different tables; this only joins them so that
`upgrade head` has one head. The integrator may replace it with their own merge.
"""
from __future__ import annotations

revision = "0004_merge"
down_revision = ("0002_accounts", "0003_intake")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
