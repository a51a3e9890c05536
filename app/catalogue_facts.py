"""What the SDK's types leave open (prices; durations of a model typed as a bare `int`), from a cited facts file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.catalogue import CatalogueError


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1)
    currency: str = "credits"
    credits_per_second: dict[str, float] = Field(default_factory=dict)


class DurationTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1)
    models: dict[str, tuple[int, ...]] = Field(default_factory=dict)


class Facts(BaseModel):
    """What the generator adds to the SDK: per-second prices and durations the SDK leaves open."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    about: str = ""
    prices: PriceTable
    durations: DurationTable


def load_facts(path: Path | None = None) -> Facts:
    """Read a facts file, or the packaged one."""
    try:
        if path is None:
            text = resources.files("app").joinpath("catalogue_facts.json").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return Facts.model_validate_json(text)
    except OSError as exc:
        raise CatalogueError(f"cannot read facts file {path}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "facts"
        raise CatalogueError(f"facts file {path or 'default'}: {where}: {first.get('msg', 'invalid')}") from None
