"""The workflows' clock: China's calendar day, unless an operator or a test sets "today"
(``--today`` on the CLI, ``XINYONG_TODAY`` for a running server)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8))


def today(override: date | None = None) -> date:
    if override is not None:
        return override
    from xinyong.config import get_settings

    configured = get_settings().today
    return configured or datetime.now(CHINA_TZ).date()


def now() -> datetime:
    return datetime.now(UTC)
