"""app.image_preparation.prepare_image called directly: time, Python allocations and process peak memory."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from app.image_preparation import PreparedImage, prepare_image
from app.images import data_uri_length
from bench.stats import Row, human_bytes, latency_row, median

SECTION = "prepare_image"
ROOT = Path(__file__).resolve().parent.parent


def time_prepare(raw: bytes, repeats: int) -> tuple[list[float], PreparedImage]:
    prepared = prepare_image(raw)  # warm-up: first call pays for plugin imports
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        prepared = prepare_image(raw)
        samples.append(time.perf_counter() - start)
    return samples, prepared


def describe(raw: bytes, prepared: PreparedImage) -> str:
    uri = data_uri_length(len(prepared.data), prepared.mime)
    notes = ", ".join(key.removeprefix("note_") for key, _ in prepared.notes) or "kept as is"
    return (
        f"{human_bytes(len(raw))} in → {prepared.width}×{prepared.height} {prepared.mime}, "
        f"data URI {human_bytes(uri)} ({notes})"
    )


def python_peak_mib(raw: bytes) -> float:
    """Peak bytes traced by tracemalloc during one call (Python objects only, see memprobe)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        prepare_image(raw)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def process_peak_growth_mib(raw: bytes) -> float:
    with tempfile.NamedTemporaryFile(suffix=".jpg") as handle:
        handle.write(raw)
        handle.flush()
        output = subprocess.run(
            [sys.executable, "-m", "bench.memprobe", handle.name],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    probe = json.loads(output)
    return probe["hwm_after_mib"] - probe["hwm_before_mib"]


def medians(small: bytes, photo: bytes, small_repeats: int, photo_repeats: int) -> tuple[float, float]:
    """Median seconds for the two fixtures, when only the shares are needed."""
    return median(time_prepare(small, small_repeats)[0]), median(time_prepare(photo, photo_repeats)[0])


def run(small: bytes, photo: bytes, small_repeats: int, photo_repeats: int) -> tuple[list[Row], tuple[float, float]]:
    """The rows, and the median seconds (small, photo) that the form benchmark compares against."""
    small_samples, small_prepared = time_prepare(small, small_repeats)
    photo_samples, photo_prepared = time_prepare(photo, photo_repeats)
    rows = [
        latency_row(SECTION, "small 640×384 PNG", small_samples, describe(small, small_prepared)),
        latency_row(SECTION, "12 MP noisy JPEG", photo_samples, describe(photo, photo_prepared)),
        Row(
            SECTION,
            "12 MP JPEG: peak Python allocation (tracemalloc)",
            python_peak_mib(photo),
            "MiB",
            n=1,
            note="bytes objects only; Pillow's pixel buffers are C allocations tracemalloc cannot see",
        ),
        Row(
            SECTION,
            "12 MP JPEG: peak RSS growth of a fresh process",
            process_peak_growth_mib(photo),
            "MiB",
            n=1,
            note="VmHWM after − before one call; includes decoded pixels (4000×3000×3 B ≈ 34 MiB per copy)",
        ),
    ]
    return rows, (median(small_samples), median(photo_samples))
