"""Small statistics and the result row every benchmark produces."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field


@dataclass
class Row:
    """One line of the results table; `samples` only goes to the JSON file."""

    section: str
    metric: str
    value: float | None
    unit: str
    p95: float | None = None
    n: int | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: with 20 samples p95 is the 19th, never an interpolated value."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


TIME_SCALE = {"ms": 1000.0, "s": 1.0}


def latency_row(section: str, metric: str, seconds: list[float], note: str = "", unit: str = "ms") -> Row:
    """Median and p95 of wall-clock samples (given in seconds), shown in `unit`."""
    scaled = [s * TIME_SCALE[unit] for s in seconds]
    return Row(
        section, metric, median(scaled), unit, p95=percentile(scaled, 95), n=len(scaled), note=note, samples=scaled
    )


def human_bytes(count: float) -> str:
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.2f} {unit}"
    return f"{count:.0f} B"


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def ratio_row(section: str, metric: str, numerator: float, denominator: float, note: str = "") -> Row:
    """Two figures of the same run compared: the ratio, in ×."""
    return Row(section, metric, ratio(numerator, denominator), "×", note=note)
