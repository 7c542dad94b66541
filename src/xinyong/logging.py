"""Logging set-up: English, one line per event, never personal data."""

from __future__ import annotations

import logging

from xinyong.config import get_settings


def configure_logging(level: str | None = None) -> None:
    logging.basicConfig(
        level=(level or get_settings().log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # Migration chatter is not news to an operator running `init`.
    logging.getLogger("alembic").setLevel(logging.WARNING)
