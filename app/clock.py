"""The one notion of "now" that stores and the poller are given, so tests can move time by hand."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]
"""Returns Unix time in seconds, like time.time."""

system_clock: Clock = time.time
