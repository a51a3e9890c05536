"""Signed, expiring URLs on the console itself: what lets a script fetch a video or post an upload
without a browser session or its API token. One HMAC key per data dir (or CONSOLE_SECRET)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from app.clock import Clock, system_clock
from app.files import write_atomically

SECRET_FILE = "console-secret.key"
SECRET_BYTES = 32
# Longer than any Unix time for millennia; longer values are refused before int() sees them.
EXPIRES_MAX_DIGITS = 15


def load_or_create_secret(data_dir: Path, configured: str | None = None) -> bytes:
    """The console's signing key: CONSOLE_SECRET when set, else one generated once into the data dir.

    Kept in the data dir so links handed out stay valid across restarts and between consoles
    sharing that dir.
    """
    if configured:
        return configured.encode("utf-8")
    path = data_dir / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text("ascii").strip())
    except (FileNotFoundError, ValueError):
        pass
    write_atomically(path, secrets.token_hex(SECRET_BYTES).encode("ascii"))
    os.chmod(path, 0o600)
    # Re-read: a second console racing on the same dir wins or loses as a whole file.
    return bytes.fromhex(path.read_text("ascii").strip())


class UrlSigner:
    """Makes and checks `exp`/`sig` query values binding a purpose and a name to an expiry."""

    def __init__(self, key: bytes, *, clock: Clock = system_clock) -> None:
        self._key = key
        self._clock = clock

    def _signature(self, purpose: str, name: str, expires: int) -> str:
        message = f"{purpose}\n{name}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(self, purpose: str, name: str, ttl_seconds: float) -> dict[str, str]:
        """Query values valid for `ttl_seconds` from now."""
        expires = int(self._clock() + ttl_seconds)
        return {"exp": str(expires), "sig": self._signature(purpose, name, expires)}

    def valid(self, purpose: str, name: str, expires: str | None, signature: str | None) -> bool:
        """Whether the values were made by `sign` for this purpose and name and have not expired."""
        if not expires or not signature:
            return False
        if not (expires.isascii() and expires.isdigit() and len(expires) <= EXPIRES_MAX_DIGITS):
            return False
        expected = self._signature(purpose, name, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            return False
        return int(expires) >= self._clock()
