"""Rating settings (``XINYONG_`` environment variables), beside the feature like indicators'."""

from __future__ import annotations

import os
from functools import lru_cache
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


_ENV = tuple(f"XINYONG_{name.upper()}" for name in RatingSettings.model_fields)


@lru_cache(maxsize=8)
def _settings(_env: tuple[str | None, ...]) -> RatingSettings:
    return RatingSettings()


def get_rating_settings() -> RatingSettings:
    # Read from the environment every time (tests and operators change it), but parsed only when
    # it changed: parsing cost half a millisecond on every public profile page.
    return _settings(tuple(os.environ.get(name) for name in _ENV))
