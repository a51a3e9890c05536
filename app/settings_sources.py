"""Settings and their environment names: nested groups by prefix, and errors named as the operator wrote them.

A nested settings group (the simulator's, `SIMULATOR_*`) is one field of Settings, filled from variables
that share its prefix. Keyword overrides given by environment name reach it too, and a validation error
inside it is reported under the variable's name (`SIMULATOR_CONCURRENCY`), never pydantic's path.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource


def nested_prefixes(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """Each field that is a settings group of its own, with its environment prefix."""
    return {
        name: str(field.annotation.model_config.get("env_prefix", "")).upper()
        for name, field in settings_cls.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings)
    }


class NestedByEnvName(PydanticBaseSettingsSource):
    """Keyword overrides by environment name (`SIMULATOR_CONCURRENCY=1`) reach their nested group."""

    def __init__(self, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.init_settings = init_settings

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        data = dict(self.init_settings())
        for group, prefix in nested_prefixes(self.settings_cls).items():
            moved = {key[len(prefix) :].lower(): data.pop(key) for key in list(data) if key.upper().startswith(prefix)}
            if not moved:
                continue
            given = data.get(group)
            if isinstance(given, BaseSettings):
                given = given.model_dump(exclude_unset=True)
            data[group] = {**(given or {}), **moved}
        return data


def describe_validation_error(exc: ValidationError, settings_cls: type[BaseSettings]) -> str:
    """Turn pydantic's multi-line report into one line naming the environment variables."""
    prefixes = nested_prefixes(settings_cls)
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
