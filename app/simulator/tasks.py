"""The simulator's tasks: their state machine, its clock, the account they are billed to, and
the render thread they wait on.

A task goes PENDING → THROTTLED (while `concurrency` tasks of its model run) → RUNNING →
SUCCEEDED, or FAILED where a trigger word or the render says so, or CANCELLED when deleted
early. Nothing ticks in the background: every call first replays, in time order, each change due
by the clock's now, so a test can drive the whole life with a fake clock.

Billing follows the API: a task's price (the catalogue's, 0 when the catalogue has none) is
taken from the balance when it is created and shown as `estimatedCost` while it is active; a
task that succeeds keeps it as its `cost`; one that fails or is cancelled is fully refunded and
reports `cost: {"credits": 0}`.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.catalogue import Catalogue
from app.netguard import AsyncResolver, NetPolicy
from app.simulator.notify import Notifier
from app.simulator.persistence import StoredTask, TaskJournal
from app.simulator.render import Frame, render_frames
from app.simulator.settings import SimulatorSettings
from app.simulator.signing import UrlSigner
from app.simulator.triggers import SLOW_FACTOR, Outcome, read_prompt
from app.simulator.uploads import UploadStore
from app.simulator.validation import TaskRequest
from app.tasks import ACTIVE_STATUSES, TaskStatus
from app.timestamps import utc_iso

# The statuses are the API's, named once in the domain module.
PENDING, THROTTLED, RUNNING = TaskStatus.PENDING, TaskStatus.THROTTLED, TaskStatus.RUNNING
SUCCEEDED, FAILED, CANCELLED = TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED
ACTIVE = ACTIVE_STATUSES
# "Daily" generations, as the API counts them: those created in the past day.
DAY_SECONDS = 86_400.0


class NotEnoughCredits(Exception):
    """The balance cannot pay for the task, or the `[sim:credits]` trigger says to act as if so."""


class DailyLimitReached(Exception):
    """The model's `SIMULATOR_DAILY_LIMIT` generations in the past day are used up."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.model = model


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
        image_transport: httpx.BaseTransport | None = None,
        hook_resolver: AsyncResolver | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.settings = settings
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.wall = wall
        self.signer = UrlSigner(settings.url_ttl_seconds, wall)
        self.uploads = UploadStore(
            self.workdir / "uploads",
            ttl_seconds=settings.upload_ttl_seconds,
            max_bytes=settings.upload_max_bytes,
            wall=wall,
        )
        self.notifier = Notifier(
            self.collect_notifications,
            self.awaits_notification,
            allow_private=settings.allow_private_hooks,
            resolver=hook_resolver,
        )
        self._image_transport = image_transport
        self._image_policy = NetPolicy(allow_private=settings.allow_private_images)
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._balance = settings.credits
        # Creation times (wall clock) per model; deleting a task does not give its generation back.
        self._generations: dict[str, list[float]] = {}
        # Settled tasks with a notify_hook, waiting for the notifier to collect their documents.
        self._outbox: list[str] = []
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simulator-render")
        self._journal = TaskJournal(self.workdir / "tasks")
        self._restore()

    def _restore(self) -> None:
        """Take back the tasks kept on disk by an earlier run (see app/simulator/persistence.py)."""
        now = self.clock()
        for kept in self._journal.load(self.workdir):
            task = Task(
                id=kept.id,
                model=kept.model,
                created_wall=kept.created_wall,
                created_at=now,
                run_seconds=0.0,
                outcome=None,
                charge=kept.charge,
                estimate=kept.estimate,
                status=kept.status,
                failure=kept.failure,
                render=RenderResult(done_at=now, path=kept.video) if kept.video else None,
            )
            if task.status == SUCCEEDED:
                self._balance -= task.charge
            self._generations.setdefault(task.model, []).append(task.created_wall)
            self._tasks[task.id] = task

    def _keep(self, task: Task) -> None:
        self._journal.save(
            StoredTask(
                id=task.id,
                model=task.model,
                created_wall=task.created_wall,
                charge=task.charge,
                estimate=task.estimate,
                status=task.status,
                failure=task.failure,
                video=task.render.path if task.render is not None and task.status == SUCCEEDED else None,
            )
        )

    def close(self) -> None:
        """Stop accepting renders and wait for the one in progress, if any."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)

    def create(self, request: TaskRequest, base_url: str = "") -> tuple[str, float]:
        """Start a task for a validated request and bill it; return its id and estimated credits."""
        effects = read_prompt(request.prompt)
        if effects.no_credits:
            raise NotEnoughCredits
        run_seconds = self.settings.running_seconds * (SLOW_FACTOR if effects.slow else 1.0)
        estimate = price_credits(request.credits)
        charge = math.ceil(estimate)
        with self._lock:
            if self._closed:
                raise SimulatorClosed
            now = self.clock()
            self._advance(now)
            wall = self.wall()
            if self._balance <= 0 or self._balance < charge:
                raise NotEnoughCredits
            recent = self._recent_generations(request.model, wall)
            if self.settings.daily_limit is not None and len(recent) >= self.settings.daily_limit:
                raise DailyLimitReached(request.model)
            recent.append(wall)
            self._balance -= charge
            task = Task(
                id=str(uuid.uuid4()),
                model=request.model,
                created_wall=wall,
                created_at=now,
                run_seconds=run_seconds,
                outcome=effects.failure,
                charge=charge,
                estimate=estimate,
                notify_hook=request.notify_hook,
                base_url=base_url,
            )
            if effects.failure is None:
                task.future = self._executor.submit(
                    self._render, task.id, request.frames, request.ratio, request.duration
                )
            self._tasks[task.id] = task
            self._keep(task)
        return task.id, estimate

    def organization(self) -> dict[str, Any]:
        """The account as `GET /v1/organization` shows it: balance, tier limits, usage in the past day."""
        with self._lock:
            self._advance(self.clock())
            wall = self.wall()
            limit = self.settings.daily_limit
            return {
                "creditBalance": self._balance,
                "tier": {
                    "maxMonthlyCreditSpend": self.settings.monthly_credit_spend,
                    "models": {
                        model.id: {
                            "maxConcurrentGenerations": self.settings.concurrency,
                            "maxDailyGenerations": limit,
                        }
                        for model in self.catalogue.models
                    },
                },
                "usage": {
                    "models": {
                        model.id: {"dailyGenerations": len(self._recent_generations(model.id, wall))}
                        for model in self.catalogue.models
                    }
                },
            }

    def collect_notifications(self) -> list[tuple[str, dict[str, Any]]]:
        """Each settled task's (notify_hook, final document) not collected before; advances time first."""
        with self._lock:
            now = self.clock()
            self._advance(now)
            ready, self._outbox = self._outbox, []
            return [
                (task.notify_hook, self._describe(task, now, task.base_url))
                for task_id in ready
                if (task := self._tasks.get(task_id)) is not None and task.notify_hook is not None
            ]

    def awaits_notification(self) -> bool:
        """Whether a task with a notify_hook has not been collected yet (active, or settled and queued)."""
        with self._lock:
            return bool(self._outbox) or any(
                task.notify_hook is not None and task.status in ACTIVE for task in self._tasks.values()
            )

    def _recent_generations(self, model: str, wall: float) -> list[float]:
        kept = [when for when in self._generations.get(model, []) if when > wall - DAY_SECONDS]
        self._generations[model] = kept
        return kept

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
                self._settle(task, CANCELLED)
                if task.future is not None:
                    task.future.cancel()
                self._discard_video(task)
                self._fill_slots(now)
            else:
                del self._tasks[task_id]
                self._discard_video(task)
                self._journal.forget(task_id)
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
        if task.status in ACTIVE:
            data["estimatedCost"] = {"credits": tidy_credits(task.estimate)}
        else:
            data["cost"] = {"credits": task.charge if task.status == SUCCEEDED else 0}
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
            self._settle(task, SUCCEEDED)
        self._fill_slots(when)

    def _fail(self, task: Task, outcome: Outcome) -> None:
        task.failure = outcome
        self._settle(task, FAILED)
        self._discard_video(task)

    def _settle(self, task: Task, status: TaskStatus) -> None:
        """End a task: refund it unless it succeeded, and queue its callback."""
        task.status = status
        if status != SUCCEEDED:
            self._balance += task.charge
        self._keep(task)
        if task.notify_hook is not None:
            self._outbox.append(task.id)

    def _fill_slots(self, when: float) -> None:
        """Start throttled tasks, oldest first, while their model has a free slot."""
        running: dict[str, int] = {}
        for task in self._tasks.values():
            if task.status == RUNNING:
                running[task.model] = running.get(task.model, 0) + 1
        for task in self._tasks.values():
            if task.status == THROTTLED and running.get(task.model, 0) < self.settings.concurrency:
                task.status = RUNNING
                task.started_at = when
                running[task.model] = running.get(task.model, 0) + 1

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
        failure = render_frames(
            frames,
            ratio,
            duration,
            path,
            max_side=self.settings.video_max_side,
            policy=self._image_policy,
            transport=self._image_transport,
        )
        result = RenderResult(done_at=self.clock(), path=None if failure else path, failure=failure)
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.status not in ACTIVE:
                path.unlink(missing_ok=True)
                return
            task.render = result


def price_credits(price: float | None) -> float:
    """A task's price in credits: the catalogue's, or 0 when it has none (the SDK needs a number)."""
    return price if price is not None and math.isfinite(price) and price >= 0 else 0.0


def tidy_credits(value: float) -> int | float:
    """Whole credits as an int, as the API writes them; fractions stay fractions."""
    return int(value) if float(value).is_integer() else value
