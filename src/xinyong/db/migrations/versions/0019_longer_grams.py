"""portal: name trigrams and initials four-grams in the search index

At a million subjects a three- or four-character query's rarest bigram still listed 6,000-15,000
names for a few hundred matches, and a four-letter initials query's rarest trigram 10,000-60,000:
each candidate was confirmed in turn (~2.5 us each), the tail of the search page. Such queries
now read a name trigram's or an initials four-gram's list; this revision adds those of every
subject already indexed (``xinyong.portal.normalize.trigrams`` of each current and former name,
``initials_fourgrams`` of the initials).

Revision ID: 0019_longer_grams
Revises: 0018_rating_items
Create Date: 2026-12-06 20:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_longer_grams"
down_revision = "0018_rating_items"
branch_labels = None
depends_on = None

_CHUNK = 20_000


def _added(grams: sa.TableClause) -> sa.ColumnElement[bool]:
    """The grams this revision adds: initials four-grams and name trigrams, the two highest ranges."""
    from xinyong.portal.normalize import INITIALS_FOURGRAM_FLAG, NAME_TRIGRAM_FLAG

    assert NAME_TRIGRAM_FLAG > INITIALS_FOURGRAM_FLAG
    return grams.c.gram >= INITIALS_FOURGRAM_FLAG


def upgrade() -> None:
    from xinyong.portal.normalize import initials_fourgrams, trigrams
    from xinyong.portal.search import _insert_grams

    conn = op.get_bind()
    ps = sa.table("portal_search", sa.column("subject_id", sa.BigInteger), sa.column("names_key", sa.Text),
                  sa.column("initials", sa.String))
    grams = sa.table("portal_search_grams", sa.column("gram", sa.BigInteger), sa.column("subject_id", sa.BigInteger))
    # Re-runnable: whatever an interrupted run left is replaced.
    conn.execute(sa.delete(grams).where(_added(grams)))
    last = -1
    while True:
        chunk = conn.execute(sa.select(ps.c.subject_id, ps.c.names_key, ps.c.initials).where(ps.c.subject_id > last)
                             .order_by(ps.c.subject_id).limit(_CHUNK)).all()
        if not chunk:
            break
        rows = []
        for sid, key, initials in chunk:
            held = initials_fourgrams(initials or "")
            for name in (key or "").split("\n"):
                held |= trigrams(name)
            rows.extend((g, sid) for g in held)
        if rows:
            _insert_grams(conn, rows)
        last = chunk[-1][0]


def downgrade() -> None:
    grams = sa.table("portal_search_grams", sa.column("gram", sa.BigInteger))
    conn = op.get_bind()
    conn.execute(sa.delete(grams).where(_added(grams)))
