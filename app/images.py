"""Image handling: check frames the way the upstream will, and make them fit its limits."""

from __future__ import annotations

import asyncio
import base64
import binascii
import ctypes
import hashlib
import io
import math
import re
import struct
import warnings
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from PIL import Image, ImageOps, UnidentifiedImageError

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
# Rows of output resampled at a time when downscaling, so the full-size copy and the result are
# the only whole bitmaps held (Pillow's two-pass resize would add a third, as big as either).
RESIZE_BAND_ROWS = 512
LANCZOS_SUPPORT = 3  # source pixels the filter reads on each side, per output pixel's span
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


# glibc's mallopt parameter for the size above which allocations are mmapped (and unmapped on free).
M_MMAP_THRESHOLD = -3
BITMAP_MMAP_THRESHOLD = 1024 * 1024


def return_bitmaps_to_the_os(threshold: int = BITMAP_MMAP_THRESHOLD) -> bool:
    """Make large allocations (Pillow's bitmap blocks) go back to the OS when freed; True if it took.

    glibc raises its mmap threshold each time a large block is freed, so after the first big image
    later ones come from the heap of whichever worker thread decoded them and stay there: measured,
    six 8940×8940 uploads decoded one after another still held 1.2 GB. A fixed threshold keeps the
    process at about one image's worth. Elsewhere (musl, macOS) this is a harmless no-op.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))


class PixelBudget:
    """How many pixels may be decoded at once, across all requests: memory, not cores, is the limit.

    Each decode holds `decode_cost` pixels (at most the whole budget, so any image the ceiling lets
    through can run alone); waiters are served first come, first served, so a big image is not
    starved by a stream of small ones.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("the pixel budget must be positive")
        self.capacity = capacity
        self.in_use = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[int]:
        """Wait until `pixels` fit in the budget, keep them for the block; yields the weight held."""
        weight = max(1, min(pixels, self.capacity))
        if self._waiters or self.in_use + weight > self.capacity:
            granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (weight, granted)
            self._waiters.append(entry)
            try:
                await granted
            except BaseException:
                if granted.done() and not granted.cancelled():
                    self.in_use -= weight  # granted just as we were cancelled: give it back
                elif entry in self._waiters:
                    self._waiters.remove(entry)
                self._grant()
                raise
        else:
            self.in_use += weight
        try:
            yield weight
        finally:
            self.in_use -= weight
            self._grant()

    def _grant(self) -> None:
        while self._waiters and self.in_use + self._waiters[0][0] <= self.capacity:
            weight, granted = self._waiters.popleft()
            if granted.done():
                continue
            self.in_use += weight
            granted.set_result(None)


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
