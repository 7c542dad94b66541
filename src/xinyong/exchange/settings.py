"""Exchange settings (``XINYONG_EXCHANGE_`` environment variables)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ExchangeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINYONG_EXCHANGE_", env_file=None, extra="ignore")

    #: First retry after this many seconds; doubled after each further failure, up to ``retry_max``.
    retry_base: float = 30.0
    retry_max: float = 6 * 3600.0
    #: Changes per webhook delivery.
    batch_size: int = 200
    timeout: float = 10.0
    #: The worker's pause between rounds (``xinyong exchange deliver`` without ``--once``).
    poll_seconds: float = 5.0
    #: Name of this platform in packages it exports (default: the site name).
    platform: str | None = None


def get_exchange_settings() -> ExchangeSettings:
    return ExchangeSettings()
