"""Frames as the upstream checks them: its limits, data URIs, frame URLs, and reading an image's
size and decoding it without letting a decompression bomb through.

Making a frame fit those limits is app/image_preparation.py; how many pixels may be decoded at
once is app/pixel_budget.py.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

from PIL import Image, UnidentifiedImageError

from app.netguard import url_host_problem

MIME_BY_FORMAT = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSION_BY_MIME = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
# The Runway API limits a data URI to 5 MB *encoded*, prefix included.
DATA_URI_MAX_BYTES = 5 * 1024 * 1024
URL_MAX_CHARS = 2048
RATIO_MIN, RATIO_MAX = 0.5, 2.0
SIDE_MAX = 7999
# Far above any real frame, low enough that a decompression bomb is refused before decoding
# (and below Pillow's own bomb warning at 89 MP, so the message names our limit).
PIXELS_MAX = 80_000_000
DATA_URI_PATTERN = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)(?P<params>(;[^,;]*)*?);base64,", re.I)


class ImageProblem(Exception):
    """An image the upstream would refuse; `code` is a message key under errors."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


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


def is_web_url(url: str) -> bool:
    """An http(s) URL with a host, short enough for the API: what notify_hook must be."""
    if len(url) > URL_MAX_CHARS or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def check_image_url(url: str) -> ImageProblem | None:
    """Why the upstream would refuse to fetch this URL (or we refuse to let it), or None.

    The host is read as browsers read it (netguard): an IP address in any notation, this machine
    or a local-network name is refused. `resolve_public` is the DNS half of the check.
    """
    if len(url) > URL_MAX_CHARS:
        return ImageProblem("url_too_long", max=URL_MAX_CHARS, count=len(url))
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port out of range raises here
    except ValueError:
        return ImageProblem("url_invalid")
    if parts.scheme.lower() != "https":
        return ImageProblem("url_not_https")
    problem = url_host_problem(url)
    return ImageProblem(problem) if problem else None


@dataclass(frozen=True)
class ImageSize:
    """What an image's header says, read before any pixel is decoded."""

    width: int
    height: int
    image_format: str

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decode_cost(self) -> int:
        """Pixels held at the peak of preparing it: the decoded image, plus its downscaled copy."""
        longest = max(self.width, self.height)
        if longest <= SIDE_MAX:
            return self.pixels
        scale = SIDE_MAX / longest
        return self.pixels + int(self.width * scale) * int(self.height * scale)


def measure_image(raw: bytes, *, max_pixels: int = PIXELS_MAX) -> ImageSize:
    """Read an image's size and type from its header; ImageProblem if it is unreadable or too big."""
    if not raw:
        raise ImageProblem("image_empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(raw)) as image:
                size = ImageSize(image.width, image.height, image.format or "")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageProblem("image_pixels", max=max_pixels) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise ImageProblem("image_unreadable") from None
    if size.image_format not in MIME_BY_FORMAT:
        raise ImageProblem("image_type", found=size.image_format or "?")
    if size.pixels > max_pixels:
        raise ImageProblem("image_pixels", max=max_pixels)
    return size


def open_image(raw: bytes, *, max_pixels: int = PIXELS_MAX) -> Image.Image:
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
            if image.width * image.height > max_pixels:
                raise ImageProblem("image_pixels", max=max_pixels)
            image.load()
        except ImageProblem:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageProblem("image_pixels", max=max_pixels) from None
        except UnidentifiedImageError:
            raise ImageProblem("image_unreadable") from None
        except (OSError, SyntaxError, ValueError):
            raise ImageProblem("image_unreadable") from None
    return image
