"""Runtime configuration: one Settings object read from the environment and `.env`."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.simulator.settings import SimulatorSettings

SIMULATOR_KEY = "simulator-key"
# Only a proxy on this machine may speak for the client (X-Forwarded-For, -Proto, -Host).
DEFAULT_TRUSTED_PROXIES = "127.0.0.0/8,::1"
# What a task form carries besides its two frames: the other fields and the multipart framing.
FORM_OVERHEAD_BYTES = 1024 * 1024
MIB = 1024 * 1024


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
    catalogue_file: Path | None = Field(default=None, validation_alias="CONSOLE_CATALOGUE")
    root_path: str = Field(default="", validation_alias="CONSOLE_ROOT_PATH")
    poll_interval: float = Field(default=5.0, gt=0, validation_alias="CONSOLE_POLL_INTERVAL")
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
        return (_NestedByEnvName(settings_cls, init_settings), env_settings, dotenv_settings, file_secret_settings)

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        return checked_base_url(value)

    @field_validator("visitor_upstreams")
    @classmethod
    def _check_visitor_upstreams(cls, value: str) -> str:
        urls: list[str] = []
        for item in value.split(","):
            if item.strip():
                url = checked_base_url(item)
                if url is not None and url not in urls:
                    urls.append(url)
        return ",".join(urls)

    @model_validator(mode="after")
    def _check_visitor_mode(self) -> Settings:
        if self.base_url is None and self.visitor_upstreams:
            # The first upstream a visitor may choose is the console's own (for the account cache, API tokens).
            self.base_url = self.visitor_upstream_list[0]
        if not self.visitor_keys:
            return self
        if self.history == "shared":
            raise ValueError(
                "CONSOLE_HISTORY=shared cannot be used with CONSOLE_VISITOR_KEYS=true: each visitor's tasks "
                "run on their own key and are shown to them only"
            )
        if self.has_server_key and not self.visitor_keys_api:
            raise ValueError(
                "RUNWAYML_API_SECRET is set with CONSOLE_VISITOR_KEYS=true, where visitors always use their own "
                "key: remove it, or set CONSOLE_VISITOR_KEYS_API=true if API tokens should spend it"
            )
        if self.visitor_keys_api and not self.uses_simulator and not self.has_server_key:
            raise ValueError(
                "CONSOLE_VISITOR_KEYS_API=true needs RUNWAYML_API_SECRET: API tokens spend the server's key, "
                "never a visitor's"
            )
        return self

    @field_validator("media_hosts")
    @classmethod
    def _check_media_hosts(cls, value: str) -> str:
        from app.netguard import parse_allowed_host

        for entry in value.split(","):
            if entry.strip():
                try:
                    parse_allowed_host(entry)
                except ValueError as exc:
                    raise ValueError(f"{exc}; give host, host:port or a URL, comma-separated") from None
        return value

    @field_validator("api_secret", "password")
    @classmethod
    def _blank_secret_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("api_tokens")
    @classmethod
    def _check_api_tokens(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parse_token_list(value.get_secret_value())  # raises ValueError naming the bad entry, never the token
        return value
    @field_validator("max_cache_mb", mode="before")
    @classmethod
    def _blank_cap_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("root_path")
    @classmethod
    def _check_root_path(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith("/"):
            raise ValueError("must start with '/', for example /runway")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        networks = []
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR (e.g. 10.0.0.0/8)") from None
        return ",".join(networks)

    @field_validator("history", "tasks_per_hour", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        if value in (0, "0"):
            return None
        return value

    @field_validator("accel_redirect")
    @classmethod
    def _check_accel_redirect(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith("/") or "?" in value or "#" in value or ".." in value.split("/"):
            raise ValueError("must be the path of an nginx internal location, such as /_protected_videos/")
        return value if value.endswith("/") else value + "/"

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


def checked_base_url(value: str | None) -> str | None:
    """An upstream base URL without its trailing slash (None when blank); ValueError saying what is wrong."""
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


TOKEN_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TOKEN_MIN_CHARS = 16


def parse_token_list(text: str) -> dict[str, str]:
    """`name=token,name2=token2` as a dict; a ValueError names the entry at fault, never a token."""
    tokens: dict[str, str] = {}
    for number, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        name, sep, token = entry.partition("=")
        name, token = name.strip(), token.strip()
        if not sep or not TOKEN_NAME_PATTERN.match(name):
            raise ValueError(f"entry {number} must be name=token, the name letters, digits, '.', '_' or '-'")
        if len(token) < TOKEN_MIN_CHARS or any(c.isspace() for c in token):
            raise ValueError(f"the token for {name!r} must be at least {TOKEN_MIN_CHARS} characters, no spaces")
        if name in tokens:
            raise ValueError(f"the name {name!r} is given twice")
        tokens[name] = token
    return tokens


def _nested_prefixes(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """Each field that is a settings group of its own, with its environment prefix."""
    return {
        name: str(field.annotation.model_config.get("env_prefix", "")).upper()
        for name, field in settings_cls.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings)
    }


class _NestedByEnvName(PydanticBaseSettingsSource):
    """Keyword overrides by environment name (`SIMULATOR_CONCURRENCY=1`) reach their nested group."""

    def __init__(self, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.init_settings = init_settings

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data = dict(self.init_settings())
        for group, prefix in _nested_prefixes(self.settings_cls).items():
            moved = {key[len(prefix) :].lower(): data.pop(key) for key in list(data) if key.upper().startswith(prefix)}
            if not moved:
                continue
            given = data.get(group)
            if isinstance(given, BaseSettings):
                given = given.model_dump(exclude_unset=True)
            data[group] = {**(given or {}), **moved}
        return data


class ConfigError(Exception):
    """A setting is wrong; the message is one line fit to print at start-up."""


def describe_validation_error(exc: ValidationError) -> str:
    """Turn pydantic's multi-line report into one line naming the environment variables."""
    prefixes = _nested_prefixes(Settings)
    parts = []
    for error in exc.errors():
        loc = [str(p) for p in error.get("loc", ())]
        if len(loc) > 1 and loc[0] in prefixes:
            # A nested group's field is set as one variable: simulator.concurrency is SIMULATOR_CONCURRENCY.
            loc = [(prefixes[loc[0]] + loc[1]).upper(), *loc[2:]]
        name = ".".join(loc) or "settings"
        message = error.get("msg", "invalid").removeprefix("Value error, ")
        parts.append(f"{name}: {message}")
    return "; ".join(parts)


def load_settings(**overrides) -> Settings:
    """Build Settings, turning any validation problem into a one-line ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
