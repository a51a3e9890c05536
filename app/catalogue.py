"""The model catalogue: which models exist and what each accepts, loaded from JSON data.

The form, the console's validation and the simulator all read one Catalogue, so a rule
changes in one place: the JSON file an operator points CONSOLE_CATALOGUE at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SEED_MAX = 4_294_967_295
RATIO_PATTERN = re.compile(r"^([1-9][0-9]{0,4}):([1-9][0-9]{0,4})$")
MODEL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"

Position = Literal["first", "last"]
# Request fields the console can send besides the core ones, which not every upstream accepts:
# the relay vendor documents both, the official API neither (it rejects unknown fields).
OptionalField = Literal["watermark", "notify_hook"]
RELAY_OPTIONAL_FIELDS: tuple[OptionalField, ...] = ("watermark", "notify_hook")
DataModel = TypeVar("DataModel", bound=BaseModel)


def utf16_units(text: str) -> int:
    """Length as the API counts it: UTF-16 code units (an emoji can count as two)."""
    # surrogatepass: a lone surrogate (valid in JSON) counts as one unit, as in JavaScript.
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class ModelSpec(BaseModel):
    """One model and the values the upstream accepts for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=MODEL_ID_PATTERN)
    label: str = ""
    ratios: tuple[str, ...] = Field(min_length=1)
    durations: tuple[int, ...] = Field(min_length=1)
    positions: tuple[Position, ...] = ("first", "last")
    prompt_max_units: int = Field(default=1000, ge=1, le=100_000)
    prompt_required: bool = False
    # The duration the upstream uses when a request leaves `duration` out; None: it must be given.
    default_duration: int | None = None
    optional_fields: tuple[OptionalField, ...] = RELAY_OPTIONAL_FIELDS
    prices: dict[int, float] = Field(default_factory=dict)
    note: str = ""

    @model_validator(mode="after")
    def _check_consistency(self) -> ModelSpec:
        for ratio in self.ratios:
            if not RATIO_PATTERN.match(ratio):
                raise ValueError(f"ratio {ratio!r} is not of the form W:H, e.g. 1280:720")
        if len(set(self.ratios)) != len(self.ratios):
            raise ValueError("ratios are listed twice")
        if any(d <= 0 for d in self.durations) or len(set(self.durations)) != len(self.durations):
            raise ValueError("durations must be distinct positive whole seconds")
        if "first" not in self.positions:
            raise ValueError("positions must include 'first': every task needs a first frame")
        extra = set(self.prices) - set(self.durations)
        if extra:
            raise ValueError(f"prices name durations the model does not have: {sorted(extra)}")
        if self.default_duration is not None and self.default_duration not in self.durations:
            raise ValueError(f"default_duration {self.default_duration} is not one of the durations")
        if len(set(self.optional_fields)) != len(self.optional_fields):
            raise ValueError("optional_fields are listed twice")
        return self

    @property
    def display_name(self) -> str:
        return self.label or self.id

    @property
    def accepts_last_frame(self) -> bool:
        return "last" in self.positions

    @property
    def price_known(self) -> bool:
        """False when the catalogue gives no price at all: show no estimate for this model."""
        return bool(self.prices)

    def price(self, duration: int) -> float | None:
        return self.prices.get(duration)

    def accepts(self, field_name: str) -> bool:
        """Whether the upstream takes this optional request field (`watermark`, `notify_hook`)."""
        return field_name in self.optional_fields

    def effective_duration(self, duration: int | None) -> int | None:
        """The duration a request gets: the one given, else the model's default (None if it has none)."""
        return self.default_duration if duration is None else duration


# The JSON goes inside <script type="application/json">; ids are already restricted, but no future
# field (a label, say) should be able to close the element.
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


class Catalogue(BaseModel):
    """All models an operator offers, in the order the form lists them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(default="credits", min_length=1, max_length=24)
    # Where the data came from, e.g. the SDK version it was generated from; shown to no one.
    source: str = Field(default="", max_length=200)
    # Optional fields every model accepts unless it lists its own `optional_fields`.
    optional_fields: tuple[OptionalField, ...] = RELAY_OPTIONAL_FIELDS
    models: tuple[ModelSpec, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _inherit_optional_fields(cls, data: object) -> object:
        # Resolved here, once, so a ModelSpec alone answers `accepts()` without its catalogue.
        if isinstance(data, dict) and "optional_fields" in data and isinstance(data.get("models"), list | tuple):
            inherited = data["optional_fields"]
            data = data | {
                "models": [
                    {"optional_fields": inherited} | m if isinstance(m, dict) else m for m in data["models"]
                ]
            }
        return data

    @model_validator(mode="after")
    def _check_unique(self) -> Catalogue:
        ids = [m.id for m in self.models]
        if len(set(ids)) != len(ids):
            raise ValueError("model ids must be unique")
        return self

    @property
    def default_model(self) -> ModelSpec:
        return self.models[0]

    def get(self, model_id: str) -> ModelSpec | None:
        return next((m for m in self.models if m.id == model_id), None)

    def as_public_json(self) -> str:
        """The catalogue as the browser needs it to follow model changes."""
        return json.dumps(
            {
                m.id: {
                    "ratios": list(m.ratios),
                    "durations": list(m.durations),
                    "positions": list(m.positions),
                    "promptMax": m.prompt_max_units,
                    "promptRequired": m.prompt_required,
                    "defaultDuration": m.default_duration,
                    "optionalFields": list(m.optional_fields),
                    "prices": {str(k): v for k, v in m.prices.items()},
                }
                for m in self.models
            },
            separators=(",", ":"),
        ).translate(_SCRIPT_SAFE)


class CatalogueError(Exception):
    """The catalogue file cannot be used; the message is one line."""


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Read the operator's catalogue file, or the packaged default (the relay vendor's documented models)."""
    return load_data_file(Catalogue, path, "catalogue_default.json", what="catalogue", top="catalogue")


def load_data_file(model: type[DataModel], path: Path | None, packaged: str, *, what: str, top: str) -> DataModel:
    """Read and check a JSON data file, or the one packaged in `app` by that name.

    Raises CatalogueError naming `what` was read and where in it the first problem is (`top` for the
    document as a whole).
    """
    try:
        if path is None:
            text = resources.files("app").joinpath(packaged).read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return model.model_validate_json(text)
    except OSError as exc:
        raise CatalogueError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or top
        message = first.get("msg", "invalid").removeprefix("Value error, ")
        raise CatalogueError(f"{what} {path or 'default'}: {where}: {message}") from None


@dataclass(frozen=True)
class RuleIssue:
    """A broken rule. `field` uses the API's names; `code` is a message key under errors."""

    field: str
    code: str
    params: dict[str, object] = dataclass_field(default_factory=dict)


def check_request(
    catalogue: Catalogue,
    *,
    model: str,
    ratio: str,
    duration: int | None,
    positions: list[str],
    prompt: str,
    seed: int | None,
) -> list[RuleIssue]:
    """Every way the parameters break the catalogue's rules, in form order.

    `duration=None` is a request that leaves duration out: the model's default applies, if any.
    """
    spec = catalogue.get(model)
    if spec is None:
        return [RuleIssue("model", "model_unknown", {"value": model})]
    issues: list[RuleIssue] = []
    if ratio not in spec.ratios:
        issues.append(
            RuleIssue("ratio", "ratio_not_allowed", {"model": spec.id, "allowed": ", ".join(spec.ratios)})
        )
    duration = spec.effective_duration(duration)
    if duration not in spec.durations:
        allowed = ", ".join(str(d) for d in spec.durations)
        issues.append(RuleIssue("duration", "duration_not_allowed", {"model": spec.id, "allowed": allowed}))
    if "first" not in positions:
        issues.append(RuleIssue("promptImage", "first_frame_required", {"position": "first"}))
    for position in positions:
        if position not in spec.positions:
            issues.append(
                RuleIssue("promptImage", "position_not_allowed", {"model": spec.id, "position": position})
            )
    repeated = next((p for i, p in enumerate(positions) if p in positions[:i]), None)
    if repeated is not None:
        issues.append(RuleIssue("promptImage", "position_repeated", {"position": repeated}))
    units = utf16_units(prompt)
    if units > spec.prompt_max_units:
        issues.append(
            RuleIssue("promptText", "prompt_too_long", {"max": spec.prompt_max_units, "count": units})
        )
    if spec.prompt_required and not prompt.strip():
        issues.append(RuleIssue("promptText", "prompt_required", {"model": spec.id}))
    if seed is not None and not 0 <= seed <= SEED_MAX:
        issues.append(RuleIssue("seed", "seed_range", {"max": SEED_MAX}))
    return issues
