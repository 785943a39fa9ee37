"""Settings from environment variables (prefix DUNLIN_) and a `.env` file.

Defaults are the embedded ones: a SQLite file and a local outbox under the data directory,
so `dunlin demo` runs with nothing configured.
"""

from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from dunlin.errors import ConfigError

KEY_FILE = "secret.key"  # the demo's key in the data directory (dunlin.crypto writes it)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DUNLIN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(
        default=Path(".dunlin"), description="Where SQLite, outbox and demo files live."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite in data_dir."
    )
    redis_url: str = "redis://127.0.0.1:6379/0"
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s), comma-separated, newest first. Required outside the demo.",
    )
    # Set by the settings, never by the environment: the file the secret key was read from.
    _secret_key_file: Path | None = PrivateAttr(default=None)
    outbox_dir: Path | None = None
    dispatch: Literal["inline", "queue"] = Field(
        default="inline",
        description="inline: `dunlin send`/`run` send in-process; queue: they enqueue for workers.",
    )
    job_heartbeat_seconds: int = Field(
        default=90, ge=2, description="A job that stops beating this long counts as lost."
    )
    public_url: str | None = Field(
        default=None,
        description="Where customers reach `dunlin serve` (https://pay.example.com); reminders "
        "carry signed self-service, click and unsubscribe links only when it is set.",
    )
    link_max_age_days: int = Field(
        default=90, ge=1, description="How long a reminder's links work."
    )
    max_request_bytes: int = Field(default=1_048_576, ge=1024, description="Larger bodies get 413.")
    web_rate_limit: float = Field(
        default=20.0, gt=0, description="Requests per second per client IP on public endpoints."
    )
    proxy_hops: int = Field(
        default=0, ge=0, description="Reverse proxies in front of `dunlin serve` (X-Forwarded-*)."
    )
    promise_max_days: int = Field(default=60, ge=1, description="How far ahead a promise may go.")
    paid_claim_pause_days: int = Field(
        default=7,
        ge=1,
        description="'I have paid' pauses reminders this long while finance checks.",
    )
    alert_urls: SecretStr | None = Field(
        default=None,
        description="Apprise URLs (space- or comma-separated) that get operator alerts: a "
        "channel broken, a source failing, sends left uncertain. Never used for customers.",
    )
    org: str = "default"
    default_region: str = "CN"
    default_timezone: str = "Asia/Shanghai"
    default_language: str = "zh_CN"
    default_currency: str = "CNY"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'dunlin.db').resolve()}"

    @property
    def resolved_outbox_dir(self) -> Path:
        return self.outbox_dir or self.data_dir / "outbox"

    @property
    def alert_url_list(self) -> str | None:
        return self.alert_urls.get_secret_value() if self.alert_urls else None

    @property
    def secret_key_file(self) -> Path | None:
        """The data-directory file the key came from, or None when it came from the environment."""
        return self._secret_key_file

    @property
    def secret_key_material(self) -> str | None:
        return self.secret_key.get_secret_value() if self.secret_key else None

    @model_validator(mode="after")
    def _key_from_data_dir(self) -> Settings:
        """Without DUNLIN_SECRET_KEY, use the key the demo left in the data directory, so the
        commands it suggests work; `secret_key_file` says where it came from."""
        if self.secret_key is None or not self.secret_key.get_secret_value().strip():
            path = self.data_dir / KEY_FILE
            with contextlib.suppress(OSError, UnicodeDecodeError):
                key = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
                if key:
                    self.secret_key = SecretStr(key)
                    self._secret_key_file = path
        return self

    def require_secret_key(self) -> str:
        """Return the key material or fail with a message a person can act on."""
        if self.secret_key is None or not self.secret_key.get_secret_value().strip():
            raise ConfigError(
                "DUNLIN_SECRET_KEY is not set. Generate one with `dunlin secret-key` and put it in "
                f"the environment or .env (the demo makes its own in {self.data_dir / KEY_FILE}). "
                "/ 未设置 DUNLIN_SECRET_KEY：请用 `dunlin secret-key` 生成并写入环境变量或 .env"
                f"（演示模式会自动生成 {self.data_dir / KEY_FILE}）。"
            )
        return self.secret_key.get_secret_value()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {exc}") from exc
