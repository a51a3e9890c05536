"""What one poll of a task writes down, and when the task is polled next.

The upstream's answer is applied to the record (app/tasks.py says how); a failed poll backs off;
a 404 is borne for a while (GoneRule) before the task is given up as gone; and a task that has just
succeeded hands its video to the guarded download (app/media_download.py), whose failures are
retried from a fresh task document at a later poll.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from app.backoff import Backoff
from app.clock import Clock
from app.media import VideoCache
from app.media_download import MediaRefused, VideoDownloads
from app.storage import TaskStore
from app.task_document import changes_from_document
from app.tasks import TaskRecord, TaskStatus
from app.upstream import UpstreamClient
from app.upstream_errors import ErrorKind, UpstreamError

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class GoneRule:
    """When a task the upstream answers 404 for is given up: after `polls` 404s in a row spanning
    at least `seconds`. Until then it is polled again on its own backoff (the task may still be
    propagating through a relay, or the relay may be briefly confused), and a paid task is kept.
    """

    polls: int = 5
    seconds: float = 180.0

    def is_gone(self, not_found_polls: int, since: float, now: float) -> bool:
        return not_found_polls >= self.polls and now - since >= self.seconds

    def backoff(self, interval: float) -> Backoff:
        # Spread the 404 polls over the span rather than bunching them at its start.
        return Backoff(base=interval, cap=max(interval, self.seconds / self.polls))


class PollResults:
    """Records the outcome of each poll in the store, on the poller's clock."""

    def __init__(
        self,
        store: TaskStore,
        downloads: VideoDownloads,
        cache: VideoCache,
        *,
        interval: float,
        gone_rule: GoneRule,
        clock: Clock,
    ) -> None:
        self.store = store
        self.downloads = downloads
        self.cache = cache
        self.interval = interval
        self.clock = clock
        self.backoff = Backoff(base=interval * 2, cap=MAX_BACKOFF_SECONDS)
        self.gone_rule = gone_rule
        self.not_found_backoff = gone_rule.backoff(interval)

    async def answered(self, task: TaskRecord, data: dict[str, Any], now: float, client: UpstreamClient) -> None:
        """Apply the upstream's task document, then download the video once the task has one."""
        changes = changes_from_document(task, data, now)
        changes["next_poll_at"] = now + self.interval
        changes["not_found_polls"] = 0
        changes["not_found_since"] = None
        self.store.update(task.id, **changes)
        output = changes.get("output_url") or task.output_url
        if changes["status"] == TaskStatus.SUCCEEDED and task.video_file is None and output:
            await self._download(task, output, client)

    def failed(self, task: TaskRecord, error: UpstreamError, now: float) -> None:
        """Note a poll the upstream did not answer with the task, and when to ask again."""
        if error.kind == ErrorKind.NOT_FOUND:
            self._not_found(task, error, now)
            return
        failures = task.poll_failures + 1
        # A 429 that names its wait is obeyed (within reason) rather than guessed at.
        delay = self.backoff.delay(failures, error.retry_after)
        self.store.update(task.id, poll_failures=failures, last_error=str(error), next_poll_at=now + delay)

    def _not_found(self, task: TaskRecord, error: UpstreamError, now: float) -> None:
        count = task.not_found_polls + 1
        since = task.not_found_since if task.not_found_since is not None else now
        if self.gone_rule.is_gone(count, since, now):
            log.warning("task %s: %d answers of 404 over %.0f s, given up as gone", task.id, count, now - since)
            self.store.update(
                task.id, gone=True, not_found_polls=count, not_found_since=since, last_error=str(error), finished_at=now
            )
            return
        self.store.update(
            task.id,
            not_found_polls=count,
            not_found_since=since,
            last_error=str(error),
            next_poll_at=now + self.not_found_backoff.delay(count),
        )

    async def _download(self, task: TaskRecord, url: str, client: UpstreamClient) -> None:
        attempts = task.download_attempts + 1
        try:
            video_file = await self.downloads.fetch(task.id, url, upstream=client)
        except (UpstreamError, MediaRefused, OSError) as error:
            log.warning("download of task %s failed: %s", task.id, error)
            # The next poll fetches the task again, which also renews an expired signed URL.
            self.store.update(
                task.id,
                download_attempts=attempts,
                video_error=self.downloads.describe(error, client),
                next_poll_at=self.clock() + self.downloads.retry_delay(attempts),
            )
            return
        self.store.update(task.id, video_error=None, download_attempts=attempts)
        self.cache.stored(task, video_file)
        if task.poster_file is None:
            await asyncio.to_thread(self.cache.add_poster, task.id)
        self.cache.enforce(keep=task.id)
