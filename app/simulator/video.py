"""Render the simulator's stand-in videos: real H.264 MP4 files made from the input frames.

With a last frame the video crossfades from the first to the last; without one it slowly
zooms into the first frame. The result is cheap to make but plays like a real output, so
the console's player, download and Range handling are exercised for real.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageOps

from app.catalogue import RATIO_PATTERN
from app.files import atomic_path

ZOOM_END = 1.12
HOLD_SECONDS = 0.5
# Holds never take more than this share of the video each, so a short clip still fades.
HOLD_SHARE_MAX = 0.15


def output_size(ratio: str, max_side: int) -> tuple[int, int]:
    """Pixel size for a "W:H" ratio: the longer side at most `max_side`, both sides even."""
    match = RATIO_PATTERN.match(ratio)
    if not match:
        raise ValueError(f"ratio {ratio!r} is not of the form W:H")
    if max_side < 2:
        raise ValueError("max_side must be at least 2")
    width, height = int(match.group(1)), int(match.group(2))
    scale = min(1.0, max_side / max(width, height))
    # yuv420p halves chroma in both directions, so x264 needs even sides.
    return _even(width * scale), _even(height * scale)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def cover_fit(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale the image to cover `size` and crop the overflow evenly from both sides."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return ImageOps.fit(rgb, size, method=Image.Resampling.BICUBIC, centering=(0.5, 0.5))


def render_video(
    first: Image.Image,
    last: Image.Image | None,
    ratio: str,
    duration: int,
    path: Path,
    *,
    max_side: int = 640,
    fps: int = 24,
) -> None:
    """Write an MP4 of `duration` seconds to `path`, atomically (readers never see half a file)."""
    if duration <= 0 or fps <= 0:
        raise ValueError("duration and fps must be positive")
    size = output_size(ratio, max_side)
    frame_count = duration * fps
    if last is None:
        frames = _zoom_frames(first, size, frame_count)
    else:
        frames = _crossfade_frames(first, last, size, frame_count, fps)

    with atomic_path(Path(path)) as temp:
        _encode(frames, temp, size, fps)


def _encode(frames: Iterator[Image.Image], temp: Path, size: tuple[int, int], fps: int) -> None:
    import av  # here, not at the top: a console start-up imports this module without rendering

    time_base = Fraction(1, fps)
    # faststart moves the index to the front so browsers can start playing before the end.
    with av.open(str(temp), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "23"})
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for index, image in enumerate(frames):
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _smoothstep(t: float) -> float:
    t = min(1.0, max(0.0, t))
    return t * t * (3.0 - 2.0 * t)


def _crossfade_frames(
    first: Image.Image, last: Image.Image, size: tuple[int, int], frame_count: int, fps: int
) -> Iterator[Image.Image]:
    start, end = cover_fit(first, size), cover_fit(last, size)
    hold = min(round(HOLD_SECONDS * fps), int(frame_count * HOLD_SHARE_MAX))
    fade_span = max(1, frame_count - 1 - 2 * hold)
    for index in range(frame_count):
        alpha = _smoothstep((index - hold) / fade_span)
        if alpha <= 0.0:
            yield start
        elif alpha >= 1.0:
            yield end
        else:
            yield Image.blend(start, end, alpha)


def _zoom_frames(first: Image.Image, size: tuple[int, int], frame_count: int) -> Iterator[Image.Image]:
    width, height = size
    # Fit once at the final zoom's resolution; each frame then only crops and downsamples it.
    source_size = (round(width * ZOOM_END), round(height * ZOOM_END))
    source = cover_fit(first, source_size)
    centre_x, centre_y = source_size[0] / 2, source_size[1] / 2
    for index in range(frame_count):
        progress = index / (frame_count - 1) if frame_count > 1 else 0.0
        zoom = 1.0 + (ZOOM_END - 1.0) * progress
        half_w = source_size[0] / zoom / 2
        half_h = source_size[1] / zoom / 2
        # Float boxes keep the zoom smooth instead of stepping a whole pixel at a time.
        box = (centre_x - half_w, centre_y - half_h, centre_x + half_w, centre_y + half_h)
        yield source.resize(size, Image.Resampling.BILINEAR, box=box)
