"""Cross-site requests refused: an unsafe request that a browser says came from another origin gets 403.

The approach of Go's `CrossOriginProtection`: every current browser sends `Sec-Fetch-Site` or
`Origin` (usually both) on a cross-site POST/DELETE, so those two headers decide. A request with
neither did not come from a browser page (curl, scripts), carries no victim's cookies, and passes;
with a login configured it still needs a session of its own.

SameSite=Lax cookies are not enough on their own: `http://127.0.0.1:9000` is the *same site* as a
console on `http://127.0.0.1:8000`, so a page on any other loopback port could otherwise post to it.
The console's own origin is taken from the scope after ClientMiddleware, i.e. as the browser
addressed it through a trusted TLS-terminating proxy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.client import normalise_host, own_origin
from app.middleware import HttpMiddleware
from app.rendering import render, request_translator, wants_json

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def normalise_origin(origin: str) -> str | None:
    """scheme://host[:port] with the default port dropped, or None when it is not a web origin ("null")."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        return None
    return f"{parts.scheme}://{normalise_host(parts.scheme, parts.netloc)}"


def cross_origin_reason(scope: Scope) -> str | None:
    """Why this request must be refused as cross-origin, or None when it may go on."""
    if scope["method"] in SAFE_METHODS:
        return None
    fetch_site = _header(scope, b"sec-fetch-site")
    if fetch_site is not None and fetch_site.strip().lower() not in ALLOWED_FETCH_SITES:
        return f"Sec-Fetch-Site: {fetch_site.strip()[:40]}"
    origin = _header(scope, b"origin")
    if origin is not None and normalise_origin(origin) != own_origin(scope):
        _explain_proxy_mismatch(scope, origin)
        return "Origin does not match"
    return None


def _explain_proxy_mismatch(scope: Scope, origin: str) -> None:
    """A proxy in front that is not trusted looks exactly like a cross-site post: say which it is."""
    if _header(scope, b"x-forwarded-proto") is None and _header(scope, b"x-forwarded-host") is None:
        return
    peer = scope.get("client") or ("?", 0)
    log.warning(
        "refused a %s whose Origin is %s while the console sees itself as %s; if a proxy at %s terminates TLS "
        "in front of it, add that address to CONSOLE_TRUSTED_PROXIES",
        scope["method"],
        origin[:100],
        own_origin(scope),
        peer[0],
    )


def cross_origin_response(request: Request) -> Response:
    """403, saying why in the page's language (or as JSON for API-style callers)."""
    t = request_translator(request)
    if wants_json(request):
        return JSONResponse({"error": t("auth.cross_origin")}, status_code=403)
    return render(request, "error.html", {"status": 403, "message": t("auth.cross_origin")}, status_code=403)


class CrossOriginMiddleware(HttpMiddleware):
    """Refuse cross-origin unsafe requests before any route (and so before anything goes upstream).

    `exempt(scope)` names requests left to another check: API routes authenticated by a bearer token
    carry no ambient credential a foreign page could borrow.
    """

    def __init__(self, app: ASGIApp, exempt: Callable[[Scope], bool] = lambda scope: False) -> None:
        super().__init__(app)
        self.exempt = exempt

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.exempt(scope) and cross_origin_reason(scope) is not None:
            await cross_origin_response(Request(scope, receive))(scope, receive, send)
            return
        await self.app(scope, receive, send)
