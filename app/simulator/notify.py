"""`notify_hook` callbacks: when a task settles, its final document is POSTed to the hook URL.

The relay documents `notify_hook` as a callback address; the simulator calls it once per task that
ends (SUCCEEDED, FAILED or CANCELLED) with the same JSON a `GET /v1/tasks/{id}` would answer then.
Each call has a bounded timeout and is retried a couple of times on a network error, a timeout,
429 or 5xx, with exponential backoff and jitter. Hooks go through netguard's guarded client: a hook
at a loopback or private address is refused before any packet leaves, unless
`SIMULATOR_ALLOW_PRIVATE_HOOKS` is set for local testing.

Time in the simulator only moves when something looks, so a background loop looks while any task
with a hook is still unsettled; it runs on the event loop of whichever app serves the simulator
(standalone, or in process inside the console) and stops by itself when nothing is waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from app import __version__
from app.backoff import Backoff
from app.netguard import AsyncResolver, NetPolicy, blocked_cause, guarded_async_client

log = logging.getLogger(__name__)

ATTEMPTS = 3
TIMEOUT_SECONDS = 5.0
BACKOFF_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 8.0
LOOK_INTERVAL_SECONDS = 0.1
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# The delivery log kept for inspection (tests, the root document); older entries drop off.
LOG_LENGTH = 200


@dataclass(frozen=True)
class Delivery:
    """How one callback ended: `status` is the hook's HTTP status, None when none was had."""

    task_id: str
    url: str
    attempts: int
    status: int | None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Notifier:
    """Collects settled tasks' documents from the simulator and delivers them to their hooks."""

    def __init__(
        self,
        collect: Callable[[], list[tuple[str, dict[str, Any]]]],
        waiting: Callable[[], bool],
        *,
        allow_private: bool = False,
        resolver: AsyncResolver | None = None,
        timeout: float = TIMEOUT_SECONDS,
        backoff: float = BACKOFF_SECONDS,
        interval: float = LOOK_INTERVAL_SECONDS,
    ) -> None:
        self._collect = collect
        self._waiting = waiting
        self.policy = NetPolicy(allow_private=allow_private)
        self._resolver = resolver
        self._timeout = timeout
        self._backoff = Backoff(base=backoff, cap=BACKOFF_CAP_SECONDS, jitter=0.5)
        self._interval = interval
        self._loop_task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self.log: list[Delivery] = []

    def wake(self) -> None:
        """Make sure the watching loop runs; call from a request handler (on the event loop)."""
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.get_running_loop().create_task(self._watch(), name="simulator-notify")

    async def aclose(self) -> None:
        """Stop watching and abandon deliveries in flight."""
        tasks = [task for task in (self._loop_task, *self._deliveries) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, RuntimeError):
                await task

    async def _watch(self) -> None:
        while True:
            try:
                ready = self._collect()
            except Exception:
                # A bug here must not leave later callbacks unsent; the next look tries again.
                log.exception("collecting settled tasks for notify_hook failed")
                ready = []
            for url, document in ready:
                delivery = asyncio.get_running_loop().create_task(self._deliver(url, document))
                self._deliveries.add(delivery)
                delivery.add_done_callback(self._deliveries.discard)
            if not self._waiting():
                return
            await asyncio.sleep(self._interval)

    async def _deliver(self, url: str, document: dict[str, Any]) -> None:
        task_id = str(document.get("id", ""))
        status: int | None = None
        error: str | None = None
        attempts = 0
        headers = {"User-Agent": f"runway-console-simulator/{__version__}"}
        async with guarded_async_client(
            self.policy, resolver=self._resolver, timeout=self._timeout, headers=headers
        ) as http:
            for attempt in range(ATTEMPTS):
                attempts = attempt + 1
                try:
                    response = await http.post(url, json=document)
                except httpx.HTTPError as exc:
                    blocked = blocked_cause(exc)
                    status, error = None, str(blocked) if blocked else f"{type(exc).__name__}: {exc}"
                    if blocked is not None:
                        break  # the policy will refuse it again
                else:
                    status, error = response.status_code, None
                    if status not in RETRYABLE_STATUS:
                        break
                if attempt < ATTEMPTS - 1:
                    await asyncio.sleep(self._backoff.delay(attempts))
        delivery = Delivery(task_id, url, attempts, status, error)
        if not delivery.delivered:
            log.warning(
                "notify_hook for task %s not delivered after %d attempt(s): %s",
                task_id,
                attempts,
                error or f"HTTP {status}",
            )
        self.log = [*self.log[-(LOG_LENGTH - 1) :], delivery]
