"""Synthetic input images: generated each run from fixed seeds, so nothing binary is committed."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

PHOTO_SIZE = (4000, 3000)  # 12 megapixels, a phone camera's default
# Noise blended into the photo: 0.15 lands the JPEG near 5 MB, above what fits a 5 MB data URI
# once base64 grows it by a third, so the console has to re-encode and downscale it.
PHOTO_NOISE = 0.15


def small_png(width: int = 640, height: int = 384, color: tuple[int, int, int] = (40, 90, 200)) -> bytes:
    """The tests' small frame: a flat colour with a striped block (compresses to a few kB)."""
    image = Image.new("RGB", (width, height), color)
    draw = ImageDraw.Draw(image)
    for y in range(height // 4, height // 2, 7):
        draw.line((width // 4, y, width // 2 - 1, y), fill=(250, 220, 40))
    return _encode(image, "PNG")


def scene(size: tuple[int, int], seed: int, noise: float = 0.04) -> Image.Image:
    """Gradients, discs and a little grain: compresses like a photo, unlike a flat test card."""
    rng = random.Random(seed)
    width, height = size
    base = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(size),
            Image.radial_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
        ),
    )
    draw = ImageDraw.Draw(base)
    for _ in range(60):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(width // 80 + 1, width // 6)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    if noise <= 0:
        return base
    grain = Image.frombytes("RGB", size, rng.randbytes(width * height * 3))
    return Image.blend(base, grain, noise)


def photo_jpeg(seed: int = 7) -> bytes:
    """A ~5 MB, 12 MP noisy JPEG: the upload a phone user sends."""
    return _encode(scene(PHOTO_SIZE, seed, noise=PHOTO_NOISE), "JPEG", quality=92)


def scene_jpeg(size: tuple[int, int], seed: int) -> bytes:
    return _encode(scene(size, seed), "JPEG", quality=90)


def _encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, image_format, **options)
    return buffer.getvalue()
