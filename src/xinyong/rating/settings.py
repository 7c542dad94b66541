"""Rating settings (``XINYONG_`` environment variables), beside the feature like indicators'."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class RatingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINYONG_", env_file=None, extra="ignore")

    #: A deployment's own scorecard (default: the built-in ``default_model.yaml``).
    rating_model_file: Path | None = None
    #: Whether each subject's grade appears on its public profile (the model is always public).
    rating_publish_grades: bool = False
    #: Tiered supervision: inspection ratios by grade and the inspector rosters.
    supervision_file: Path | None = None


def get_rating_settings() -> RatingSettings:
    return RatingSettings()
