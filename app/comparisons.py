"""What a comparison is: one set of frames and prompt run with several models and/or seeds at once.

A comparison is planned from what was asked (models, a ratio, a duration, seeds): each model gets
its allowed ratio closest in shape to the one chosen and its allowed duration closest to the one
chosen, and the plan says which were adjusted. Each combination becomes one ordinary task; the
comparison keeps, in order, which task each combination became, or why it could not be started.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from app.catalogue import RATIO_PATTERN, SEED_MAX, ModelSpec
from app.timestamps import utc_iso

# More than this many tasks from one click is more likely a typo than a wish, and costs real credits.
MAX_COMBINATIONS = 8
COMPARISON_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
SEEDS_MAX_CHARS = 200

StoredMessages = list[tuple[str, dict[str, Any]]]
"""Messages kept in the database: (message key, parameters) pairs."""


def new_comparison_id() -> str:
    return uuid.uuid4().hex


def is_comparison_id(text: str) -> bool:
    return bool(COMPARISON_ID_PATTERN.match(text))


# --- planning -------------------------------------------------------------------------------------


def _aspect(ratio: str) -> float | None:
    match = RATIO_PATTERN.match(ratio)
    return int(match.group(1)) / int(match.group(2)) if match else None


def closest_ratio(spec: ModelSpec, wanted: str) -> str | None:
    """The model's ratio nearest in shape to `wanted` (itself when allowed); None when `wanted` is no W:H."""
    if wanted in spec.ratios:
        return wanted
    aspect = _aspect(wanted)
    if aspect is None:
        return None
    width, height = (int(part) for part in wanted.split(":"))

    def distance(ratio: str) -> tuple[float, int]:
        w, h = (int(part) for part in ratio.split(":"))
        # Shape first (log scale: 2:1 is as far from 1:1 as 1:2), then size.
        return abs(math.log((w / h) / aspect)), abs(w * h - width * height)

    return min(spec.ratios, key=distance)


def closest_duration(spec: ModelSpec, wanted: int) -> int:
    """The model's duration nearest to `wanted`; on a tie the shorter (and cheaper) one."""
    return min(spec.durations, key=lambda d: (abs(d - wanted), d))


class SeedsProblem(ValueError):
    """`seeds` cannot be read; `code` is a message key under errors."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class SeedRequest:
    """What `seeds` asked for: these seeds, or this many (the first may be the form's own seed)."""

    given: tuple[int, ...] = ()
    count: int = 0


def parse_seeds(text: str) -> SeedRequest | None:
    """`3` rolls three seeds; `1, 2, 3` runs those; blank: None. Raises SeedsProblem."""
    text = text.strip()
    if not text:
        return None
    if len(text) > SEEDS_MAX_CHARS:
        raise SeedsProblem("seeds_invalid")
    if "," not in text:
        if not (text.isascii() and text.isdigit()):
            raise SeedsProblem("seeds_invalid")
        count = int(text)
        if not 1 <= count <= MAX_COMBINATIONS:
            raise SeedsProblem("seeds_count_range", max=MAX_COMBINATIONS)
        return SeedRequest(count=count)
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not (part.isascii() and part.isdigit()) or int(part) > SEED_MAX:
            raise SeedsProblem("seeds_invalid")
        if int(part) not in seeds:
            seeds.append(int(part))
    if not seeds:
        raise SeedsProblem("seeds_invalid")
    return SeedRequest(given=tuple(seeds))


def choose_seeds(request: SeedRequest | None, seed: int | None) -> list[tuple[int, bool]]:
    """The seeds to run, each with whether it was rolled; `seed` is the form's own seed, if given."""
    if request is not None and request.given:
        return [(s, False) for s in request.given]
    chosen: list[tuple[int, bool]] = [] if seed is None else [(seed, False)]
    wanted = request.count if request is not None else 1
    while len(chosen) < wanted:
        rolled = secrets.randbelow(SEED_MAX + 1)
        if all(rolled != s for s, _ in chosen):
            chosen.append((rolled, True))
    return chosen


@dataclass(frozen=True)
class Combination:
    """One task of a comparison, with what it was adjusted to."""

    model: ModelSpec
    ratio: str
    duration: int
    seed: int
    seed_rolled: bool

    def adjusted_ratio(self, requested: str) -> bool:
        return self.ratio != requested

    def adjusted_duration(self, requested: int) -> bool:
        return self.duration != requested


def plan(models: list[ModelSpec], ratio: str, duration: int, seeds: list[tuple[int, bool]]) -> list[Combination]:
    """Every model × seed, models outermost (a grid row per model), each fitted to the model."""
    combinations = []
    for spec in models:
        fitted_ratio = closest_ratio(spec, ratio) or ratio
        fitted_duration = closest_duration(spec, duration)
        for seed, rolled in seeds:
            combinations.append(Combination(spec, fitted_ratio, fitted_duration, seed, rolled))
    return combinations


# --- the record -------------------------------------------------------------------------------------


@dataclass
class ComparisonEntry:
    """One cell of the grid: what was run, and the task it became (or why it did not start)."""

    model: str
    ratio: str
    duration: int
    seed: int
    seed_rolled: bool = False
    task_id: str | None = None
    error: StoredMessages = field(default_factory=list)

    @property
    def started(self) -> bool:
        return self.task_id is not None


@dataclass
class Comparison:
    id: str
    created_at: str
    submitted_at: float
    ratio: str
    duration: int
    prompt: str
    entries: list[ComparisonEntry]
    # Whose comparison it is (the owner of its tasks, as app/access.py names owners); None: the team's.
    owner: str | None = None

    def entries_json(self) -> str:
        return json.dumps([asdict(e) for e in self.entries], ensure_ascii=False)

    @staticmethod
    def entries_from_json(text: str) -> list[ComparisonEntry]:
        entries = []
        for item in json.loads(text):
            item["error"] = [(key, params) for key, params in item.get("error", [])]
            entries.append(ComparisonEntry(**item))
        return entries

    def adjusted(self, entry: ComparisonEntry) -> dict[str, bool]:
        return {"ratio": entry.ratio != self.ratio, "duration": entry.duration != self.duration}

    @property
    def task_ids(self) -> list[str]:
        return [e.task_id for e in self.entries if e.task_id is not None]


def new_comparison(
    combinations: list[Combination], *, ratio: str, duration: int, prompt: str, now: float, owner: str | None
) -> Comparison:
    """The record of a comparison about to be started: every entry planned, none started yet."""
    return Comparison(
        id=new_comparison_id(),
        created_at=utc_iso(now),
        submitted_at=now,
        ratio=ratio,
        duration=duration,
        prompt=prompt,
        entries=[ComparisonEntry(c.model.id, c.ratio, c.duration, c.seed, c.seed_rolled) for c in combinations],
        owner=owner,
    )
