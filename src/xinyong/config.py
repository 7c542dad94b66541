"""One settings object for the whole platform (``XINYONG_`` environment variables)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_var_dir() -> Path:
    return Path.cwd() / "var"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINYONG_", env_file=None, extra="ignore")

    # Working directory for the embedded default: SQLite file, key file, generated data.
    var_dir: Path = Field(default_factory=_default_var_dir)
    # Unset means the embedded SQLite file under var_dir.
    database_url: str | None = None
    # Base64 (urlsafe) 32-byte master secret; when unset, read from key_file.
    secret_key: str | None = None
    key_file: Path | None = None
    catalogue_dir: Path | None = None
    # Official holiday arrangement (one "2027-01-01,holiday" / "2027-02-07,workday" per line)
    # for years the bundled chinese-calendar does not know yet.
    holiday_file: Path | None = None
    site_name: str = "信用示范市"
    log_level: str = "INFO"
    # "text" (one readable line) or "json" (one JSON object per line, for log shippers).
    log_format: str = "text"
    sql_echo: bool = False
    # Workflows (issue #6): the deployment's policy file (default: the built-in one), an
    # operator-set "today" for demos and tests, attachment limits and SMTP for e-mail notices.
    policy_file: Path | None = None
    today: date | None = None
    attachment_max_bytes: int = 10 * 1024 * 1024
    # Hostile uploads (issue #12): an XLSX may expand to at most this much (zip-bomb guard), and
    # a request body other than an intake upload may be at most this large.
    intake_max_expanded_bytes: int = 512 * 1024 * 1024
    max_request_bytes: int = 128 * 1024 * 1024
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "noreply@xinyong.invalid"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout: float = 10.0
    public_base_url: str = "http://127.0.0.1:8000"

    # Reports (issue #9): Ed25519 signing keys (default var_dir/report-keys; never commit it) and
    # the CJK font embedded in PDF reports (default: Debian fonts-noto-cjk, else WenQuanYi).
    report_key_dir: Path | None = None
    report_font: Path | None = None

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'xinyong.sqlite3').resolve()}"

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file or (self.var_dir / "secret.key")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and CLI options that change the environment)."""
    get_settings.cache_clear()
