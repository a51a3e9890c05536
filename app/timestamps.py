"""The one timestamp format the console and the simulator write: ISO 8601 UTC with milliseconds and Z."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_iso(epoch_seconds: float | None = None) -> str:
    """`2026-11-28T12:19:41.123Z` for a Unix time (now when omitted), as the Runway API writes createdAt."""
    moment = datetime.fromtimestamp(time.time() if epoch_seconds is None else epoch_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
