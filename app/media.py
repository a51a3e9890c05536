"""The media cache: finished videos kept on this server, their posters, and the cache's size cap.

Signed CDN links expire within hours, so the console downloads each result once and serves it
itself from then on. A failed download is retried on a backoff, each time from a fresh task
document (a new signed link), up to tasks.MAX_DOWNLOAD_ATTEMPTS; after that the task settles and
the page offers the original link.

What the upstream names as its output is not trusted: it is fetched only from https on a public
address, the upstream's own origin, or a host the operator lists (CONSOLE_MEDIA_HOSTS), each
redirect vetted the same way, and kept only if it is an MP4 within CONSOLE_MAX_VIDEO_MB.
Each video gets a poster (one frame as a JPEG, beside the video) made once, for galleries and
link previews. With CONSOLE_MAX_CACHE_MB set, the least recently viewed videos are dropped when
the cache grows past it; their posters stay (a few kB each), and a page that shows an evicted
video asks the poller to fetch it again from a fresh task document.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from PIL import Image

from app.backoff import Backoff
from app.clock import Clock, system_clock
from app.files import atomic_path
from app.netguard import DEFAULT_PORTS, NetPolicy, address_problem, blocked_cause, parse_host, url_host_problem
from app.storage import TaskStore
from app.tasks import TASK_ID_PATTERN, TaskRecord
from app.upstream import RemoteFile, UpstreamClient
from app.upstream_errors import ErrorKind, UpstreamError

log = logging.getLogger(__name__)

VIDEO_MAX_BYTES = 512 * 1024 * 1024
# A playable MP4 has its movie header and its media data; a box list without both is not a video.
MP4_REQUIRED_BOXES = (b"moov", b"mdat")
MAX_REDIRECTS = 5
# An MP4 (ISO base media file) starts with a box whose type, at bytes 4-8, is `ftyp`.
MP4_BRAND_OFFSET = 4
MP4_HEAD = b"ftyp"
# How a refused download is recorded in a task's video_error: this prefix and the reason, which
# the page shows in its own words (media.refused.<reason>).
REFUSAL_PREFIX = "refused:"
REFUSAL_REASONS = ("scheme", "not_https", "address", "redirects", "too_large", "not_mp4")


class MediaRefused(Exception):
    """The upstream's output was not fetched or not kept, for `reason` (one of REFUSAL_REASONS)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class MediaPolicy:
    """Where outputs may come from, and how big they may be."""

    net: NetPolicy
    upstream_origin: str
    max_bytes: int = VIDEO_MAX_BYTES

    def url_problem(self, url: str) -> str | None:
        """Why this output URL must not be requested (a REFUSAL_REASONS entry), or None.

        The connection itself is vetted again by the guarded client, on the address it reaches.
        """
        scheme = url.partition(":")[0].lower()
        if scheme not in DEFAULT_PORTS:
            return "scheme"
        if url_host_problem(url, self.net) in ("url_invalid", "url_credentials"):
            return "address"
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS[scheme]
        host = parts.hostname or ""
        if self.net.trusts(host, port):
            return None
        if scheme != "https":
            return "not_https"
        parsed = parse_host(host)
        if parsed is None:
            return "address"
        if not isinstance(parsed, str):
            return "address" if address_problem(parsed) else None
        return "address" if url_host_problem(url) in ("url_local_host", "url_private_host") else None


def refusal_reason(video_error: str | None) -> str | None:
    """The reason of a refused download, from a task's video_error; None for other failures."""
    if video_error and video_error.startswith(REFUSAL_PREFIX):
        reason = video_error.removeprefix(REFUSAL_PREFIX)
        return reason if reason in REFUSAL_REASONS else None
    return None
POSTER_SUFFIX = ".poster.jpg"
POSTER_MAX_SIDE = 640
POSTER_QUALITY = 82
# Where in the video the poster is taken: past the opening hold, which repeats the first frame.
POSTER_AT_SECONDS = 1.0
# Range requests arrive by the dozen while a video plays; one "viewed" write a minute is enough.
VIEW_WRITE_INTERVAL = 60.0


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

    @staticmethod
    def poster_name(task_id: str) -> str:
        if not TASK_ID_PATTERN.match(task_id):
            raise ValueError("not a task id")
        return f"{task_id}{POSTER_SUFFIX}"

    def find_poster(self, task_id: str) -> Path | None:
        """The stored poster of a task, or None."""
        if not TASK_ID_PATTERN.match(task_id):
            return None
        path = self.folder / self.poster_name(task_id)
        return path if path.is_file() else None

    def make_poster(self, task_id: str) -> str:
        """Take one frame of the stored video as a JPEG beside it (atomically); returns its file name.

        Blocking (decodes video): call it in a worker thread. Raises OSError or av.FFmpegError when the
        video is missing or cannot be decoded.
        """
        video = self.find(task_id)
        if video is None:
            raise FileNotFoundError(task_id)
        image = _frame_of(video, POSTER_AT_SECONDS)
        image.thumbnail((POSTER_MAX_SIDE, POSTER_MAX_SIDE), Image.Resampling.LANCZOS)
        name = self.poster_name(task_id)
        with atomic_path(self.folder / name) as temp:
            image.save(temp, "JPEG", quality=POSTER_QUALITY, optimize=True, progressive=True)
        return name

    def remove(self, task_id: str, *, keep_poster: bool = False) -> None:
        """Delete a task's video (and its poster unless kept); missing files are fine."""
        if not TASK_ID_PATTERN.match(task_id):
            return
        self.path_for(task_id).unlink(missing_ok=True)
        if not keep_poster:
            (self.folder / self.poster_name(task_id)).unlink(missing_ok=True)


def _frame_of(video: Path, at_seconds: float) -> Image.Image:
    """The first frame at or after `at_seconds` (the last one for a shorter video), as an RGB image."""
    import av  # here, not at the top: PyAV takes a while to import and most starts never need it

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        chosen = None
        for frame in container.decode(stream):
            chosen = frame
            if frame.time is not None and frame.time >= at_seconds:
                break
        if chosen is None:
            raise av.error.InvalidDataError(0, "the video has no frames")  # type: ignore[no-untyped-call]
        return chosen.to_image().convert("RGB")


class VideoDownloads:
    """Fetches a task's video into the store, and says when to try again if that failed."""

    def __init__(
        self, videos: VideoStore, upstream: UpstreamClient, *, retry: Backoff, policy: MediaPolicy | None = None
    ) -> None:
        self.videos = videos
        self.upstream = upstream
        self.retry = retry
        self.policy = policy or MediaPolicy(NetPolicy.build([upstream.base_url]), upstream.base_url)

    async def fetch(self, task_id: str, url: str, *, upstream: UpstreamClient | None = None) -> str:
        """Download `url` as the video of `task_id`, atomically; returns the stored file name.

        `upstream` is the client of the task's owner (a visitor's carries their key, to scrub it).
        Raises MediaRefused (the URL, a redirect, the size or the bytes are not acceptable),
        UpstreamError (the CDN failed) or OSError (our disk). Nothing is kept unless it all went well.
        """
        name = self.videos.file_name(task_id)
        client = upstream or self.upstream
        for _hop in range(MAX_REDIRECTS + 1):
            problem = self.policy.url_problem(url)
            if problem:
                raise MediaRefused(problem, client.scrub(url))
            try:
                async with client.open_file(url) as remote:
                    if remote.redirect is None:
                        await self._save(name, remote)
                        return name
                    url = remote.redirect
            except UpstreamError as error:
                blocked = blocked_cause(error)
                if blocked is not None:
                    raise MediaRefused("address", str(blocked)) from None
                raise
        raise MediaRefused("redirects", f"more than {MAX_REDIRECTS}")

    async def _save(self, name: str, remote: RemoteFile) -> None:
        limit = self.policy.max_bytes
        if remote.length is not None and remote.length > limit:
            raise MediaRefused("too_large", f"{remote.length} bytes, the limit is {limit}")
        assert remote.chunks is not None
        with atomic_path(self.videos.folder / name) as temp:
            with open(temp, "wb") as out:
                async for chunk in _checked(remote.chunks, limit):
                    out.write(chunk)
            # Checked before the rename: a file cut short or not a video is never served.
            problem = mp4_problem(temp)
            if problem:
                raise UpstreamError(ErrorKind.PROTOCOL, None, f"the downloaded video is not whole: {problem}")

    def retry_delay(self, attempts: int) -> float:
        """Seconds before the next try after `attempts` failed downloads."""
        return self.retry.delay(attempts)

    def describe(self, error: Exception, upstream: UpstreamClient | None = None) -> str:
        """A download failure as it may be stored and shown: a refusal by its reason, else the
        CDN's words with the key (the owner's, and the server's) scrubbed out."""
        if isinstance(error, MediaRefused):
            return f"{REFUSAL_PREFIX}{error.reason}"
        return (upstream or self.upstream).scrub(str(error))


async def _checked(chunks: AsyncIterator[bytes], max_bytes: int) -> AsyncIterator[bytes]:
    """The bytes as they come, refused as soon as they are not an MP4 or grow past `max_bytes`."""
    total = 0
    head = b""
    async for chunk in chunks:
        total += len(chunk)
        if total > max_bytes:
            raise MediaRefused("too_large", f"more than {max_bytes} bytes")
        if len(head) < MP4_BRAND_OFFSET + len(MP4_HEAD):
            head += chunk[: MP4_BRAND_OFFSET + len(MP4_HEAD)]
            if len(head) >= MP4_BRAND_OFFSET + len(MP4_HEAD) and not _is_mp4(head):
                raise MediaRefused("not_mp4")
        yield chunk
    if not _is_mp4(head):
        raise MediaRefused("not_mp4")


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


def _is_mp4(head: bytes) -> bool:
    return head[MP4_BRAND_OFFSET : MP4_BRAND_OFFSET + len(MP4_HEAD)] == MP4_HEAD
class VideoCache:
    """The cache's bookkeeping over the store: posters, sizes, views, and the size cap.

    `max_bytes` None means no cap. The clock decides "least recently viewed", so tests can order views.
    """

    def __init__(
        self, videos: VideoStore, store: TaskStore, *, max_bytes: int | None, clock: Clock = system_clock
    ) -> None:
        self.videos = videos
        self.store = store
        self.max_bytes = max_bytes
        self.clock = clock

    def stored(self, task: TaskRecord, video_file: str) -> None:
        """Record a freshly downloaded video: its size, and now as its last view (new videos go last)."""
        path = self.videos.folder / video_file
        self.store.update(
            task.id,
            video_file=video_file,
            video_bytes=path.stat().st_size,
            last_viewed_at=self.clock(),
            evicted_at=None,
        )

    def add_poster(self, task_id: str) -> str | None:
        """Make the task's poster once; a video that cannot be decoded is marked so and never tried again.

        Blocking: run it in a worker thread.
        """
        import av  # here, not at the top: PyAV takes a while to import and most starts never need it

        try:
            name = self.videos.make_poster(task_id)
        except FileNotFoundError:
            return None
        except (OSError, av.FFmpegError, ValueError, IndexError) as error:
            log.warning("no poster for task %s: %s", task_id, error)
            self.store.update(task_id, poster_failed=True)
            return None
        self.store.update(task_id, poster_file=name, poster_failed=False)
        return name

    def poster(self, task: TaskRecord) -> Path | None:
        """The task's poster file, made now if its video has none yet (blocking: run it in a worker thread)."""
        path = self.videos.find_poster(task.id)
        if path is None and task.video_file is not None and not task.poster_failed:
            self.add_poster(task.id)
            path = self.videos.find_poster(task.id)
        return path

    def viewed(self, task: TaskRecord) -> None:
        """Note that a page or a player showed the task's video now (at most one write a minute)."""
        now = self.clock()
        if task.last_viewed_at is None or now - task.last_viewed_at >= VIEW_WRITE_INTERVAL:
            self.store.update(task.id, last_viewed_at=now)

    def total_bytes(self) -> int:
        return sum(task.video_bytes or 0 for task in self.store.cached_videos())

    def enforce(self, *, keep: str | None = None) -> list[str]:
        """Evict least recently viewed videos until the cache fits its cap; returns the evicted task ids.

        `keep` (the video just fetched or being watched) is never evicted, even when it alone is over the cap.
        """
        if self.max_bytes is None:
            return []
        cached = self.store.cached_videos()
        for task in cached:
            if task.video_bytes is None:  # fetched before sizes were recorded
                path = self.videos.find(task.id)
                task.video_bytes = path.stat().st_size if path else 0
                self.store.update(task.id, video_bytes=task.video_bytes)
        total = sum(task.video_bytes or 0 for task in cached)
        evicted: list[str] = []
        for task in cached:
            if total <= self.max_bytes:
                break
            if task.id == keep:
                continue
            self.videos.remove(task.id, keep_poster=True)
            self.store.update(task.id, video_file=None, evicted_at=self.clock())
            total -= task.video_bytes or 0
            evicted.append(task.id)
        if evicted:
            log.info("cache over %d bytes: evicted the videos of %s", self.max_bytes, ", ".join(evicted))
        return evicted
