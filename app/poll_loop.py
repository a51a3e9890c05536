"""The poller's schedule: a pass over the due tasks every tick (or at once when woken), each due
task polled on its own, a few at a time, and never two polls of one task at once.

What one poll does is the subclass's (app/poller.py); this module only decides when polls run
and keeps the loop alive through any one poll's failure.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from abc import ABC, abstractmethod

from app.clock import Clock
from app.storage import TaskStore
from app.tasks import TaskRecord

log = logging.getLogger(__name__)

CONCURRENT_POLLS = 4


class PollLoop(ABC):
    """Runs `poll_one` for each task the store says is due, until cancelled."""

    def __init__(self, store: TaskStore, *, interval: float, tick: float, clock: Clock) -> None:
        self.store = store
        self.interval = interval
        self.tick = min(tick, interval)
        self.clock = clock
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(CONCURRENT_POLLS)
        self._in_flight: dict[str, asyncio.Task[None]] = {}

    @abstractmethod
    async def poll_one(self, task: TaskRecord) -> None:
        """Poll one due task and write down what it found, including when it is due again."""

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

    async def stop_following(self, task_id: str) -> None:
        """Stop a poll or download of this task in progress (it is being deleted) and wait until it has."""
        job = self._in_flight.get(task_id)
        if job is None:
            return
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)

    def _forget(self, task_id: str, _job: asyncio.Task[None]) -> None:
        self._in_flight.pop(task_id, None)

    async def _guarded(self, task: TaskRecord) -> None:
        async with self._slots:
            try:
                await self.poll_one(task)
            except Exception:
                log.exception("polling task %s failed", task.id)
                self.store.update(task.id, next_poll_at=self.clock() + self.interval)
