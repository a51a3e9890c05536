"""The pace of every request to the upstream API: one smoothed global rate, and one shared slow-down after a 429.

Runway's limits are per key (an organisation), not per task, so the console paces its calls as a
whole: requests leave at most `rate` a second, evenly spaced (no burst, so no one-second window
ever holds more than `rate` of them), in the order they asked. A 429 on any call pauses all of
them: for the Retry-After the upstream named or, without one, for the shared backoff rule
(app/backoff.py), growing while 429s keep coming and starting over after an answer that is not one.
Downloads from the upstream's CDN are not API calls and are not paced here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from app.backoff import Backoff

# Without a Retry-After: 1 s, then 2, 4... up to a minute while 429s keep coming.
THROTTLE_BACKOFF = Backoff(base=1.0, cap=60.0, jitter=0.25)


class PaceExceeded(Exception):
    """The caller would have to wait longer than it is willing to for its turn."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"the upstream asked us to slow down; next request possible in {wait:.0f} s")
        self.wait = wait


class UpstreamPace:
    """A global rate for upstream requests (spaced 1/rate apart) and a pause for everyone after a 429."""

    def __init__(
        self,
        rate: float | None,
        *,
        backoff: Backoff = THROTTLE_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.spacing = 1.0 / rate if rate else 0.0
        self.backoff = backoff
        self._clock = clock
        self._sleep = sleep
        self._next_slot = float("-inf")
        self._paused_until = float("-inf")
        self._strikes = 0

    @property
    def paused_for(self) -> float:
        """Seconds until the slow-down after the last 429 ends (0 when there is none)."""
        return max(0.0, self._paused_until - self._clock())

    async def wait_turn(self, max_wait: float | None = None) -> None:
        """Wait until a request may leave; raises PaceExceeded rather than sit out more than `max_wait`
        of a 429's pause. (The queue for our own rate always moves, so waiting in it is never refused.)

        A slot is reserved before sleeping, so waiters leave in order and each slot is used once;
        a 429 that arrives while one sleeps sends it back to wait for the end of the pause.
        """
        while True:
            now = self._clock()
            if max_wait is not None and self._paused_until - now > max_wait:
                raise PaceExceeded(self._paused_until - now)
            start = max(now, self._next_slot, self._paused_until)
            self._next_slot = start + self.spacing
            if start <= now:
                return
            await self._sleep(start - now)
            if self._paused_until <= self._clock():
                return

    def throttled(self, retry_after: float | None = None) -> None:
        """The upstream answered 429: every request waits, starting now."""
        self._strikes += 1
        pause = self.backoff.delay(self._strikes, retry_after)
        self._paused_until = max(self._paused_until, self._clock() + pause)

    def answered(self) -> None:
        """An answer that was not a 429: the next one starts the backoff over."""
        self._strikes = 0
