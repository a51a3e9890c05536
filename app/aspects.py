"""Aspect ratios as people name them: 1280:720 is 16:9, 832:1104 is 3:4; which allowed ratio fits a frame,
and how much of a frame a ratio crops away. console.js follows the same rules in the browser."""

from __future__ import annotations

import math
from dataclasses import dataclass

# The names people know; a pixel ratio within NAME_TOLERANCE of one of them takes its name.
COMMON_NAMES = (
    (16, 9), (9, 16), (1, 1), (4, 3), (3, 4), (3, 2), (2, 3), (5, 3), (3, 5),
    (5, 4), (4, 5), (21, 9), (9, 21), (2, 1), (1, 2),
)
NAME_TOLERANCE = 0.02
# A frame and a video whose aspects differ by more than this factor lose over a fifth of the frame.
CROP_WARNING_FACTOR = 1.25
# What a screen reader hears after a ratio's name.
ORIENTATION_KEYS = {
    "landscape": "form.shape_landscape",
    "portrait": "form.shape_portrait",
    "square": "form.shape_square",
}
# The outline drawn beside each ratio fits in a square of this many pixels.
OUTLINE_BOX = 28


@dataclass(frozen=True)
class RatioShape:
    """One `W:H` ratio of the catalogue as the form shows it."""

    value: str
    width: int
    height: int
    name: str
    orientation: str  # "landscape", "portrait" or "square"
    outline_width: int
    outline_height: int

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def orientation_key(self) -> str:
        return ORIENTATION_KEYS[self.orientation]


def aspect_name(width: int, height: int) -> str:
    """16:9 for 1280×720, 21:9 for 1584×672 (2.36, close enough); the reduced fraction otherwise."""
    aspect = width / height
    for w, h in COMMON_NAMES:
        if abs(aspect / (w / h) - 1) <= NAME_TOLERANCE:
            return f"{w}:{h}"
    divisor = math.gcd(width, height)
    w, h = width // divisor, height // divisor
    return f"{w}:{h}" if max(w, h) <= 64 else f"{aspect:.2f}:1"


def orientation(width: int, height: int) -> str:
    if abs(width / height - 1) <= NAME_TOLERANCE:
        return "square"
    return "landscape" if width > height else "portrait"


def ratio_shape(ratio: str) -> RatioShape:
    """A catalogue ratio ("1280:720", already validated as W:H) with its name and outline size."""
    width, height = (int(part) for part in ratio.split(":", 1))
    scale = OUTLINE_BOX / max(width, height)
    return RatioShape(
        value=ratio,
        width=width,
        height=height,
        name=aspect_name(width, height),
        orientation=orientation(width, height),
        outline_width=max(6, round(width * scale)),
        outline_height=max(6, round(height * scale)),
    )


def closest_ratio(frame_width: int, frame_height: int, ratios: list[str]) -> str:
    """The allowed ratio nearest the frame's aspect (on a log scale, so 2:1 and 1:2 are as far from 1:1)."""
    frame = math.log(frame_width / frame_height)
    return min(ratios, key=lambda r: abs(math.log(ratio_shape(r).aspect) - frame))


def cropped_share(frame_width: int, frame_height: int, ratio: str) -> float:
    """The share of the frame cut away when it is centre-cropped to the ratio (0 when they match)."""
    factor = (frame_width / frame_height) / ratio_shape(ratio).aspect
    return 1 - min(factor, 1 / factor)


def differs_much(frame_width: int, frame_height: int, ratio: str) -> bool:
    return 1 / (1 - cropped_share(frame_width, frame_height, ratio)) > CROP_WARNING_FACTOR


def browser_rules() -> dict[str, object]:
    """The naming and warning rules for console.js, so the page and the server say the same."""
    return {
        "names": [list(pair) for pair in COMMON_NAMES],
        "nameTolerance": NAME_TOLERANCE,
        "warnFactor": CROP_WARNING_FACTOR,
    }
