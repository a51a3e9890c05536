"""Image handling: check frames the way the upstream will, and make them fit its limits."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import ipaddress
import math
import re
import struct
import warnings
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from PIL import Image, ImageOps, UnidentifiedImageError

MIME_BY_FORMAT = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSION_BY_MIME = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
# The Runway API limits a data URI to 5 MB *encoded*, prefix included.
DATA_URI_MAX_BYTES = 5 * 1024 * 1024
URL_MAX_CHARS = 2048
RATIO_MIN, RATIO_MAX = 0.5, 2.0
SIDE_MAX = 7999
# Far above any real frame, low enough that a decompression bomb is refused before decoding.
PIXELS_MAX = 80_000_000
EXIF_ORIENTATION = 0x0112
DATA_URI_PATTERN = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(?P<params>(;[^,;]*)*?);base64,", re.I)


class ImageProblem(Exception):
    """An image the upstream would refuse; `code` is a message key under errors."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


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


def data_uri_length(byte_count: int, mime: str) -> int:
    """Length of the data URI that `byte_count` bytes of `mime` would become."""
    return len(f"data:{mime};base64,") + 4 * math.ceil(byte_count / 3)


def parse_data_uri(uri: str) -> tuple[str, bytes]:
    """Split a base64 data URI into its declared type and decoded bytes."""
    match = DATA_URI_PATTERN.match(uri)
    if not match:
        raise ImageProblem("data_uri_invalid")
    mime = match.group("mime").lower()
    if mime not in EXTENSION_BY_MIME:
        raise ImageProblem("image_type", found=mime)
    try:
        data = base64.b64decode(uri[match.end() :], validate=True)
    except (binascii.Error, ValueError):
        raise ImageProblem("data_uri_invalid") from None
    return mime, data


def check_image_url(url: str) -> ImageProblem | None:
    """Why the upstream would refuse to fetch this URL, or None if it looks acceptable."""
    if len(url) > URL_MAX_CHARS:
        return ImageProblem("url_too_long", max=URL_MAX_CHARS, count=len(url))
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # a port out of range raises here
    except ValueError:
        return ImageProblem("url_invalid")
    if parts.scheme.lower() != "https":
        return ImageProblem("url_not_https")
    if not host or any(c.isspace() for c in url):
        return ImageProblem("url_invalid")
    if _reads_as_ipv4(host):
        return ImageProblem("url_ip_host")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return ImageProblem("url_ip_host")


def _reads_as_ipv4(host: str) -> bool:
    """A host URL parsers take for an IPv4 address (2130706433, 0x7f000001, 0177.0.0.1, 127.1):
    per the WHATWG URL standard, any host whose last label is a number. No domain name is."""
    last = host.rstrip(".").rsplit(".", 1)[-1].lower()
    return last.isdigit() or (last.startswith("0x") and all(c in "0123456789abcdef" for c in last[2:]))


def open_image(raw: bytes) -> Image.Image:
    """Decode bytes into a fully loaded image as stored, or say why that is impossible.

    EXIF orientation is not applied here: prepare_image does that, and notes it.
    """
    if not raw:
        raise ImageProblem("image_empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(raw))
            if image.format not in MIME_BY_FORMAT:
                raise ImageProblem("image_type", found=image.format or "?")
            if image.width * image.height > PIXELS_MAX:
                raise ImageProblem("image_pixels", max=PIXELS_MAX)
            image.load()
        except ImageProblem:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageProblem("image_pixels", max=PIXELS_MAX) from None
        except UnidentifiedImageError:
            raise ImageProblem("image_unreadable") from None
        except (OSError, SyntaxError, ValueError):
            raise ImageProblem("image_unreadable") from None
    return image


def prepare_image(raw: bytes, *, max_encoded: int = DATA_URI_MAX_BYTES) -> PreparedImage:
    """Check a frame by its content and return bytes that fit the upstream's limits.

    The original bytes are kept when nothing needs to change; otherwise the notes say
    what was done (EXIF rotation, first frame of an animation, downscale, re-encode).
    """
    image = open_image(raw)
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
        image = image.resize((max(1, int(width * scale)), max(1, int(height * scale))), Image.Resampling.LANCZOS)
        notes.append(("note_downscaled", {"from": f"{width}×{height}", "to": "{}×{}".format(*image.size)}))
        changed = True

    data = raw
    if changed:
        data = _encode(image, source_format)
    if data_uri_length(len(data), mime) > max_encoded:
        data, mime, image = _shrink_to_fit(image, len(data), mime, max_encoded, notes)
    return PreparedImage(data=data, mime=mime, width=image.width, height=image.height, notes=notes)


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
