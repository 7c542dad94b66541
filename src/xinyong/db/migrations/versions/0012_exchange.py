"""exchange: change feed (triggers), webhook subscriptions and deliveries, peers, imported packages

Revision ID: 0012_exchange
Revises: 0009_merge
Create Date: 2026-12-01 18:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_exchange"
down_revision = "0009_merge"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

LIST_ACTIONS = "('expire', 'remove_repaired', 'revoke')"

PG_TRIGGERS = [
    # Record versions: one set-based INSERT … SELECT per statement (bulk intake inserts 20,000 rows
    # in one statement), never per row.
    """
    CREATE OR REPLACE FUNCTION exchange_feed_versions() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO exchange_pending (kind, record_id, version, subject_id, department_id, tombstone, occurred_at)
        SELECT 'record.' || n.change, n.record_id, n.version, n.subject_id, n.department_id,
               n.change = 'withdrawn', n.created_at
        FROM exchange_new_versions n ORDER BY n.id;
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER exchange_feed_versions AFTER INSERT ON record_versions
    REFERENCING NEW TABLE AS exchange_new_versions
    FOR EACH STATEMENT EXECUTE FUNCTION exchange_feed_versions()
    """,
    # Disclosure windows closed by the tick: the WHEN clause is checked in C; intake's updates
    # (which set window_closed_on to NULL) never queue the trigger.
    """
    CREATE OR REPLACE FUNCTION exchange_feed_window() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO exchange_pending (kind, resource, record_id, version, subject_id, department_id, tombstone,
                                      occurred_at)
        VALUES ('record.window_closed', NEW.resource, NEW.id, NEW.current_version, NEW.subject_id,
                NEW.department_id, false, now());
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER exchange_feed_window AFTER UPDATE OF window_closed_on ON records FOR EACH ROW
    WHEN (OLD.window_closed_on IS NULL AND NEW.window_closed_on IS NOT NULL)
    EXECUTE FUNCTION exchange_feed_window()
    """,
    # List entries taken off a list (expired, repaired, revoked): tombstones.
    f"""
    CREATE OR REPLACE FUNCTION exchange_feed_lists() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO exchange_pending (kind, resource, record_id, version, subject_id, department_id, tombstone,
                                      ref_id, occurred_at)
        SELECT 'list.removed', d.resource, d.record_id, NULL, d.subject_id, d.department_id, true, d.id, NEW.at
        FROM list_determinations d WHERE d.id = NEW.case_id;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE TRIGGER exchange_feed_lists AFTER INSERT ON workflow_events FOR EACH ROW
    WHEN (NEW.workflow = 'determination' AND NEW.action IN {LIST_ACTIONS})
    EXECUTE FUNCTION exchange_feed_lists()
    """,
]

# SQLite has one writer at a time: the next number is simply one more than the last. ``seq`` is
# the table's rowid there (INTEGER PRIMARY KEY), so leaving it out appends at max(seq) + 1 with no
# separate key index to maintain.
SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER exchange_feed_versions AFTER INSERT ON record_versions BEGIN
        INSERT INTO exchange_changes (kind, resource, record_id, version, subject_id, department_id, tombstone,
                                      occurred_at)
        VALUES ('record.' || NEW.change, (SELECT resource FROM records WHERE id = NEW.record_id),
                NEW.record_id, NEW.version, NEW.subject_id, NEW.department_id, NEW.change = 'withdrawn',
                NEW.created_at);
    END
    """,
    f"""
    CREATE TRIGGER exchange_feed_window AFTER UPDATE OF window_closed_on ON records
    WHEN OLD.window_closed_on IS NULL AND NEW.window_closed_on IS NOT NULL BEGIN
        INSERT INTO exchange_changes (kind, resource, record_id, version, subject_id, department_id, tombstone,
                                      occurred_at)
        VALUES ('record.window_closed', NEW.resource, NEW.id, NEW.current_version, NEW.subject_id,
                NEW.department_id, 0, strftime('%Y-%m-%d %H:%M:%f', 'now'));
    END
    """,
    f"""
    CREATE TRIGGER exchange_feed_lists AFTER INSERT ON workflow_events
    WHEN NEW.workflow = 'determination' AND NEW.action IN {LIST_ACTIONS} BEGIN
        INSERT INTO exchange_changes (kind, resource, record_id, version, subject_id, department_id, tombstone,
                                      ref_id, occurred_at)
        SELECT 'list.removed', d.resource, d.record_id, NULL, d.subject_id, d.department_id, 1, d.id, NEW.at
        FROM list_determinations d WHERE d.id = NEW.case_id;
    END
    """,
]


def _feed_columns() -> list[sa.Column]:
    return [
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=True),
        sa.Column("record_id", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("subject_id", sa.BigInteger(), nullable=True),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("tombstone", sa.Boolean(), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    cols = _feed_columns()
    cols[1] = sa.Column("resource", sa.String(length=64), nullable=False)
    op.create_table(
        "exchange_changes",
        sa.Column("seq", BigId, autoincrement=False, nullable=False),
        *cols,
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_exchange_changes")),
    )
    op.create_index("ix_exchange_changes_resource_seq", "exchange_changes", ["resource", "seq"], unique=False)
    op.create_table(
        "exchange_pending",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        *_feed_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_pending")),
    )
    op.create_table(
        "exchange_subscriptions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("subject_kinds", sa.JSON(), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("delivered_total", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_subscriptions")),
    )
    op.create_index(op.f("ix_exchange_subscriptions_client_id"), "exchange_subscriptions", ["client_id"])
    op.create_table(
        "exchange_deliveries",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("seq_from", sa.BigInteger(), nullable=False),
        sa.Column("seq_to", sa.BigInteger(), nullable=False),
        sa.Column("changes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_deliveries")),
    )
    op.create_index(op.f("ix_exchange_deliveries_subscription_id"), "exchange_deliveries", ["subscription_id"])
    op.create_table(
        "exchange_peers",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("platform", sa.String(length=200), nullable=True),
        sa.Column("cursor", sa.String(length=100), nullable=True),
        sa.Column("last_pull_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_peers")),
        sa.UniqueConstraint("url", name=op.f("uq_exchange_peers_url")),
    )
    op.create_table(
        "exchange_imports",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=False),
        sa.Column("platform", sa.String(length=200), nullable=False),
        sa.Column("package_id", sa.String(length=64), nullable=False),
        sa.Column("cursor_from", sa.String(length=100), nullable=True),
        sa.Column("cursor_to", sa.String(length=100), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_imports")),
        sa.UniqueConstraint("manifest_sha256", name=op.f("uq_exchange_imports_manifest_sha256")),
    )
    bind = op.get_bind()
    for ddl in PG_TRIGGERS if bind.dialect.name == "postgresql" else SQLITE_TRIGGERS:
        op.execute(ddl)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS exchange_feed_versions ON record_versions")
        op.execute("DROP TRIGGER IF EXISTS exchange_feed_window ON records")
        op.execute("DROP TRIGGER IF EXISTS exchange_feed_lists ON workflow_events")
        for fn in ("exchange_feed_versions", "exchange_feed_window", "exchange_feed_lists"):
            op.execute(f"DROP FUNCTION IF EXISTS {fn}()")
    else:
        for name in ("exchange_feed_versions", "exchange_feed_window", "exchange_feed_lists"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table in ("exchange_imports", "exchange_peers", "exchange_deliveries", "exchange_subscriptions",
                  "exchange_pending", "exchange_changes"):
        op.drop_table(table)
