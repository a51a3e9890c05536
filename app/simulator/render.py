"""The render step of a task: fetch any frame given as a URL, then write the stand-in video.

It runs on the simulator's render thread and reports a failure the way the upstream would:
an image it cannot fetch or decode is `ASSET.INVALID`, anything else `INTERNAL`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image, ImageOps

from app import images
from app.netguard import NetPolicy, guarded_client
from app.simulator.triggers import Outcome
from app.simulator.video import ZOOM_END, output_size, render_video

log = logging.getLogger(__name__)

# Runway's API reference: an image given by URL may be at most 16 MB.
URL_IMAGE_MAX_BYTES = 16 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 5.0


@dataclass
class Frame:
    """One input frame as the renderer needs it: decoded already, or still to fetch."""

    position: str
    label: str
    image: Image.Image | None = None
    url: str | None = None


class AssetUnavailable(Exception):
    """An input image URL could not be fetched or decoded; the message is the task's failure."""


def render_frames(
    frames: list[Frame],
    ratio: str,
    duration: int,
    path: Path,
    *,
    max_side: int,
    fps: int = 24,
    policy: NetPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Outcome | None:
    """Write the task's video to `path`; the failure to report instead, if any (then no file is left)."""
    try:
        pictures = [
            frame.image if frame.image is not None else fetch_frame(frame, policy=policy, transport=transport)
            for frame in frames
        ]
        render_video(
            pictures[0],
            pictures[1] if len(pictures) > 1 else None,
            ratio,
            duration,
            path,
            max_side=max_side,
            fps=fps,
        )
    except AssetUnavailable as exc:
        return Outcome("end", "ASSET.INVALID", str(exc))
    except Exception:
        log.exception("simulator render to %s failed", path.name)
        path.unlink(missing_ok=True)
        return Outcome("end", "INTERNAL", "An unexpected error occurred")
    return None


def fetch_frame(
    frame: Frame,
    *,
    max_bytes: int = URL_IMAGE_MAX_BYTES,
    policy: NetPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Image.Image:
    """Download and decode a frame given by URL, as the upstream does when it starts rendering.

    Like the real API, which cannot see anyone's local network, it reaches public addresses only
    unless `policy` allows more (SIMULATOR_ALLOW_PRIVATE_IMAGES). `transport` replaces the network
    altogether (a test's offline stand-in).
    """
    assert frame.url is not None
    try:
        client = (
            httpx.Client(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False, transport=transport)
            if transport is not None
            else guarded_client(policy or NetPolicy(), timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False)
        )
        with client:
            with client.stream("GET", frame.url) as response:
                response.raise_for_status()
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > max_bytes:
                        limit_mb = max_bytes / 1024 / 1024
                        raise AssetUnavailable(f"The image at {frame.label} is larger than {limit_mb:g} MB")
        return upright(images.open_image(bytes(data)))
    except AssetUnavailable:
        raise
    except Exception:
        # Whatever went wrong (DNS, TLS, status, bytes), the upstream reports it as a bad asset.
        raise AssetUnavailable(f"Could not fetch the image at {frame.label}") from None


def upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says, or as stored when the EXIF is unreadable."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        # Broken EXIF makes Pillow raise SyntaxError and friends; the pixels are still usable.
        return image


def shrink_for_video(image: Image.Image, ratio: str, max_side: int) -> Image.Image:
    """The smallest copy that still covers the video at its deepest zoom.

    Frames wait in the render queue; keeping them at full size would let a burst of tasks
    hold gigabytes of pixels.
    """
    width, height = output_size(ratio, max_side)
    scale = max(width * ZOOM_END / image.width, height * ZOOM_END / image.height)
    image = image.convert("RGB")
    if scale >= 1:
        return image
    size = (max(1, math.ceil(image.width * scale)), max(1, math.ceil(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)
