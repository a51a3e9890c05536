"""The simulator itself: the tasks, the account they are billed to, and the render thread they
wait on, behind one lock.

Each call takes the lock and first brings every task up to the clock's now (`Schedule.advance`,
app/simulator/schedule.py), so each answer is as of the moment it is asked. The rules live below:
the state machine in `schedule`, billing and limits in `account`, the files in `persistence`,
the callbacks in `notify`.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict, Unpack

import httpx

from app.catalogue import Catalogue
from app.netguard import AsyncResolver, NetPolicy
from app.simulator.account import Account, NotEnoughCredits, price_credits, tidy_credits
from app.simulator.notify import Notifier
from app.simulator.persistence import TaskJournal
from app.simulator.render import Frame, render_frames
from app.simulator.schedule import ACTIVE, FAILED, RUNNING, SUCCEEDED, RenderResult, Schedule, Task
from app.simulator.settings import SimulatorSettings
from app.simulator.signing import UrlSigner
from app.simulator.triggers import SLOW_FACTOR, read_prompt
from app.simulator.uploads import UploadStore
from app.simulator.validation import TaskRequest
from app.timestamps import utc_iso


class StandIns(TypedDict, total=False):
    """What a test puts in place of the real world around the simulator; each one left out is real.

    `clock` paces the tasks (seconds, monotonic), `wall` dates them and their links (Unix time),
    `image_transport` fetches image URLs at render time, `hook_resolver` looks up notify_hook hosts.
    """

    clock: Callable[[], float]
    wall: Callable[[], float]
    image_transport: httpx.BaseTransport | None
    hook_resolver: AsyncResolver | None


class SimulatorClosed(Exception):
    """The render executor is shut down; no new task can be accepted."""


class Simulator:
    """All simulator state; every method is safe to call from any thread."""

    def __init__(
        self, catalogue: Catalogue, settings: SimulatorSettings, workdir: Path, **stand_ins: Unpack[StandIns]
    ) -> None:
        self.catalogue = catalogue
        self.settings = settings
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.clock = stand_ins.get("clock", time.monotonic)
        self.wall = wall = stand_ins.get("wall", time.time)
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
            resolver=stand_ins.get("hook_resolver"),
        )
        self._image_transport = stand_ins.get("image_transport")
        self._image_policy = NetPolicy(allow_private=settings.allow_private_images)
        self._lock = threading.Lock()
        self._account = Account(settings)
        self._schedule = Schedule(settings.pending_seconds, settings.concurrency, self._settled)
        # Settled tasks with a notify_hook, waiting for the notifier to collect their documents.
        self._outbox: list[str] = []
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simulator-render")
        self._journal = TaskJournal(self.workdir / "tasks")
        # Tasks kept by an earlier run count against the balance and the daily limit as before.
        for task in self._journal.load(self.workdir, self.clock()):
            self._account.restore(task.model, task.created_wall, task.charge if task.status == SUCCEEDED else 0)
            self._schedule.tasks[task.id] = task

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
        with self._now() as now:
            if self._closed:
                raise SimulatorClosed
            wall = self.wall()
            self._account.bill(request.model, charge, wall)
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
            self._schedule.tasks[task.id] = task
            self._journal.save(task)
        return task.id, estimate

    def organization(self) -> dict[str, Any]:
        """The account as `GET /v1/organization` shows it: balance, tier limits, usage in the past day."""
        with self._now():
            return self._account.organization(self.catalogue, self.wall())

    def collect_notifications(self) -> list[tuple[str, dict[str, Any]]]:
        """Each settled task's (notify_hook, final document) not collected before; advances time first."""
        with self._now() as now:
            ready, self._outbox = self._outbox, []
            return [
                (task.notify_hook, self._describe(task, now, task.base_url))
                for task_id in ready
                if (task := self._schedule.tasks.get(task_id)) is not None and task.notify_hook is not None
            ]

    def awaits_notification(self) -> bool:
        """Whether a task with a notify_hook has not been collected yet (active, or settled and queued)."""
        with self._lock:
            return bool(self._outbox) or any(
                task.notify_hook is not None and task.status in ACTIVE for task in self._schedule.tasks.values()
            )

    def get(self, task_id: str, base_url: str) -> dict[str, Any] | None:
        """The task as the API shows it, or None if there is no such task."""
        with self._now() as now:
            task = self._schedule.tasks.get(task_id)
            return self._describe(task, now, base_url) if task is not None else None

    def cancel_or_delete(self, task_id: str) -> bool:
        """Cancel an unfinished task or forget a finished one; False if there is no such task."""
        with self._now() as now:
            task = self._schedule.tasks.get(task_id)
            if task is None:
                return False
            if task.status in ACTIVE:
                self._schedule.cancel(task, now)
            else:
                del self._schedule.tasks[task_id]
                task.discard_video()
                self._journal.forget(task_id)
            return True

    def output_file(self, task_id: str) -> Path | None:
        """The rendered video of a task that succeeded, if it is still there."""
        with self._now():
            task = self._schedule.tasks.get(task_id)
            path = task.video() if task is not None else None
        return path if path is not None and path.is_file() else None

    @contextmanager
    def _now(self) -> Iterator[float]:
        """Hold the lock with every task brought up to the clock's now, which it gives."""
        with self._lock:
            now = self.clock()
            self._schedule.advance(now)
            yield now

    def _settled(self, task: Task) -> None:
        """A task has ended: refund it unless it succeeded, keep it on disk, and queue its callback."""
        if task.status != SUCCEEDED:
            self._account.refund(task.charge)
        self._journal.save(task)
        if task.notify_hook is not None:
            self._outbox.append(task.id)

    def _describe(self, task: Task, now: float, base_url: str) -> dict[str, Any]:
        """The task as the API shows it: `GET /v1/tasks/{id}`, and the body of its callback."""
        data: dict[str, Any] = {"id": task.id, "status": task.status, "createdAt": utc_iso(task.created_wall)}
        if task.status in ACTIVE:
            data["estimatedCost"] = {"credits": tidy_credits(task.estimate)}
        else:
            data["cost"] = {"credits": task.charge if task.status == SUCCEEDED else 0}
        if task.status == RUNNING:
            data["progress"] = task.progress(now)
        elif task.status == SUCCEEDED:
            name = f"{task.id}.mp4"
            data["output"] = [f"{base_url}outputs/{name}?{self.signer.query(name)}"]
        elif task.status == FAILED and task.failure is not None:
            data["failure"] = task.failure.message
            data["failureCode"] = task.failure.code
        return data

    def _render(self, task_id: str, frames: list[Frame], ratio: str, duration: int) -> None:
        """Render worker: make the video unless the task ended meanwhile, and hand the result back."""
        with self._lock:
            task = self._schedule.tasks.get(task_id)
            if task is None or task.status not in ACTIVE:
                return
        path = self.workdir / f"{task_id}.mp4"
        failure = render_frames(
            frames,
            ratio,
            duration,
            path,
            max_side=self.settings.video_max_side,
            fps=self.settings.video_fps,
            policy=self._image_policy,
            transport=self._image_transport,
        )
        result = RenderResult(done_at=self.clock(), path=None if failure else path, failure=failure)
        with self._lock:
            task = self._schedule.tasks.get(task_id)
            if task is None or task.status not in ACTIVE:
                path.unlink(missing_ok=True)
                return
            task.render = result
