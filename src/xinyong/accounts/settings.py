"""Account and session settings (``XINYONG_`` environment variables).

Kept beside the feature rather than in ``config.py`` so the cost of password hashing can be
lowered in tests (``XINYONG_ARGON2_TIME_COST=1``) while production keeps strong defaults.
"""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class AccountSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINYONG_", env_file=None, extra="ignore")

    # argon2id; defaults follow RFC 9106's second recommended option (64 MiB, t=3).
    argon2_time_cost: int = 3
    argon2_memory_cost: int = 65536  # KiB
    argon2_parallelism: int = 4
    session_hours: float = 8.0
    lockout_threshold: int = 5
    lockout_minutes: int = 15
    # None: Secure cookies exactly when the request came over HTTPS.
    cookie_secure: bool | None = None
    client_default_rate_limit: int = 120  # requests per minute
    client_default_days: int = 365


def get_account_settings() -> AccountSettings:
    # Not cached: cheap, and tests change the environment between cases.
    return AccountSettings()
