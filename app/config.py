"""Runtime configuration: one Settings object read from the environment and `.env`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SIMULATOR_KEY = "simulator-key"


class Settings(BaseSettings):
    """Everything an operator can set; each field is documented in the README table."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    base_url: str | None = Field(default=None, validation_alias="RUNWAYML_BASE_URL")
    api_secret: SecretStr | None = Field(default=None, validation_alias="RUNWAYML_API_SECRET")
    api_version: str = Field(default="2024-11-06", validation_alias="RUNWAYML_API_VERSION")
    data_dir: Path = Field(default=Path("data"), validation_alias="CONSOLE_DATA_DIR")
    catalogue_file: Path | None = Field(default=None, validation_alias="CONSOLE_CATALOGUE")
    root_path: str = Field(default="", validation_alias="CONSOLE_ROOT_PATH")
    poll_interval: float = Field(default=5.0, gt=0, validation_alias="CONSOLE_POLL_INTERVAL")
    upstream_timeout: float = Field(default=30.0, gt=0, validation_alias="CONSOLE_UPSTREAM_TIMEOUT")
    upstream_retries: int = Field(default=3, ge=1, le=10, validation_alias="CONSOLE_UPSTREAM_RETRIES")
    upstream_backoff: float = Field(default=0.5, ge=0, validation_alias="CONSOLE_UPSTREAM_BACKOFF")
    max_upload_mb: float = Field(default=20.0, gt=0, validation_alias="CONSOLE_MAX_UPLOAD_MB")
    default_language: str = Field(default="en", validation_alias="CONSOLE_DEFAULT_LANGUAGE")

    sim_pending_seconds: float = Field(default=1.0, ge=0, validation_alias="SIMULATOR_PENDING_SECONDS")
    sim_running_seconds: float = Field(default=6.0, ge=0, validation_alias="SIMULATOR_RUNNING_SECONDS")
    sim_concurrency: int = Field(default=2, ge=1, validation_alias="SIMULATOR_CONCURRENCY")
    sim_url_ttl_seconds: float = Field(default=86400.0, gt=0, validation_alias="SIMULATOR_URL_TTL_SECONDS")
    sim_video_max_side: int = Field(default=640, ge=64, le=4096, validation_alias="SIMULATOR_VIDEO_MAX_SIDE")
    sim_api_secret: SecretStr | None = Field(default=None, validation_alias="SIMULATOR_API_SECRET")

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                "must be an http:// or https:// URL such as "
                "https://api.dev.runwayml.com or https://api.openai-hk.com/runwayml"
            )
        if parts.query or parts.fragment:
            raise ValueError("must not contain a query string or fragment")
        return value

    @field_validator("api_secret", "sim_api_secret")
    @classmethod
    def _blank_secret_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("root_path")
    @classmethod
    def _check_root_path(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith("/"):
            raise ValueError("must start with '/', for example /runway")
        return value

    @field_validator("default_language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        from app.i18n import LANGUAGES

        if value not in LANGUAGES:
            raise ValueError(f"must be one of {', '.join(LANGUAGES)}")
        return value

    @property
    def uses_simulator(self) -> bool:
        return self.base_url is None

    @property
    def upstream_key(self) -> str:
        """The key sent upstream; for the built-in simulator, the one it was told to accept."""
        if self.uses_simulator:
            chosen = self.sim_api_secret or self.api_secret
            return chosen.get_secret_value() if chosen else SIMULATOR_KEY
        return self.api_secret.get_secret_value() if self.api_secret else ""

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


class ConfigError(Exception):
    """A setting is wrong; the message is one line fit to print at start-up."""


def describe_validation_error(exc: ValidationError) -> str:
    """Turn pydantic's multi-line report into one line naming the environment variables."""
    parts = []
    for error in exc.errors():
        name = ".".join(str(p) for p in error.get("loc", ())) or "settings"
        message = error.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{name}: {message}")
    return "; ".join(parts)


def load_settings(**overrides) -> Settings:
    """Build Settings, turning any validation problem into a one-line ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
