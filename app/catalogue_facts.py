"""What the SDK's types leave open (prices; durations of a model typed as a bare `int`), from a cited facts file."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from app.catalogue import load_data_file


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
    # Facts has no validator of its own, so no message carries the "Value error, " the loader drops.
    return load_data_file(Facts, path, "catalogue_facts.json", what="facts file", top="facts")
