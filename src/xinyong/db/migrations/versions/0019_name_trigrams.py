"""portal: name trigrams in the search index

At a million subjects a three- or four-character query's rarest bigram still listed 6,000-15,000
names for a few hundred matches, and each was confirmed in turn (~2.5 us each: the tail of the
search page). Such queries now read a trigram's list; this revision adds the trigrams of every
name already indexed (``xinyong.portal.normalize.trigrams``), current and former.

Revision ID: 0019_name_trigrams
Revises: 0018_rating_items
Create Date: 2026-12-06 20:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_name_trigrams"
down_revision = "0018_rating_items"
branch_labels = None
depends_on = None

_CHUNK = 20_000


def upgrade() -> None:
    from xinyong.portal.normalize import NAME_TRIGRAM_FLAG, trigrams
    from xinyong.portal.search import _insert_grams

    conn = op.get_bind()
    ps = sa.table("portal_search", sa.column("subject_id", sa.BigInteger), sa.column("names_key", sa.Text))
    grams = sa.table("portal_search_grams", sa.column("gram", sa.BigInteger), sa.column("subject_id", sa.BigInteger))
    # Re-runnable: whatever an interrupted run left is replaced.
    conn.execute(sa.delete(grams).where(grams.c.gram >= NAME_TRIGRAM_FLAG))
    last = -1
    while True:
        chunk = conn.execute(sa.select(ps.c.subject_id, ps.c.names_key).where(ps.c.subject_id > last)
                             .order_by(ps.c.subject_id).limit(_CHUNK)).all()
        if not chunk:
            break
        rows = []
        for sid, key in chunk:
            held: set[int] = set()
            for name in (key or "").split("\n"):
                held |= trigrams(name)
            rows.extend((g, sid) for g in held)
        if rows:
            _insert_grams(conn, rows)
        last = chunk[-1][0]


def downgrade() -> None:
    from xinyong.portal.normalize import NAME_TRIGRAM_FLAG

    grams = sa.table("portal_search_grams", sa.column("gram", sa.BigInteger))
    op.get_bind().execute(sa.delete(grams).where(grams.c.gram >= NAME_TRIGRAM_FLAG))
