"""The one retry-delay rule: exponential from a base, capped, optionally jittered, honouring Retry-After.

The upstream client (retries inside one call), the poller (a task whose polls fail) and the media
cache (a video whose download fails) each hold a Backoff with their own base and cap.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# 2**30 times any sensible base is far beyond every cap; the bound only keeps the float finite.
MAX_EXPONENT = 30


@dataclass(frozen=True)
class Backoff:
    base: float
    cap: float
    # Up to this fraction is added at random, so clients that failed together do not retry together.
    jitter: float = 0.0

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after `failures` consecutive failures (1 for the first).

        A Retry-After the server sent is obeyed when longer than our own guess, within the cap.
        """
        exponent = min(max(failures - 1, 0), MAX_EXPONENT)
        wait = min(self.base * 2**exponent, self.cap)
        if self.jitter:
            wait *= 1 + random.uniform(0, self.jitter)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap))
        return wait
