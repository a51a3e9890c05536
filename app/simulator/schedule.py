"""The simulator's task state machine, on the simulator's clock.

A task goes PENDING → THROTTLED (while `concurrency` tasks of its model run) → RUNNING →
SUCCEEDED, or FAILED where a trigger word or the render says so, or CANCELLED when deleted
early. Nothing ticks in the background: `Schedule.advance` replays, in time order, each change
due by the clock's now, so a test can drive the whole life with a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from app.simulator.triggers import Outcome
from app.tasks import ACTIVE_STATUSES, TaskStatus

# The statuses are the API's, named once in the domain module.
PENDING, THROTTLED, RUNNING = TaskStatus.PENDING, TaskStatus.THROTTLED, TaskStatus.RUNNING
SUCCEEDED, FAILED, CANCELLED = TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED
ACTIVE = ACTIVE_STATUSES


@dataclass
class RenderResult:
    """What the render worker produced, stamped with the simulator clock when it finished."""

    done_at: float
    path: Path | None = None
    failure: Outcome | None = None


@dataclass
class Task:
    """One task's state; only touched under the simulator's lock."""

    id: str
    model: str
    created_wall: float
    created_at: float
    run_seconds: float
    outcome: Outcome | None
    # What the task costs (a whole number of credits, taken from the balance at creation).
    charge: int = 0
    estimate: float = 0.0
    notify_hook: str | None = None
    # The simulator's own base URL as the creating client saw it, for links in a callback.
    base_url: str = ""
    status: TaskStatus = PENDING
    started_at: float | None = None
    failure: Outcome | None = None
    render: RenderResult | None = None
    future: Future[None] | None = None

    def progress(self, now: float) -> float:
        """How far through RUNNING the task is at `now`, as the API's `progress` shows it."""
        assert self.started_at is not None
        if self.run_seconds <= 0:
            return 0.99
        # Full progress is only ever shown as SUCCEEDED; a late render holds the bar at 0.99.
        return round(min(0.99, max(0.0, (now - self.started_at) / self.run_seconds)), 3)

    def video(self) -> Path | None:
        """The rendered video of a task that succeeded, if it has one."""
        if self.status != SUCCEEDED or self.render is None:
            return None
        return self.render.path

    def discard_video(self) -> None:
        """Delete the rendered file: a task that did not succeed, or was deleted, keeps no video."""
        if self.render is not None and self.render.path is not None:
            self.render.path.unlink(missing_ok=True)
            self.render.path = None


class Schedule:
    """Every task the simulator knows and the rules that move them; only used under the simulator's lock.

    `on_settle` is called once for each task that ends, right after its final status is set.
    """

    def __init__(self, pending_seconds: float, concurrency: int, on_settle: Callable[[Task], None]) -> None:
        self.pending_seconds = pending_seconds
        self.concurrency = concurrency
        self.on_settle = on_settle
        self.tasks: dict[str, Task] = {}

    def advance(self, now: float) -> None:
        """Replay every status change due by `now`, in time order, so slots free up correctly."""
        while True:
            due = [
                (when, index, task)
                for index, task in enumerate(self.tasks.values())
                if (when := self._next_event(task)) is not None and when <= now
            ]
            if not due:
                return
            when, _, task = min(due, key=lambda item: (item[0], item[1]))
            self._fire(task, when)

    def cancel(self, task: Task, now: float) -> None:
        """End an active task as CANCELLED, drop its render, and give its slot to the next one."""
        self._settle(task, CANCELLED)
        if task.future is not None:
            task.future.cancel()
        task.discard_video()
        self._fill_slots(now)

    def _next_event(self, task: Task) -> float | None:
        """When the task next changes status on its own; None if it waits for something else."""
        if task.status == PENDING:
            return task.created_at + self.pending_seconds
        if task.status != RUNNING:
            return None
        assert task.started_at is not None
        end = task.started_at + task.run_seconds
        if task.outcome is not None:
            if task.outcome.stage == "midway":
                return task.started_at + task.run_seconds / 2
            return end
        if task.render is None:
            return None
        if task.render.failure is not None:
            return max(task.started_at, task.render.done_at)
        return max(end, task.render.done_at)

    def _fill_slots(self, when: float) -> None:
        """Start throttled tasks, oldest first, while their model has a free slot."""
        running: dict[str, int] = {}
        for task in self.tasks.values():
            if task.status == RUNNING:
                running[task.model] = running.get(task.model, 0) + 1
        for task in self.tasks.values():
            if task.status == THROTTLED and running.get(task.model, 0) < self.concurrency:
                task.status = RUNNING
                task.started_at = when
                running[task.model] = running.get(task.model, 0) + 1

    def _fire(self, task: Task, when: float) -> None:
        if task.status == PENDING:
            if task.outcome is not None and task.outcome.stage == "preprocessing":
                self._fail(task, task.outcome)
            else:
                task.status = THROTTLED
        elif task.outcome is not None:
            self._fail(task, task.outcome)
        elif task.render is not None and task.render.failure is not None:
            self._fail(task, task.render.failure)
        else:
            self._settle(task, SUCCEEDED)
        self._fill_slots(when)

    def _fail(self, task: Task, outcome: Outcome) -> None:
        task.failure = outcome
        self._settle(task, FAILED)
        task.discard_video()

    def _settle(self, task: Task, status: TaskStatus) -> None:
        task.status = status
        self.on_settle(task)
