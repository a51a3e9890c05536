"""The media cache: finished videos kept on this server, and how they are fetched from the upstream's CDN.

Signed CDN links expire within hours, so the console downloads each result once and serves it
itself from then on. A failed download is retried on a backoff, each time from a fresh task
document (a new signed link), up to tasks.MAX_DOWNLOAD_ATTEMPTS; after that the task settles and
the page offers the original link.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from pathlib import Path

from app.backoff import Backoff
from app.files import atomic_path
from app.tasks import TASK_ID_PATTERN
from app.upstream import ErrorKind, UpstreamClient, UpstreamError

VIDEO_MAX_BYTES = 512 * 1024 * 1024
# A playable MP4 has its movie header and its media data; a box list without both is not a video.
MP4_REQUIRED_BOXES = (b"moov", b"mdat")


class VideoStore:
    """Downloaded results, one mp4 per task id."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def file_name(task_id: str) -> str:
        if not TASK_ID_PATTERN.match(task_id):
            raise ValueError("not a task id")
        return f"{task_id}.mp4"

    def path_for(self, task_id: str) -> Path:
        return self.folder / self.file_name(task_id)

    def find(self, task_id: str) -> Path | None:
        """The stored video of a task, or None when there is none (or the id is malformed)."""
        if not TASK_ID_PATTERN.match(task_id):
            return None
        path = self.path_for(task_id)
        return path if path.is_file() else None


class VideoDownloads:
    """Fetches a task's video into the store, and says when to try again if that failed."""

    def __init__(self, videos: VideoStore, upstream: UpstreamClient, *, retry: Backoff) -> None:
        self.videos = videos
        self.upstream = upstream
        self.retry = retry

    async def fetch(self, task_id: str, url: str, max_bytes: int = VIDEO_MAX_BYTES) -> str:
        """Download `url` as the video of `task_id`, atomically; returns the stored file name.

        Raises UpstreamError (the upstream's CDN failed or sent too much) or OSError (our disk).
        """
        name = self.videos.file_name(task_id)
        async with self.upstream.open_file(url) as chunks:
            with atomic_path(self.videos.folder / name) as temp:
                with open(temp, "wb") as out:
                    async for chunk in _limited(chunks, max_bytes):
                        out.write(chunk)
                # Checked before the rename: a file cut short or not a video is never served.
                problem = mp4_problem(temp)
                if problem:
                    raise UpstreamError(ErrorKind.PROTOCOL, None, f"the downloaded video is not whole: {problem}")
        return name

    def retry_delay(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed downloads."""
        return self.retry.delay(attempts)

    def describe(self, error: Exception) -> str:
        """A download failure as it may be stored and shown: the key scrubbed out."""
        return self.upstream.scrub(str(error))


async def _limited(chunks: AsyncIterator[bytes], max_bytes: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise UpstreamError(ErrorKind.PROTOCOL, None, f"the video is larger than {max_bytes} bytes")
        yield chunk


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
            if not kinds and kind != b"ftyp":
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
