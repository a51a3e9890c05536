"""How much decoded-image memory the console holds: a budget of pixels decoded at once across all
requests, and freed bitmaps handed back to the OS instead of kept in a worker thread's heap.
"""

from __future__ import annotations

import asyncio
import ctypes
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# glibc's mallopt parameter for the size above which allocations are mmapped (and unmapped on free).
M_MMAP_THRESHOLD = -3
BITMAP_MMAP_THRESHOLD = 1024 * 1024


def return_bitmaps_to_the_os(threshold: int = BITMAP_MMAP_THRESHOLD) -> bool:
    """Make large allocations (Pillow's bitmap blocks) go back to the OS when freed; True if it took.

    glibc raises its mmap threshold each time a large block is freed, so after the first big image
    later ones come from the heap of whichever worker thread decoded them and stay there: measured,
    six 8940×8940 uploads decoded one after another still held 1.2 GB. A fixed threshold keeps the
    process at about one image's worth. Elsewhere (musl, macOS) this is a harmless no-op.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))


class PixelBudget:
    """How many pixels may be decoded at once, across all requests: memory, not cores, is the limit.

    Each decode holds `decode_cost` pixels (at most the whole budget, so any image the ceiling lets
    through can run alone); waiters are served first come, first served, so a big image is not
    starved by a stream of small ones.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("the pixel budget must be positive")
        self.capacity = capacity
        self.in_use = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[int]:
        """Wait until `pixels` fit in the budget, keep them for the block; yields the weight held."""
        weight = max(1, min(pixels, self.capacity))
        if self._waiters or self.in_use + weight > self.capacity:
            granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (weight, granted)
            self._waiters.append(entry)
            try:
                await granted
            except BaseException:
                if granted.done() and not granted.cancelled():
                    self.in_use -= weight  # granted just as we were cancelled: give it back
                elif entry in self._waiters:
                    self._waiters.remove(entry)
                self._grant()
                raise
        else:
            self.in_use += weight
        try:
            yield weight
        finally:
            self.in_use -= weight
            self._grant()

    def _grant(self) -> None:
        while self._waiters and self.in_use + self._waiters[0][0] <= self.capacity:
            weight, granted = self._waiters.popleft()
            if granted.done():
                continue
            self.in_use += weight
            granted.set_result(None)
