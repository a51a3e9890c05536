"""Guessing passwords made slow: a few free tries per client, then a doubling wait, then a lock.

Counted per client address (after app/client.py applied a trusted proxy's X-Forwarded-For) in the auth
store, so every replica over one database enforces the same wait. The login form and the visitor's key
form both check here before they check a password.
"""

from __future__ import annotations

import logging

from app.auth_store import AuthStore, FailureRecord
from app.backoff import Backoff

# Logged under the guard's name, where operators have always found login warnings.
log = logging.getLogger("app.auth")

FREE_FAILURES = 3
LOCK_AFTER_FAILURES = 10
LOCK_SECONDS = 15 * 60
# A client that stops guessing for this long starts again with its free tries.
FAILURES_FORGOTTEN_AFTER = 60 * 60
FAILURE_BACKOFF = Backoff(base=1.0, cap=LOCK_SECONDS)


def failure_wait(failures: int) -> float:
    """Seconds a client must wait after `failures` wrong passwords in a row."""
    if failures < FREE_FAILURES:
        return 0.0
    if failures >= LOCK_AFTER_FAILURES:
        return float(LOCK_SECONDS)
    return FAILURE_BACKOFF.delay(failures - FREE_FAILURES + 1)


def seconds_blocked(store: AuthStore, client: str, now: float) -> float:
    """Seconds this client must wait before trying a password again (0: it may try now)."""
    record = store.failures(client)
    if record is None:
        return 0.0
    return max(0.0, record.blocked_until - now)


def count_failure(store: AuthStore, client: str, now: float) -> float:
    """Count a wrong password; returns how long the client must now wait."""
    record = store.failures(client)
    failures = 1
    if record is not None and now - record.last_at < FAILURES_FORGOTTEN_AFTER:
        failures = record.failures + 1
    wait = failure_wait(failures)
    store.set_failures(client, FailureRecord(failures, now, now + wait))
    if failures >= LOCK_AFTER_FAILURES:
        log.warning("login locked for %s after %d wrong passwords", client, failures)
    return wait
