"""Schema creation and upgrade through Alembic (idempotent: ``xinyong init`` may run any time)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from xinyong.db.engine import get_engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    engine = get_engine(url)
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(url: str | None = None) -> tuple[str | None, str]:
    """Upgrade to every head; returns (revision before, revision after)."""
    cfg = alembic_config(url)
    before = current_revision(url)
    with get_engine(url).begin() as conn:
        cfg.attributes["connection"] = conn
        # "heads": features developed side by side may add branches before a merge revision joins them.
        command.upgrade(cfg, "heads")
    return before, head_revision()


def current_revision(url: str | None = None) -> str | None:
    """The database's revision (several joined by "+" while branches are unmerged)."""
    with get_engine(url).connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return "+".join(sorted(heads)) or None


def head_revision() -> str:
    return "+".join(sorted(ScriptDirectory(str(MIGRATIONS)).get_heads()))
