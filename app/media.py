"""The media cache: finished videos kept on this server, and how they are fetched from the upstream's CDN.

Signed CDN links expire within hours, so the console downloads each result once and serves it
itself from then on. A failed download is retried on a backoff, each time from a fresh task
document (a new signed link), up to tasks.MAX_DOWNLOAD_ATTEMPTS; after that the task settles and
the page offers the original link.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from app.backoff import Backoff
from app.files import atomic_writer
from app.tasks import TASK_ID_PATTERN
from app.upstream import ErrorKind, UpstreamClient, UpstreamError

VIDEO_MAX_BYTES = 512 * 1024 * 1024


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
            with atomic_writer(self.videos.folder / name) as out:
                async for chunk in _limited(chunks, max_bytes):
                    out.write(chunk)
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
