"""Making a checked frame fit the upstream's limits: upright, one still frame, no side over
SIDE_MAX, and a data URI under its cap (re-encoded, then downscaled step by step if need be).

Downscaling is done in bands of rows so a huge photo costs two bitmaps, not three.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import struct
from dataclasses import dataclass, field

from PIL import Image, ImageOps

from app.images import (
    DATA_URI_MAX_BYTES,
    EXTENSION_BY_MIME,
    MIME_BY_FORMAT,
    PIXELS_MAX,
    RATIO_MAX,
    RATIO_MIN,
    SIDE_MAX,
    ImageProblem,
    data_uri_length,
    open_image,
)

# Rows of output resampled at a time when downscaling, so the full-size copy and the result are
# the only whole bitmaps held (Pillow's two-pass resize would add a third, as big as either).
RESIZE_BAND_ROWS = 512
LANCZOS_SUPPORT = 3  # source pixels the filter reads on each side, per output pixel's span
EXIF_ORIENTATION = 0x0112


@dataclass
class PreparedImage:
    """A frame ready to send: bytes, their type, and what was changed to make it fit."""

    data: bytes
    mime: str
    width: int
    height: int
    notes: list[tuple[str, dict[str, object]]] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def extension(self) -> str:
        return EXTENSION_BY_MIME[self.mime]

    def data_uri(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


def prepare_image(raw: bytes, *, max_encoded: int = DATA_URI_MAX_BYTES, max_pixels: int = PIXELS_MAX) -> PreparedImage:
    """Check a frame by its content and return bytes that fit the upstream's limits.

    The original bytes are kept when nothing needs to change; otherwise the notes say
    what was done (EXIF rotation, first frame of an animation, downscale, re-encode).
    """
    image = open_image(raw, max_pixels=max_pixels)
    source_format = image.format or ""  # open_image refuses any image without a known format
    mime = MIME_BY_FORMAT[source_format]
    notes: list[tuple[str, dict[str, object]]] = []
    changed = False

    if getattr(image, "is_animated", False):
        image.seek(0)
        image = image.copy()
        notes.append(("note_first_animation_frame", {}))
        changed = True
    if _orientation(image) not in (1, None):
        image = ImageOps.exif_transpose(image)
        notes.append(("note_exif_rotated", {}))
        changed = True

    width, height = image.size
    ratio = width / height
    if not RATIO_MIN <= ratio <= RATIO_MAX:
        raise ImageProblem("image_ratio", width=width, height=height, ratio=f"{ratio:.2f}")
    if max(width, height) > SIDE_MAX:
        scale = SIDE_MAX / max(width, height)
        image = _downscale(image, (max(1, int(width * scale)), max(1, int(height * scale))))
        notes.append(("note_downscaled", {"from": f"{width}×{height}", "to": "{}×{}".format(*image.size)}))
        changed = True

    data = raw
    if changed:
        data = _encode(image, source_format)
    if data_uri_length(len(data), mime) > max_encoded:
        data, mime, image = _shrink_to_fit(image, len(data), mime, max_encoded, notes)
    return PreparedImage(data=data, mime=mime, width=image.width, height=image.height, notes=notes)


def _downscale(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A LANCZOS resize done in bands of rows, so no third full-size bitmap is ever held.

    Each band is resampled from a strip of the source with the filter's reach added above and
    below (Pillow's filter stops at the edge of what it is given), so the bands join seamlessly.
    """
    if image.mode in ("1", "P", "PA"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    out = Image.new(image.mode, size)
    y_scale = image.height / size[1]
    reach = math.ceil(LANCZOS_SUPPORT * max(1.0, y_scale)) + 1
    for top in range(0, size[1], RESIZE_BAND_ROWS):
        bottom = min(size[1], top + RESIZE_BAND_ROWS)
        start, end = top * y_scale, bottom * y_scale
        strip_top = max(0, int(start) - reach)
        strip = image.crop((0, strip_top, image.width, min(image.height, math.ceil(end) + reach)))
        box = (0.0, start - strip_top, float(image.width), end - strip_top)
        out.paste(strip.resize((size[0], bottom - top), Image.Resampling.LANCZOS, box=box), (0, top))
    out.info = dict(image.info)
    return out


def _orientation(image: Image.Image) -> int | None:
    """The EXIF orientation; broken EXIF is common in the wild and means "as stored"."""
    try:
        return image.getexif().get(EXIF_ORIENTATION, 1)
    except (SyntaxError, ValueError, OSError, struct.error, KeyError, TypeError):
        return 1


def _encode(image: Image.Image, image_format: str, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    if image_format == "JPEG":
        _flatten(image).save(buffer, "JPEG", quality=quality, optimize=True)
    elif image_format == "WEBP":
        image.save(buffer, "WEBP", quality=quality)
    else:
        image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _flatten(image: Image.Image) -> Image.Image:
    """JPEG has no alpha: composite transparency onto white instead of onto black."""
    if image.mode in ("RGB", "L"):
        return image
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _shrink_to_fit(
    image: Image.Image,
    original_size: int,
    mime: str,
    max_encoded: int,
    notes: list[tuple[str, dict[str, object]]],
) -> tuple[bytes, str, Image.Image]:
    """Re-encode as JPEG, then downscale step by step until the data URI fits."""
    original = image.size
    data = _encode(image, "JPEG", quality=90)
    while data_uri_length(len(data), "image/jpeg") > max_encoded:
        budget = max_encoded / data_uri_length(len(data), "image/jpeg")
        scale = max(0.25, min(0.95, math.sqrt(budget) * 0.95))
        new_size = (max(16, int(image.width * scale)), max(16, int(image.height * scale)))
        if new_size == image.size:
            raise ImageProblem("image_too_big", max_mb=max_encoded / 1024 / 1024)
        image = image.resize(new_size, Image.Resampling.LANCZOS)
        data = _encode(image, "JPEG", quality=90)
    notes.append(
        (
            "note_reencoded",
            {
                "from_mb": f"{data_uri_length(original_size, mime) / 1024 / 1024:.1f}",
                "to_mb": f"{data_uri_length(len(data), 'image/jpeg') / 1024 / 1024:.1f}",
                "max_mb": f"{max_encoded / 1024 / 1024:.0f}",
            },
        )
    )
    if image.size != original:
        notes.append(("note_downscaled", {"from": "{}×{}".format(*original), "to": "{}×{}".format(*image.size)}))
    return data, "image/jpeg", image
