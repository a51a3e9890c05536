"""Who may call the Runway-compatible API: console-issued tokens, and how often each may call.

Tokens come from CONSOLE_API_TOKENS (name=token pairs) and from `runway-console token add`, which
stores only a SHA-256 of the token (tokens are 256 random bits, so a plain hash is enough: there is
nothing to brute-force). Every presented token is compared with every known one in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass

from app.clock import Clock, system_clock
from app.setting_checks import TOKEN_NAME_PATTERN
from app.storage import ApiStore

TOKEN_PREFIX = "rc_"
TOKEN_MAX_CHARS = 512


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def valid_token_name(name: str) -> bool:
    return bool(TOKEN_NAME_PATTERN.match(name))


class TokenRegistry:
    """Turns a presented bearer token into the name it was issued under, or None."""

    def __init__(self, store: ApiStore, configured: dict[str, str], *, upstream_key: str = "") -> None:
        self._store = store
        self._configured = {name: token_digest(token) for name, token in configured.items()}
        self._upstream_digest = token_digest(upstream_key) if upstream_key else None

    def identify(self, presented: str | None) -> str | None:
        if not presented or len(presented) > TOKEN_MAX_CHARS:
            return None
        digest = token_digest(presented).encode()
        # The upstream key is never a console token, whatever an operator typed into the list.
        if self._upstream_digest is not None and hmac.compare_digest(digest, self._upstream_digest.encode()):
            return None
        found: str | None = None
        known = list(self._configured.items()) + [(t.name, t.token_sha256) for t in self._store.tokens()]
        for name, candidate in known:
            # No early exit: the time taken does not say how far down the list a token matched.
            if hmac.compare_digest(digest, candidate.encode()) and found is None:
                found = name
        return found

    def names(self) -> list[tuple[str, str]]:
        """Every token name with where it comes from ("env" or "store")."""
        return [(name, "env") for name in self._configured] + [(t.name, "store") for t in self._store.tokens()]

    def add(self, name: str) -> str:
        """Issue a token under `name`; returns it (the only time it is ever seen). KeyError if taken."""
        if name in self._configured:
            raise KeyError(name)
        token = new_token()
        self._store.add_token(name, token_digest(token))
        return token

    def remove(self, name: str) -> bool:
        return self._store.remove_token(name)


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after: int = 0


class RateLimiter:
    """At most `per_minute` API requests per token in each clock minute; 0 means no limit.

    Counted in the store, so the limit holds across restarts and across consoles sharing a data dir.
    """

    def __init__(self, store: ApiStore, per_minute: int, *, clock: Clock = system_clock) -> None:
        self._store = store
        self.per_minute = per_minute
        self._clock = clock

    def check(self, name: str) -> RateDecision:
        if self.per_minute <= 0:
            return RateDecision(True)
        now = self._clock()
        minute = int(now // 60)
        if self._store.count_request(name, minute) <= self.per_minute:
            return RateDecision(True)
        return RateDecision(False, max(1, math.ceil((minute + 1) * 60 - now)))
