"""Whether bytes are an MP4 video, and a whole one: the check a download passes before it is kept.

An MP4 (ISO base media file) is a run of boxes, each a 32-bit size and a four-letter type, the first
of type `ftyp`. Reading just the box headers tells a whole video from one cut short, or from an HTML
error page or an image served with a 200, without decoding anything.
"""

from __future__ import annotations

import struct
from pathlib import Path

# A playable MP4 has its movie header and its media data; a box list without both is not a video.
MP4_REQUIRED_BOXES = (b"moov", b"mdat")
# The first box's type sits at bytes 4-8: how many bytes of a stream tell whether it is an MP4.
MP4_BRAND_OFFSET = 4
MP4_HEAD = b"ftyp"
MP4_HEAD_BYTES = MP4_BRAND_OFFSET + len(MP4_HEAD)


def starts_like_mp4(head: bytes) -> bool:
    """Whether the first bytes of a file (at least MP4_HEAD_BYTES of them) open an MP4."""
    return head[MP4_BRAND_OFFSET:MP4_HEAD_BYTES] == MP4_HEAD


def mp4_problem(path: Path) -> str | None:
    """Why the file is not a whole MP4 (ISO base media file), or None when it is.

    Walks the top-level boxes: the first must be `ftyp`, each must fit in the file, the last must
    end where the file ends, and `moov` and `mdat` must be there. That catches a download cut
    short even when the server's Content-Length matched what it sent, and anything else
    (an HTML error page, an image) served with a 200.
    """
    size = path.stat().st_size
    kinds: list[bytes] = []
    offset = 0
    with open(path, "rb") as file:
        while offset < size:
            file.seek(offset)
            header = file.read(16)
            if len(header) < 8:
                return f"it ends inside a box header at byte {offset}"
            box_size, kind = struct.unpack(">I4s", header[:8])
            header_size = 8
            if box_size == 1:  # a 64-bit size follows the type
                if len(header) < 16:
                    return f"it ends inside a box header at byte {offset}"
                box_size, header_size = struct.unpack(">Q", header[8:16])[0], 16
            elif box_size == 0:  # the last box, running to the end of the file
                box_size = size - offset
            if not kinds and kind != MP4_HEAD:
                return "it is not an MP4 file (it does not start with an ftyp box)"
            if box_size < header_size:
                return f"its {_box_name(kind)} box at byte {offset} has an impossible size"
            if offset + box_size > size:
                return f"it is cut short inside its {_box_name(kind)} box ({size} bytes, {offset + box_size} needed)"
            kinds.append(kind)
            offset += box_size
    if not kinds:
        return "it is empty"
    missing = [_box_name(kind) for kind in MP4_REQUIRED_BOXES if kind not in kinds]
    if missing:
        return f"it has no {' or '.join(missing)} box"
    return None


def _box_name(kind: bytes) -> str:
    text = kind.decode("latin-1")
    return text if text.isprintable() else kind.hex()
