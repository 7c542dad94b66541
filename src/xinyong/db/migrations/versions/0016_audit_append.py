"""audit: one statement appends an event on PostgreSQL

Revision ID: 0016_audit_append
Revises: 0015_rating_cover
Create Date: 2026-12-06 05:00:00

Appends are serialised (each links to the head). Taking the lock, reading the head and inserting
were three round trips, each waiting for the application, while every other append queued
behind them: at 8 concurrent checks most backends sat in the advisory-lock queue.
``audit_append`` does all three on the server in one call: it takes the same lock, reads the head
with a fresh snapshot (a VOLATILE function's statements each take one, so a head committed while
it waited is seen), and inserts the event with its hash computed from the canonical JSON the
application split around ``prev_hash`` and ``seq``. It refuses text whose UTF-8 bytes differ from
the application's (a database not in UTF-8), so a hash the verifier would not reproduce is never
stored. A caller whose unit of work ends with the event sends the COMMIT with the call: the lock
is then held for one round trip, not until the application gets round to committing.
SQLite keeps the application-side append (it serialises writers by its own lock).
"""
from __future__ import annotations

from alembic import op

revision = "0016_audit_append"
down_revision = "0015_rating_cover"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("""
        CREATE FUNCTION audit_append(
            p_lock bigint, p_genesis text, p_before_prev text, p_before_seq text, p_after_seq text, p_utf8 bytea,
            p_time timestamptz, p_actor_kind varchar, p_actor_id varchar, p_actor_name varchar, p_role varchar,
            p_department varchar, p_action varchar, p_subject_id bigint, p_resources json,
            p_purpose_code varchar, p_purpose_text varchar, p_request_id varchar, p_details json)
        RETURNS TABLE (new_seq bigint, new_prev_hash varchar, new_hash varchar)
        LANGUAGE plpgsql VOLATILE AS $$
        DECLARE
            head_seq bigint;
            head_hash varchar;
        BEGIN
            IF convert_to(p_before_prev || p_before_seq || p_after_seq, 'UTF8') <> p_utf8 THEN
                RAISE EXCEPTION 'audit_append: the event text is not the application''s UTF-8';
            END IF;
            PERFORM pg_advisory_xact_lock(p_lock);
            SELECT a.seq, a.hash INTO head_seq, head_hash FROM audit_events a ORDER BY a.seq DESC LIMIT 1;
            head_seq := coalesce(head_seq, 0) + 1;
            head_hash := coalesce(head_hash, p_genesis);
            RETURN QUERY
            INSERT INTO audit_events AS e (seq, time, actor_kind, actor_id, actor_name, role, department, action,
                                           subject_id, resources, purpose_code, purpose_text, request_id, details,
                                           prev_hash, hash)
            VALUES (head_seq, p_time, p_actor_kind, p_actor_id, p_actor_name, p_role, p_department, p_action,
                    p_subject_id, p_resources, p_purpose_code, p_purpose_text, p_request_id, p_details, head_hash,
                    encode(sha256(convert_to(p_before_prev || head_hash || p_before_seq || head_seq::text
                                             || p_after_seq, 'UTF8')), 'hex'))
            RETURNING e.seq, e.prev_hash, e.hash;
        END
        $$""")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS audit_append(bigint, text, text, text, text, bytea, timestamptz, varchar, "
               "varchar, varchar, varchar, varchar, varchar, bigint, json, varchar, varchar, varchar, json)")
