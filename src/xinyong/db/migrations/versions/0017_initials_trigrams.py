"""portal: pinyin-initials trigrams in the search index

Initials use a 36-letter alphabet: at a million subjects each initials bigram's posting list held
30,000 to 800,000 subjects, and a query like ``tfdq`` with thirty matches confirmed every one of
them (0.3-0.7 s). Queries of three or more letters now read a trigram's list; this revision adds
the trigrams of every subject already indexed (``xinyong.portal.normalize.initials_trigrams``).

Revision ID: 0017_initials_trigrams
Revises: 0016_audit_append
Create Date: 2026-12-06 10:45:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_initials_trigrams"
down_revision = "0016_audit_append"
branch_labels = None
depends_on = None

_CHUNK = 20_000


def upgrade() -> None:
    from xinyong.portal.normalize import INITIALS_TRIGRAM_FLAG, initials_trigrams
    from xinyong.portal.search import _insert_grams

    conn = op.get_bind()
    ps = sa.table("portal_search", sa.column("subject_id", sa.BigInteger), sa.column("initials", sa.String))
    grams = sa.table("portal_search_grams", sa.column("gram", sa.BigInteger), sa.column("subject_id", sa.BigInteger))
    # Re-runnable: whatever an interrupted run left is replaced.
    conn.execute(sa.delete(grams).where(grams.c.gram >= INITIALS_TRIGRAM_FLAG))
    last = -1
    while True:
        chunk = conn.execute(sa.select(ps.c.subject_id, ps.c.initials).where(ps.c.subject_id > last)
                             .order_by(ps.c.subject_id).limit(_CHUNK)).all()
        if not chunk:
            break
        rows = [(g, sid) for sid, initials in chunk for g in initials_trigrams(initials or "")]
        if rows:
            _insert_grams(conn, rows)
        last = chunk[-1][0]


def downgrade() -> None:
    from xinyong.portal.normalize import INITIALS_TRIGRAM_FLAG

    grams = sa.table("portal_search_grams", sa.column("gram", sa.BigInteger))
    op.get_bind().execute(sa.delete(grams).where(grams.c.gram >= INITIALS_TRIGRAM_FLAG))
