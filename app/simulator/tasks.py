"""The simulator's tasks: their state machine, its clock, and the render thread they wait on.

A task goes PENDING → THROTTLED (while `concurrency` tasks run) → RUNNING → SUCCEEDED, or
FAILED where a trigger word or the render says so, or CANCELLED when deleted early. Nothing
ticks in the background: every call first replays, in time order, each change due by the
clock's now, so a test can drive the whole life with a fake clock.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.catalogue import Catalogue
from app.i18n import Translator
from app.simulator.render import Frame, render_frames
from app.simulator.settings import SimulatorSettings
from app.simulator.signing import UrlSigner
from app.simulator.triggers import SLOW_FACTOR, Outcome, read_prompt
from app.simulator.validation import TaskRequest
from app.timestamps import utc_iso

PENDING, THROTTLED, RUNNING = "PENDING", "THROTTLED", "RUNNING"
SUCCEEDED, FAILED, CANCELLED = "SUCCEEDED", "FAILED", "CANCELLED"
ACTIVE = (PENDING, THROTTLED, RUNNING)


class NotEnoughCredits(Exception):
    """The `[sim:credits]` trigger: refuse the task as an empty account would."""


class SimulatorClosed(Exception):
    """The render executor is shut down; no new task can be accepted."""


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
    created_wall: float
    created_at: float
    run_seconds: float
    outcome: Outcome | None
    status: str = PENDING
    started_at: float | None = None
    failure: Outcome | None = None
    render: RenderResult | None = None
    future: Future[None] | None = None


class Simulator:
    """All simulator state; every method is safe to call from any thread."""

    def __init__(
        self,
        catalogue: Catalogue,
        settings: SimulatorSettings,
        workdir: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.catalogue = catalogue
        self.settings = settings
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.wall = wall
        # The upstream words its issues in English whatever the client's language.
        self.translate = Translator("en")
        self.signer = UrlSigner(settings.url_ttl_seconds, wall)
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simulator-render")

    def close(self) -> None:
        """Stop accepting renders and wait for the one in progress, if any."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)

    def create(self, request: TaskRequest) -> tuple[str, float | None]:
        """Start a task for a validated request; return its id and estimated credits."""
        effects = read_prompt(request.prompt)
        if effects.no_credits:
            raise NotEnoughCredits
        run_seconds = self.settings.running_seconds * (SLOW_FACTOR if effects.slow else 1.0)
        with self._lock:
            if self._closed:
                raise SimulatorClosed
            now = self.clock()
            self._advance(now)
            task = Task(
                id=str(uuid.uuid4()),
                created_wall=self.wall(),
                created_at=now,
                run_seconds=run_seconds,
                outcome=effects.failure,
            )
            if effects.failure is None:
                task.future = self._executor.submit(
                    self._render, task.id, request.frames, request.ratio, request.duration
                )
            self._tasks[task.id] = task
        return task.id, request.credits

    def get(self, task_id: str, base_url: str) -> dict[str, Any] | None:
        """The task as the API shows it, or None if there is no such task."""
        with self._lock:
            now = self.clock()
            self._advance(now)
            task = self._tasks.get(task_id)
            if task is None:
                return None
            return self._describe(task, now, base_url)

    def cancel_or_delete(self, task_id: str) -> bool:
        """Cancel an unfinished task or forget a finished one; False if there is no such task."""
        with self._lock:
            now = self.clock()
            self._advance(now)
            task = self._tasks.get(task_id)
            if task is None:
                return False
            if task.status in ACTIVE:
                task.status = CANCELLED
                if task.future is not None:
                    task.future.cancel()
                self._discard_video(task)
                self._fill_slots(now)
            else:
                del self._tasks[task_id]
                self._discard_video(task)
            return True

    def output_file(self, task_id: str) -> Path | None:
        """The rendered video of a task that succeeded, if it is still there."""
        with self._lock:
            self._advance(self.clock())
            task = self._tasks.get(task_id)
            if task is None or task.status != SUCCEEDED or task.render is None:
                return None
            path = task.render.path
        return path if path is not None and path.is_file() else None

    def _describe(self, task: Task, now: float, base_url: str) -> dict[str, Any]:
        data: dict[str, Any] = {"id": task.id, "status": task.status, "createdAt": utc_iso(task.created_wall)}
        if task.status == RUNNING:
            data["progress"] = self._progress(task, now)
        elif task.status == SUCCEEDED:
            name = f"{task.id}.mp4"
            data["output"] = [f"{base_url}outputs/{name}?{self.signer.query(name)}"]
        elif task.status == FAILED and task.failure is not None:
            data["failure"] = task.failure.message
            data["failureCode"] = task.failure.code
        return data

    def _progress(self, task: Task, now: float) -> float:
        assert task.started_at is not None
        if task.run_seconds <= 0:
            return 0.99
        # Full progress is only ever shown as SUCCEEDED; a late render holds the bar at 0.99.
        return round(min(0.99, max(0.0, (now - task.started_at) / task.run_seconds)), 3)

    def _next_event(self, task: Task) -> float | None:
        """When the task next changes status on its own; None if it waits for something else."""
        if task.status == PENDING:
            return task.created_at + self.settings.pending_seconds
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

    def _advance(self, now: float) -> None:
        """Replay every status change due by `now`, in time order, so slots free up correctly."""
        while True:
            due = [
                (when, index, task)
                for index, task in enumerate(self._tasks.values())
                if (when := self._next_event(task)) is not None and when <= now
            ]
            if not due:
                return
            when, _, task = min(due, key=lambda item: (item[0], item[1]))
            self._fire(task, when)

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
            task.status = SUCCEEDED
        self._fill_slots(when)

    def _fail(self, task: Task, outcome: Outcome) -> None:
        task.status = FAILED
        task.failure = outcome
        self._discard_video(task)

    def _fill_slots(self, when: float) -> None:
        running = sum(1 for task in self._tasks.values() if task.status == RUNNING)
        for task in self._tasks.values():
            if running >= self.settings.concurrency:
                return
            if task.status == THROTTLED:
                task.status = RUNNING
                task.started_at = when
                running += 1

    def _discard_video(self, task: Task) -> None:
        if task.render is not None and task.render.path is not None:
            task.render.path.unlink(missing_ok=True)
            task.render.path = None

    def _render(self, task_id: str, frames: list[Frame], ratio: str, duration: int) -> None:
        """Render worker: make the video unless the task ended meanwhile, and hand the result back."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.status not in ACTIVE:
                return
        path = self.workdir / f"{task_id}.mp4"
        failure = render_frames(frames, ratio, duration, path, max_side=self.settings.video_max_side)
        result = RenderResult(done_at=self.clock(), path=None if failure else path, failure=failure)
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.status not in ACTIVE:
                path.unlink(missing_ok=True)
                return
            task.render = result
