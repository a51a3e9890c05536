"""Signed, expiring output URLs, like the real API's CDN links: no key needed, only the URL."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

# Longer than any Unix time for millennia; longer values are refused before int() sees them.
EXPIRES_MAX_DIGITS = 15


class UrlSigner:
    """Makes and checks `?exp=…&sig=…` for output files; the key is new in each process."""

    def __init__(self, ttl_seconds: float, wall: Callable[[], float]) -> None:
        self.ttl_seconds = ttl_seconds
        self.wall = wall
        self._key = secrets.token_bytes(32)

    def sign(self, name: str, expires: int) -> str:
        """The signature that makes a URL for `name` valid until `expires` (unix seconds)."""
        return hmac.new(self._key, f"{name}:{expires}".encode(), hashlib.sha256).hexdigest()

    def query(self, name: str) -> str:
        """A fresh `exp=…&sig=…` query for `name`, valid for the configured time from now."""
        expires = int(self.wall() + self.ttl_seconds)
        return f"exp={expires}&sig={self.sign(name, expires)}"

    def refusal(self, name: str, expires: str, signature: str) -> str | None:
        """Why a request for `name` with these query values is denied, or None when it is allowed."""
        if not (expires.isascii() and expires.isdigit() and len(expires) <= EXPIRES_MAX_DIGITS):
            return "Access denied"
        expected = self.sign(name, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            return "Access denied"
        if int(expires) < self.wall():
            return "Request has expired"
        return None
