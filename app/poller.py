"""One background loop that follows every unfinished task upstream and fetches finished videos.

Browser tabs only read the database, so the upstream sees at most one request per task
per poll interval however many people watch, and tasks keep moving with no tab open.
The poller is also where a task enters the console (submitted here or opened by id) and
where it is cancelled, so every change to a task goes through one place with one clock.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from app.backoff import Backoff
from app.clock import Clock, system_clock
from app.media import VideoCache
from app.media_download import MediaRefused, VideoDownloads
from app.storage import TaskStore
from app.task_document import changes_from_document, opened_task
from app.task_submission import TaskSubmission, interrupted_submission, submitted_task
from app.tasks import ACTIVE_STATUSES, StoredNotes, TaskOrigin, TaskRecord, TaskStatus
from app.upstream import CreatedTask, UpstreamClient
from app.upstream_errors import ErrorKind, UpstreamError
from app.visitor_keys import KeyNeeded

# Which upstream client (so which key) speaks for a task's owner; None: a visitor whose key is not held.
UpstreamForOwner = Callable[[str | None], UpstreamClient | None]

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0
CONCURRENT_POLLS = 4
# A task whose owner's key is not held is looked at again this often (entering the key wakes it at once).
KEY_WAIT_SECONDS = 60.0
# How many of a visitor's tasks are taken up again when they enter their key.
RESUME_LIMIT = 1000


class SubmissionNotRecorded(Exception):
    """The console could not write a submission down, so it did not send it: retrying is safe."""


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


class TaskPoller:
    def __init__(
        self,
        store: TaskStore,
        upstream: UpstreamClient,
        downloads: VideoDownloads,
        *,
        cache: VideoCache,
        interval: float,
        tick: float = 0.5,
        gone_rule: GoneRule | None = None,
        clock: Clock = system_clock,
        upstream_for: UpstreamForOwner | None = None,
    ) -> None:
        self.store = store
        self.upstream = upstream
        self.upstream_for: UpstreamForOwner = upstream_for or (lambda owner: upstream)
        self.downloads = downloads
        self.cache = cache
        self.interval = interval
        self.tick = min(tick, interval)
        self.clock = clock
        self.backoff = Backoff(base=interval * 2, cap=MAX_BACKOFF_SECONDS)
        self.gone_rule = gone_rule or GoneRule()
        self.not_found_backoff = self.gone_rule.backoff(interval)
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(CONCURRENT_POLLS)
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    # --- how tasks enter and leave ------------------------------------------------------------

    async def submit(
        self,
        submission: TaskSubmission,
        notes: StoredNotes,
        *,
        origin: TaskOrigin = TaskOrigin.CONSOLE,
        owner: str | None = None,
        comparison_id: str | None = None,
    ) -> TaskRecord:
        """Create the task upstream and record it; raises UpstreamError (then nothing is recorded),
        or SubmissionNotRecorded (then nothing was sent), or KeyNeeded (a visitor whose key is not
        held: nothing was written or sent). The task goes upstream with its owner's key.

        The submission is written down before the upstream is called and replaced by its task in
        one transaction after, so a console killed in between leaves an "interrupted" record
        (the upstream may have accepted the task) instead of nothing. The residual window, an
        upstream that accepted the task but whose answer never reached us, cannot be closed from
        here: the API has no idempotency key and no task list to reconcile against.
        """
        client = self._client(owner)
        intent_id = uuid.uuid4().hex
        interrupted = interrupted_submission(intent_id, submission, notes, now=self.clock(), origin=origin, owner=owner)
        try:
            self.store.begin_submission(intent_id, interrupted)
        except Exception as error:
            # Better nothing sent than a billed task this console cannot keep track of.
            log.exception("could not record a submission; nothing was sent upstream")
            raise SubmissionNotRecorded() from error
        try:
            created = await client.create_task(submission.upstream_body())
        except UpstreamError:
            # The upstream answered, or was never reached: the page shows why; there is no task to keep.
            self.store.finish_submission(intent_id, None)
            raise
        except BaseException:
            # Cancelled mid-call (the client went away, shutdown): the upstream may have the task.
            self.store.recover_submissions(self.clock(), intent_id)
            raise
        return self.add_submitted(
            created, submission, notes, origin=origin, owner=owner, intent_id=intent_id, comparison_id=comparison_id
        )

    def add_submitted(
        self,
        created: CreatedTask,
        submission: TaskSubmission,
        notes: StoredNotes,
        *,
        origin: TaskOrigin = TaskOrigin.CONSOLE,
        owner: str | None = None,
        intent_id: str | None = None,
        comparison_id: str | None = None,
    ) -> TaskRecord:
        """Record a task this console just created upstream, and start following it."""
        now = self.clock()
        record = submitted_task(
            created.id,
            submission,
            # The upstream's own estimate, else the catalogue's price, so cost totals can count it.
            estimated_cost=(
                created.estimated_cost
                if created.estimated_cost is not None
                else submission.model.price(submission.duration)
            ),
            notes=notes,
            now=now,
            next_poll_at=now + self.interval,
            origin=origin,
            owner=owner,
            comparison_id=comparison_id,
            response=created.document,
        )
        try:
            if intent_id is None:
                self.store.insert(record)
            else:
                self.store.finish_submission(intent_id, record)
        except Exception:
            # The upstream has the task (and bills it): the caller must still get its id, never an
            # error to retry on. Its page fetches it from the upstream; an intent row left behind
            # turns into an "interrupted" note at the next start.
            log.exception("task %s was created upstream but could not be recorded", created.id)
        self.wake()
        return record

    def recover_interrupted(self) -> list[TaskRecord]:
        """At start-up: submissions a killed console was sending become interrupted records."""
        recovered = self.store.recover_submissions(self.clock())
        for record in recovered:
            log.warning("a submission was cut off by a restart; recorded as %s (the upstream may have it)", record.id)
        return recovered

    async def open_external(self, task_id: str, *, owner: str | None = None) -> TaskRecord:
        """A task created elsewhere, fetched once and recorded as `owner`'s (with their key).

        Raises UpstreamError, or KeyNeeded when `owner` is a visitor whose key is not held.
        """
        data = await self._client(owner).get_task(task_id)
        now = self.clock()
        # This fetch counts as the poll: the task keeps to one upstream GET per interval.
        record = opened_task(task_id, data, now=now, next_poll_at=now + self.interval)
        record.owner = owner
        self.store.insert(record)
        return record

    async def cancel(self, task: TaskRecord) -> TaskRecord:
        """Ask the upstream to cancel an active task (one it no longer knows counts as cancelled).

        Raises UpstreamError when the upstream refuses, KeyNeeded when the owner's key is not held;
        the task is left as it was.
        """
        if not task.is_active:
            return task
        client = self._client(task.owner)
        try:
            await client.delete_task(task.id)
        except UpstreamError as error:
            if error.kind != ErrorKind.NOT_FOUND:
                raise
        self.store.update(task.id, status=TaskStatus.CANCELLED, finished_at=self.clock())
        return self.store.get(task.id) or task

    def check_again(self, task: TaskRecord) -> TaskRecord:
        """Take back a task given up as gone and poll it now; its 404 grace period starts over."""
        if not task.gone:
            return task
        changes: dict[str, object] = {
            "gone": False,
            "not_found_polls": 0,
            "not_found_since": None,
            "last_error": None,
            "next_poll_at": self.clock(),
        }
        if task.status in ACTIVE_STATUSES:
            changes["finished_at"] = None
        self.store.update(task.id, **changes)
        self.wake()
        return self.store.get(task.id) or task

    def refetch(self, task: TaskRecord) -> TaskRecord:
        """Fetch an evicted video again: a fresh task GET (new signed URLs), then the download."""
        if not task.is_evicted:
            return task
        self.store.update(task.id, evicted_at=None, download_attempts=0, video_error=None, next_poll_at=self.clock())
        self.wake()
        return self.store.get(task.id) or task

    async def stop_following(self, task_id: str) -> None:
        """Stop a poll or download of this task in progress (it is being deleted) and wait until it has."""
        job = self._in_flight.get(task_id)
        if job is None:
            return
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
    def resume_owner(self, owner: str) -> int:
        """Poll now the unsettled tasks of `owner` (a visitor who has just entered their key again)."""
        now = self.clock()
        resumed = 0
        for task in self.store.recent(RESUME_LIMIT, viewer=owner):
            if task.owner == owner and not task.is_settled and not task.gone:
                self.store.update(task.id, next_poll_at=now)
                resumed += 1
        if resumed:
            self.wake()
        return resumed

    def _client(self, owner: str | None) -> UpstreamClient:
        client = self.upstream_for(owner)
        if client is None:
            raise KeyNeeded(owner)
        return client

    # --- the loop -------------------------------------------------------------------------------

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
        for task in self.store.due(self.clock()):
            if task.id not in self._in_flight:
                job = asyncio.create_task(self._guarded(task), name=f"poll-{task.id}")
                self._in_flight[task.id] = job
                job.add_done_callback(functools.partial(self._forget, task.id))

    def _forget(self, task_id: str, _job: asyncio.Task[None]) -> None:
        self._in_flight.pop(task_id, None)

    async def _guarded(self, task: TaskRecord) -> None:
        async with self._slots:
            try:
                await self.poll_one(task)
            except Exception:
                log.exception("polling task %s failed", task.id)
                self.store.update(task.id, next_poll_at=self.clock() + self.interval)

    async def poll_one(self, task: TaskRecord) -> None:
        """Fetch one task, record what changed, and download its video once it has one."""
        now = self.clock()
        client = self.upstream_for(task.owner)
        if client is None:
            # A visitor's task while their key is not held: nothing is sent (least of all another key).
            self.store.update(task.id, next_poll_at=now + max(self.interval, KEY_WAIT_SECONDS))
            return
        try:
            data = await client.get_task(task.id)
        except UpstreamError as error:
            self._record_poll_failure(task, error, now)
            return
        changes = changes_from_document(task, data, now)
        changes["next_poll_at"] = now + self.interval
        changes["not_found_polls"] = 0
        changes["not_found_since"] = None
        self.store.update(task.id, **changes)
        output = changes.get("output_url") or task.output_url
        if changes["status"] == TaskStatus.SUCCEEDED and task.video_file is None and output:
            await self._download(task, output, client)

    def _record_poll_failure(self, task: TaskRecord, error: UpstreamError, now: float) -> None:
        if error.kind == ErrorKind.NOT_FOUND:
            self._record_not_found(task, error, now)
            return
        failures = task.poll_failures + 1
        # A 429 that names its wait is obeyed (within reason) rather than guessed at.
        delay = self.backoff.delay(failures, error.retry_after)
        self.store.update(task.id, poll_failures=failures, last_error=str(error), next_poll_at=now + delay)

    def _record_not_found(self, task: TaskRecord, error: UpstreamError, now: float) -> None:
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
