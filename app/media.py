"""The media cache: finished videos kept on this server, their posters, and the cache's size cap.

Videos arrive through the guarded download (app/media_download.py), one file per task id.
Each video gets a poster (one frame as a JPEG, beside the video) made once, for galleries and
link previews. With CONSOLE_MAX_CACHE_MB set, the least recently viewed videos are dropped when
the cache grows past it; their posters stay (a few kB each), and a page that shows an evicted
video asks the poller to fetch it again from a fresh task document.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PIL import Image

from app.clock import Clock, system_clock
from app.files import atomic_path
from app.storage import TaskStore
from app.tasks import TASK_ID_PATTERN, TaskRecord

log = logging.getLogger(__name__)

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
