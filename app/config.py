"""Runtime configuration: one Settings object read from the environment and `.env`.

Each field's check lives in app/setting_checks.py; how nested groups and error messages map to
environment names, in app/settings_sources.py.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.setting_checks import (
    blank_is_none,
    blank_or_zero_is_unset,
    blank_secret_is_none,
    check_visitor_mode,
    checked_accel_redirect,
    checked_api_tokens,
    checked_base_url,
    checked_base_url_list,
    checked_language,
    checked_media_hosts,
    checked_root_path,
    checked_trusted_proxies,
    parse_token_list,
)
from app.settings_sources import NestedByEnvName, describe_validation_error
from app.simulator.settings import SimulatorSettings
from app.storage.migrations import DEFAULT_BUSY_TIMEOUT

SIMULATOR_KEY = "simulator-key"
# Only a proxy on this machine may speak for the client (X-Forwarded-For, -Proto, -Host).
DEFAULT_TRUSTED_PROXIES = "127.0.0.0/8,::1"
# What a task form carries besides its two frames: the other fields and the multipart framing.
FORM_OVERHEAD_BYTES = 1024 * 1024
MIB = 1024 * 1024


# Browser tabs ask our database, not the upstream, so this can be brisk (bench/ measures at it).
DEFAULT_PAGE_REFRESH_SECONDS = 2.0


class Settings(BaseSettings):
    """Everything an operator can set; each field is documented in the README table."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        # SIMULATOR_PENDING_SECONDS fills simulator.pending_seconds, from the environment or .env.
        env_nested_delimiter="_",
        env_nested_max_split=1,
    )

    base_url: str | None = Field(default=None, validation_alias="RUNWAYML_BASE_URL")
    api_secret: SecretStr | None = Field(default=None, validation_alias="RUNWAYML_API_SECRET")
    api_version: str = Field(default="2024-11-06", validation_alias="RUNWAYML_API_VERSION")
    data_dir: Path = Field(default=Path("data"), validation_alias="CONSOLE_DATA_DIR")
    # How long a write waits for another connection's (another console on the same file) before the
    # console says it could not save (and so sent nothing upstream).
    db_busy_timeout: float = Field(
        default=DEFAULT_BUSY_TIMEOUT, gt=0, le=600, validation_alias="CONSOLE_DB_BUSY_TIMEOUT"
    )
    catalogue_file: Path | None = Field(default=None, validation_alias="CONSOLE_CATALOGUE")
    root_path: str = Field(default="", validation_alias="CONSOLE_ROOT_PATH")
    poll_interval: float = Field(default=5.0, gt=0, validation_alias="CONSOLE_POLL_INTERVAL")
    # How often an open page asks the console (its database, not the upstream) for news of a task.
    page_refresh: float = Field(
        default=DEFAULT_PAGE_REFRESH_SECONDS, ge=0.1, le=60, validation_alias="CONSOLE_PAGE_REFRESH_SECONDS"
    )
    upstream_timeout: float = Field(default=30.0, gt=0, validation_alias="CONSOLE_UPSTREAM_TIMEOUT")
    upstream_retries: int = Field(default=3, ge=1, le=10, validation_alias="CONSOLE_UPSTREAM_RETRIES")
    upstream_backoff: float = Field(default=0.5, ge=0, validation_alias="CONSOLE_UPSTREAM_BACKOFF")
    # A 404 is believed only when repeated, over time: some relays answer 404 while a new task propagates.
    gone_after_404s: int = Field(default=5, ge=1, le=1000, validation_alias="CONSOLE_GONE_AFTER_404S")
    gone_after_seconds: float = Field(default=180.0, ge=0, validation_alias="CONSOLE_GONE_AFTER_SECONDS")
    # Requests a second to the upstream API, all tasks and pages together, evenly spaced.
    upstream_rps: float = Field(default=10.0, gt=0, validation_alias="CONSOLE_UPSTREAM_RPS")
    max_upload_mb: float = Field(default=20.0, gt=0, validation_alias="CONSOLE_MAX_UPLOAD_MB")
    # Bodies other than the task form: JSON API calls, and small forms (login, cancel…).
    max_json_mb: float | None = Field(default=None, gt=0, validation_alias="CONSOLE_MAX_JSON_MB")
    max_form_kb: float = Field(default=256.0, gt=0, validation_alias="CONSOLE_MAX_FORM_KB")
    max_video_mb: float = Field(default=512.0, gt=0, validation_alias="CONSOLE_MAX_VIDEO_MB")
    # Hosts (host, host:port or a URL) the console may download results from even on a private
    # address, besides the upstream's own origin; comma-separated.
    media_hosts: str = Field(default="", validation_alias="CONSOLE_MEDIA_HOSTS")
    # Decoding uploads: the pixels of one image at most, and of all images being decoded at once.
    max_image_mp: float = Field(default=80.0, gt=0, le=89, validation_alias="CONSOLE_MAX_IMAGE_MP")
    decode_budget_mp: float = Field(default=100.0, gt=0, validation_alias="CONSOLE_DECODE_BUDGET_MP")
    max_cache_mb: float | None = Field(default=None, gt=0, validation_alias="CONSOLE_MAX_CACHE_MB")
    default_language: str = Field(default="en", validation_alias="CONSOLE_DEFAULT_LANGUAGE")
    # The Runway-compatible API at /v1/… (README "Scripts and the Runway API").
    api_tokens: SecretStr | None = Field(default=None, validation_alias="CONSOLE_API_TOKENS")
    api_rate_per_minute: int = Field(default=120, ge=0, validation_alias="CONSOLE_API_RATE_PER_MINUTE")
    api_upload_max_mb: float = Field(default=50.0, gt=0, le=200, validation_alias="CONSOLE_API_UPLOAD_MAX_MB")
    # Signs the API's video and upload URLs; generated once into the data dir when not set.
    secret: SecretStr | None = Field(default=None, validation_alias="CONSOLE_SECRET")
    organization_cache_seconds: float = Field(default=30.0, ge=0, validation_alias="CONSOLE_ORGANIZATION_CACHE_SECONDS")
    # Behind nginx: the internal location that maps to CONSOLE_DATA_DIR/videos/ (README, "nginx in front").
    accel_redirect: str | None = Field(default=None, validation_alias="CONSOLE_ACCEL_REDIRECT")

    # Who may use it (README, "Putting it on the internet").
    password: SecretStr | None = Field(default=None, validation_alias="CONSOLE_PASSWORD")
    trusted_proxies: str = Field(default=DEFAULT_TRUSTED_PROXIES, validation_alias="CONSOLE_TRUSTED_PROXIES")
    allow_open: bool = Field(default=False, validation_alias="CONSOLE_ALLOW_OPEN")
    history: Literal["shared", "private"] | None = Field(default=None, validation_alias="CONSOLE_HISTORY")
    tasks_per_hour: int | None = Field(default=None, ge=1, validation_alias="CONSOLE_TASKS_PER_HOUR")
    session_hours: float = Field(default=24 * 30, gt=0, validation_alias="CONSOLE_SESSION_HOURS")

    # Visitors bring their own key (README, "A "test your key" page").
    visitor_keys: bool = Field(default=False, validation_alias="CONSOLE_VISITOR_KEYS")
    visitor_upstreams: str = Field(default="", validation_alias="CONSOLE_VISITOR_UPSTREAMS")
    visitor_keys_api: bool = Field(default=False, validation_alias="CONSOLE_VISITOR_KEYS_API")
    visitor_session_hours: float = Field(default=12.0, gt=0, validation_alias="CONSOLE_VISITOR_SESSION_HOURS")

    simulator: SimulatorSettings = Field(default_factory=SimulatorSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (NestedByEnvName(settings_cls, init_settings), env_settings, dotenv_settings, file_secret_settings)

    # Each check says what is wrong in words fit for the start-up refusal (app/setting_checks.py).
    _check_base_url = field_validator("base_url")(checked_base_url)
    _check_visitor_upstreams = field_validator("visitor_upstreams")(checked_base_url_list)
    _check_media_hosts = field_validator("media_hosts")(checked_media_hosts)
    _blank_secret_is_none = field_validator("api_secret", "password")(blank_secret_is_none)
    _check_api_tokens = field_validator("api_tokens")(checked_api_tokens)
    _blank_cap_is_none = field_validator("max_cache_mb", mode="before")(blank_is_none)
    _check_root_path = field_validator("root_path")(checked_root_path)
    _check_trusted_proxies = field_validator("trusted_proxies")(checked_trusted_proxies)
    _blank_is_unset = field_validator("history", "tasks_per_hour", mode="before")(blank_or_zero_is_unset)
    _check_accel_redirect = field_validator("accel_redirect")(checked_accel_redirect)
    _check_language = field_validator("default_language")(checked_language)

    @model_validator(mode="after")
    def _check_visitor_mode(self) -> Settings:
        if self.base_url is None and self.visitor_upstreams:
            # The first upstream a visitor may choose is the console's own (for the account cache, API tokens).
            self.base_url = self.visitor_upstream_list[0]
        if self.visitor_keys:
            check_visitor_mode(self)
        return self

    @property
    def uses_simulator(self) -> bool:
        return self.base_url is None

    @property
    def upstream_key(self) -> str:
        """The key sent upstream; for the built-in simulator, the one it was told to accept."""
        if self.uses_simulator:
            chosen = self.simulator.api_secret or self.api_secret
            return chosen.get_secret_value() if chosen else SIMULATOR_KEY
        return self.api_secret.get_secret_value() if self.api_secret else ""

    @property
    def team_passwords(self) -> list[str]:
        """The shared passwords in CONSOLE_PASSWORD (comma-separated; blanks ignored)."""
        if self.password is None:
            return []
        return [p.strip() for p in self.password.get_secret_value().split(",") if p.strip()]

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n) for n in self.trusted_proxies.split(",") if n)

    @property
    def has_server_key(self) -> bool:
        """A real upstream key the console spends on behalf of whoever reaches it."""
        return not self.uses_simulator and self.api_secret is not None

    @property
    def visitor_upstream_list(self) -> list[str]:
        """The upstreams a visitor may choose from (CONSOLE_VISITOR_UPSTREAMS), in the operator's order."""
        return [url for url in self.visitor_upstreams.split(",") if url]

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_cache_bytes(self) -> int | None:
        """The video cache's cap, or None for no cap."""
        return None if self.max_cache_mb is None else int(self.max_cache_mb * 1024 * 1024)

    @property
    def api_upload_max_bytes(self) -> int:
        return int(self.api_upload_max_mb * 1024 * 1024)

    @property
    def max_task_form_bytes(self) -> int:
        """The largest task form body: two frames of the upload limit and the rest of the form."""
        return 2 * self.max_upload_bytes + FORM_OVERHEAD_BYTES

    @property
    def max_json_bytes(self) -> int:
        """Unset: room for two frames of the upload limit as base64 data URIs (the API's create)."""
        if self.max_json_mb is not None:
            return int(self.max_json_mb * MIB)
        return 2 * (self.max_upload_bytes * 4 // 3) + FORM_OVERHEAD_BYTES

    @property
    def max_form_bytes(self) -> int:
        return int(self.max_form_kb * 1024)

    @property
    def max_video_bytes(self) -> int:
        return int(self.max_video_mb * MIB)

    @property
    def media_host_list(self) -> list[str]:
        return [entry.strip() for entry in self.media_hosts.split(",") if entry.strip()]

    @property
    def max_image_pixels(self) -> int:
        return int(self.max_image_mp * 1_000_000)

    @property
    def decode_budget_pixels(self) -> int:
        return int(self.decode_budget_mp * 1_000_000)

    def configured_api_tokens(self) -> dict[str, str]:
        """CONSOLE_API_TOKENS as name → token (an empty dict when unset)."""
        if self.api_tokens is None:
            return {}
        return parse_token_list(self.api_tokens.get_secret_value())


class ConfigError(Exception):
    """A setting is wrong; the message is one line fit to print at start-up."""


def load_settings(**overrides) -> Settings:
    """Build Settings, turning any validation problem into a one-line ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, Settings)) from None
