"""One background loop that follows every unfinished task upstream and fetches finished videos.

Browser tabs only read the database, so the upstream sees at most one request per task
per poll interval however many people watch, and tasks keep moving with no tab open.
The poller is also where a task enters the console (submitted here or opened by id) and
where it is cancelled, so every change to a task goes through one place with one clock.
When polls run is app/poll_loop.py's; what a poll's answer changes (and the video download it
may start) is app/poll_results.py's.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from app.clock import Clock, system_clock
from app.media import VideoCache
from app.media_download import VideoDownloads
from app.poll_loop import PollLoop
from app.poll_results import GoneRule, PollResults
from app.storage import TaskStore
from app.task_document import opened_task
from app.task_submission import TaskSubmission, interrupted_submission, submitted_task
from app.tasks import ACTIVE_STATUSES, StoredNotes, TaskOrigin, TaskRecord, TaskStatus
from app.upstream import UpstreamClient
from app.upstream_errors import ErrorKind, UpstreamError
from app.visitor_keys import KeyNeeded

# Which upstream client (so which key) speaks for a task's owner; None: a visitor whose key is not held.
UpstreamForOwner = Callable[[str | None], UpstreamClient | None]

log = logging.getLogger(__name__)

# A task whose owner's key is not held is looked at again this often (entering the key wakes it at once).
KEY_WAIT_SECONDS = 60.0
# How many of a visitor's tasks are taken up again when they enter their key.
RESUME_LIMIT = 1000


class SubmissionNotRecorded(Exception):
    """The console could not write a submission down, so it did not send it: retrying is safe."""


class TaskPoller(PollLoop):
    """Follows every unfinished task upstream, and is the one way tasks enter and leave the console."""

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
        super().__init__(store, interval=interval, tick=tick, clock=clock)
        self.upstream = upstream
        self.upstream_for: UpstreamForOwner = upstream_for or (lambda owner: upstream)
        self.results = PollResults(
            store, downloads, cache, interval=interval, gone_rule=gone_rule or GoneRule(), clock=clock
        )

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
            self.store.finish_submission(intent_id, record)
        except Exception:
            # The upstream has the task (and bills it): the caller must still get its id, never an
            # error to retry on. Its page fetches it from the upstream; the intent row left behind
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
            self.results.failed(task, error, now)
            return
        await self.results.answered(task, data, now, client)
