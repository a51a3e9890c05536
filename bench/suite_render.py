"""The simulator's renderer (app.simulator.video.render_video) called directly."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from PIL import Image

from app.simulator.video import render_video
from bench.fixtures import scene
from bench.stats import Row, human_bytes, median

SECTION = "simulator render"
RATIO = "1280:720"
# The simulator hands render_video frames already shrunk to cover the video at full zoom;
# a 1280×720 photo-like frame is that size or larger for both max sides measured.
FRAME_SIZE = (1440, 810)


def render_once(first: Image.Image, last: Image.Image | None, duration: int, side: int, path: Path) -> float:
    start = time.perf_counter()
    render_video(first, last, RATIO, duration, path, max_side=side)
    return time.perf_counter() - start


def run(sides: tuple[int, ...], durations: tuple[int, ...], repeats: int) -> list[Row]:
    first, last = scene(FRAME_SIZE, seed=1), scene(FRAME_SIZE, seed=2)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-render-") as scratch:
        path = Path(scratch) / "out.mp4"
        render_once(first, None, 1, min(sides), path)  # warm-up: codec and libav initialisation
        for side in sides:
            for duration in durations:
                times: dict[str, float] = {}
                for mode, second in (("crossfade", last), ("zoom", None)):
                    samples = [render_once(first, second, duration, side, path) for _ in range(repeats)]
                    times[mode] = median(samples)
                    rows.append(
                        Row(
                            SECTION,
                            f"{duration} s at max side {side}, {mode}",
                            times[mode],
                            "s",
                            n=repeats,
                            note=f"{duration / times[mode]:.1f}× realtime, {human_bytes(path.stat().st_size)} mp4",
                            samples=samples,
                        )
                    )
                rows[-1].note += f"; zoom/crossfade time ratio {times['zoom'] / times['crossfade']:.2f}"
    return rows
