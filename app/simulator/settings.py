"""The simulator's settings: `SIMULATOR_*` environment variables, validated once here.

The console's `Settings` holds them as its `simulator` field and reads them from `.env` too;
`runway-console simulator` gets them the same way.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SIMULATOR_"


class SimulatorSettings(BaseSettings):
    """How the simulator paces tasks, renders videos and checks keys."""

    # No env_file: when nested, the console's Settings reads `.env` (or not) for both.
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    pending_seconds: float = Field(default=1.0, ge=0)
    running_seconds: float = Field(default=6.0, ge=0)
    concurrency: int = Field(default=2, ge=1)
    url_ttl_seconds: float = Field(default=86400.0, gt=0)
    video_max_side: int = Field(default=640, ge=64, le=4096)
    # Frames per second of the rendered mp4: the render's CPU grows with it (24 as Runway's own).
    video_fps: int = Field(default=24, ge=1, le=60)
    api_secret: SecretStr | None = None
    # The organisation the simulator pretends to be (GET /v1/organization).
    credits: int = Field(default=1_000_000, ge=0)
    daily_limit: int | None = Field(default=None, ge=1)
    monthly_credit_spend: int = Field(default=1_000_000, ge=0)
    # notify_hook callbacks go to public addresses only, unless this is set for local testing.
    allow_private_hooks: bool = False
    # Image URLs are fetched from public addresses only, as the real API can reach nothing else.
    allow_private_images: bool = False
    upload_max_mb: float = Field(default=200.0, gt=0, le=1024)
    upload_ttl_seconds: float = Field(default=86400.0, gt=0)
    # Misbehaviour on purpose (app/simulator/faults.py): "429=0.05,502=0.05,cdntrunc=0.05", per request.
    faults: str = ""
    fault_seed: int | None = None
    fault_timeout_seconds: float = Field(default=35.0, ge=0)

    @field_validator("api_secret")
    @classmethod
    def _blank_secret_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    @field_validator("faults")
    @classmethod
    def _check_faults(cls, value: str) -> str:
        from app.simulator.faults import parse_faults

        parse_faults(value)
        return value

    @field_validator("fault_seed", mode="before")
    @classmethod
    def _blank_seed_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("daily_limit", mode="before")
    @classmethod
    def _blank_limit_is_none(cls, value: object) -> object:
        # SIMULATOR_DAILY_LIMIT= (empty) means no limit, as the API's null does.
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def upload_max_bytes(self) -> int:
        return int(self.upload_max_mb * 1024 * 1024)
