"""Session and browser cookies: the signing key, signed tokens, and the cookie attributes.

A session cookie carries a random token and its HMAC under a key derived from the console's secret; the store keeps
only a hash of the token, so neither a copied database nor a guessed cookie opens a session, and
logging out or removing an account ends it on every replica at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

from starlette.requests import cookie_parser
from starlette.types import Scope

SESSION_COOKIE = "console_session"
BROWSER_COOKIE = "console_browser"
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
BROWSER_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600


def session_key(console_secret: bytes) -> bytes:
    """The cookie-signing key, derived from the console's one secret (app/signing.py: CONSOLE_SECRET or
    the data dir's key file) so that signed URLs and session cookies never share a key."""
    return hmac.new(console_secret, b"runway-console session cookies", hashlib.sha256).digest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def _mac(key: bytes, token: str) -> str:
    digest = hmac.new(key, b"session:" + token.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(key: bytes, token: str) -> str:
    return f"{token}.{_mac(key, token)}"


def unsign(key: bytes, value: str | None) -> str | None:
    """The token in a signed cookie value, or None when it is missing, malformed or forged."""
    if not value or "." not in value:
        return None
    token, _, mac = value.partition(".")
    if not TOKEN_PATTERN.match(token) or not hmac.compare_digest(mac, _mac(key, token)):
        return None
    return token


def token_id(token: str) -> str:
    """What the store keeps instead of a token: its SHA-256."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def valid_browser_token(value: str | None) -> bool:
    return bool(value) and TOKEN_PATTERN.match(value or "") is not None


def cookie_header(name: str, value: str, *, path: str, secure: bool, max_age: int | None = None) -> tuple[bytes, bytes]:
    """A Set-Cookie header: HttpOnly, SameSite=Lax, Secure over https, scoped to the console's path."""
    parts = [f"{name}={value}", f"Path={path or '/'}", "HttpOnly", "SameSite=Lax"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return b"set-cookie", "; ".join(parts).encode("latin-1")


def clear_cookie_header(name: str, *, path: str, secure: bool) -> tuple[bytes, bytes]:
    return cookie_header(name, "", path=path, secure=secure, max_age=0)


def is_https(scope: Scope) -> bool:
    """Whether the client used https (after app/client.py applied a trusted proxy's X-Forwarded-Proto)."""
    return scope.get("scheme") in ("https", "wss")


def cookie_path(scope: Scope) -> str:
    return str(scope.get("root_path") or "/")


def request_cookies(scope: Scope) -> dict[str, str]:
    """The cookies a request carries, read straight from the scope (the guard runs before any Request)."""
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            return cookie_parser(value.decode("latin-1"))
    return {}
