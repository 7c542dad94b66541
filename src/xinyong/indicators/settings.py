"""Indicator settings (``XINYONG_`` environment variables), beside the feature like accounts'."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class IndicatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINYONG_", env_file=None, extra="ignore")

    #: A deployment's own indicator definitions (default: the built-in ``default.yaml``).
    indicators_file: Path | None = None
    #: Months of history in each trend.
    indicators_trend_months: int = 24
    #: Snapshots kept besides the last of each month (the monthly report reads those).
    indicators_keep_snapshots: int = 5


def get_indicator_settings() -> IndicatorSettings:
    return IndicatorSettings()
