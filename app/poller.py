"""One background loop that follows every unfinished task upstream and fetches finished videos.

Browser tabs only read the database, so the upstream sees at most one request per task
per poll interval however many people watch, and tasks keep moving with no tab open.
"""

from __future__ import annotations

import asyncio
import logging
import time

from app.storage import ACTIVE_STATUSES, TERMINAL_STATUSES, TaskRecord, TaskStore, VideoStore
from app.upstream import UpstreamClient, UpstreamError, task_cost

log = logging.getLogger(__name__)

KNOWN_STATUSES = (*ACTIVE_STATUSES, *TERMINAL_STATUSES)
MAX_BACKOFF_SECONDS = 300.0
CONCURRENT_POLLS = 4


class TaskPoller:
    def __init__(
        self,
        store: TaskStore,
        upstream: UpstreamClient,
        videos: VideoStore,
        *,
        interval: float,
        tick: float = 0.5,
    ) -> None:
        self.store = store
        self.upstream = upstream
        self.videos = videos
        self.interval = interval
        self.tick = min(tick, interval)
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(CONCURRENT_POLLS)
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    def wake(self) -> None:
        """Look for due tasks now rather than at the next tick."""
        self._wake.set()

    async def run(self) -> None:
        try:
            while True:
                try:
                    self.start_due()
                except Exception:  # the loop must outlive any one bad task or database hiccup
                    log.exception("poller pass failed")
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.tick)
                except TimeoutError:
                    pass
                self._wake.clear()
        finally:
            for job in self._in_flight.values():
                job.cancel()
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)

    def start_due(self) -> None:
        """Start a poll for each due task not already being polled.

        Polls run on their own so that one slow video download or a stalled upstream answer
        does not hold back the other tasks until the next pass.
        """
        for task in self.store.due(time.time()):
            if task.id not in self._in_flight:
                job = asyncio.create_task(self._guarded(task), name=f"poll-{task.id}")
                self._in_flight[task.id] = job
                job.add_done_callback(lambda _, task_id=task.id: self._in_flight.pop(task_id, None))

    async def _guarded(self, task: TaskRecord) -> None:
        async with self._slots:
            try:
                await self.poll_one(task)
            except Exception:
                log.exception("polling task %s failed", task.id)
                self.store.update(task.id, next_poll_at=time.time() + self.interval)

    async def poll_one(self, task: TaskRecord) -> None:
        """Fetch one task, record what changed, and download its video once it has one."""
        now = time.time()
        try:
            data = await self.upstream.get_task(task.id)
        except UpstreamError as error:
            self._record_poll_failure(task, error, now)
            return
        changes = apply_task_data(task, data, now)
        changes["next_poll_at"] = now + self.interval
        self.store.update(task.id, **changes)
        output = changes.get("output_url") or task.output_url
        if changes.get("status", task.status) == "SUCCEEDED" and task.video_file is None and output:
            await self._download(task, output)

    def _record_poll_failure(self, task: TaskRecord, error: UpstreamError, now: float) -> None:
        if error.kind == "not_found":
            self.store.update(task.id, gone=True, last_error=str(error), finished_at=now)
            return
        failures = task.poll_failures + 1
        delay = min(self.interval * 2 ** min(failures, 8), MAX_BACKOFF_SECONDS)
        if error.retry_after:
            # A 429 that names its wait is obeyed (within reason) rather than guessed at.
            delay = max(delay, min(error.retry_after, MAX_BACKOFF_SECONDS))
        self.store.update(task.id, poll_failures=failures, last_error=str(error), next_poll_at=now + delay)

    async def _download(self, task: TaskRecord, url: str) -> None:
        attempts = task.download_attempts + 1
        try:
            await self.upstream.download(url, self.videos.path_for(task.id))
        except (UpstreamError, OSError) as error:
            log.warning("download of task %s failed: %s", task.id, error)
            # The next poll fetches the task again, which also renews an expired signed URL.
            self.store.update(
                task.id,
                download_attempts=attempts,
                video_error=self.upstream.scrub(str(error)),
                next_poll_at=time.time() + self.interval * attempts,
            )
            return
        self.store.update(task.id, video_file=f"{task.id}.mp4", video_error=None, download_attempts=attempts)


def apply_task_data(task: TaskRecord, data: dict, now: float) -> dict[str, object]:
    """The record changes an upstream task document implies."""
    status = data.get("status") if data.get("status") in KNOWN_STATUSES else task.status
    changes: dict[str, object] = {"status": status, "last_error": None, "poll_failures": 0}
    progress = data.get("progress")
    if isinstance(progress, int | float) and not isinstance(progress, bool):
        changes["progress"] = max(0.0, min(1.0, float(progress)))
    if status == "SUCCEEDED":
        changes["progress"] = 1.0
        output = data.get("output")
        if isinstance(output, list) and output and isinstance(output[0], str):
            changes["output_url"] = output[0]
    if status == "FAILED":
        changes["failure"] = str(data.get("failure") or "")[:2000]
        changes["failure_code"] = str(data.get("failureCode") or "")[:200]
    cost = task_cost(data)
    if cost is not None:
        changes["cost"] = cost
    if isinstance(data.get("createdAt"), str):
        changes["created_at"] = data["createdAt"][:40]
    if status in TERMINAL_STATUSES and task.finished_at is None:
        changes["finished_at"] = now
    return changes
