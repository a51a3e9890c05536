"""The login guard: which routes are open, and what a request without a needed session gets.

Deny by default. `AuthMiddleware` runs before every route, including routes added later by other
modules, and refuses a request without a session whenever a login is configured (CONSOLE_PASSWORD or
named accounts). Only these are open:

- routes whose endpoint is marked with `@public` (the login page, /healthz, share links…);
- mounts named in PUBLIC_MOUNTS (static files);
- TOKEN_AUTHENTICATED_PREFIXES: the Runway-compatible API authenticates each call by its own bearer
  token, not by the session cookie, and is guarded there. Those routes must never accept the
  session cookie as a credential: the cross-origin check exempts them for that reason.

Who the caller is and what they may see is decided by the Gate (app/gate.py) as an Access
(app/access.py). tests/test_auth.py walks `app.routes` and fails for any route that is neither refused
without a session nor declared open here, so a new route cannot be forgotten.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from fastapi.routing import iter_route_contexts
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, compile_path
from starlette.types import Receive, Scope, Send

from app.gate import Gate
from app.middleware import HttpMiddleware, editing_headers
from app.rendering import is_htmx, wants_json
from app.sessions import BROWSER_COOKIE, BROWSER_COOKIE_MAX_AGE, cookie_header, cookie_path, is_https

PUBLIC_ATTRIBUTE = "console_public"
PUBLIC_MOUNTS = frozenset({"static"})
# Relative to CONSOLE_ROOT_PATH. Authenticated by bearer token in their own routes (see module doc).
TOKEN_AUTHENTICATED_PREFIXES = ("/v1/", "/runwayml/v1/")

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


# --- which routes are open ------------------------------------------------------------------------


def public(endpoint: Endpoint) -> Endpoint:
    """Mark a route's endpoint as open to everyone (no session needed). Use sparingly."""
    setattr(endpoint, PUBLIC_ATTRIBUTE, True)
    return endpoint


class RouteKind(StrEnum):
    GUARDED = "guarded"
    PUBLIC = "public"
    STATIC = "static"
    TOKEN = "token"


def relative_path(scope: Scope) -> str:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and (path == root_path or path.startswith(root_path + "/")):
        return path[len(root_path) :] or "/"
    return path


def is_token_authenticated(scope: Scope) -> bool:
    return relative_path(scope).startswith(TOKEN_AUTHENTICATED_PREFIXES)


@dataclass(frozen=True)
class _RouteEntry:
    pattern: re.Pattern[str]
    methods: frozenset[str] | None  # None: any method (a mount)
    kind: RouteKind


def route_table(app: Any) -> list[_RouteEntry]:
    """Every route the app serves, flattened through included routers, with how the guard treats it.

    Built once per app on first use (routes are all added in create_app, before the first request).
    """
    table: list[_RouteEntry] | None = getattr(app.state, "guard_routes", None)
    if table is not None:
        return table
    table = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path or ""
        if isinstance(route, Mount):
            pattern = re.compile("^" + re.escape(path.rstrip("/")) + "(/.*)?$")
            table.append(_RouteEntry(pattern, None, _kind_of_mount(route)))
            continue
        pattern, _, _ = compile_path(path)
        methods = getattr(context, "methods", None)
        endpoint = getattr(context, "endpoint", None)
        kind = RouteKind.PUBLIC if getattr(endpoint, PUBLIC_ATTRIBUTE, False) else RouteKind.GUARDED
        table.append(_RouteEntry(pattern, frozenset(methods) if methods else None, kind))
    app.state.guard_routes = table
    return table


def _kind_of_mount(route: Mount) -> RouteKind:
    if route.name in PUBLIC_MOUNTS:
        return RouteKind.STATIC
    return RouteKind.PUBLIC if getattr(route.app, PUBLIC_ATTRIBUTE, False) else RouteKind.GUARDED


def route_kind(app: Any, scope: Scope) -> RouteKind:
    """How the guard treats the route this request would reach (an unknown path is guarded)."""
    if is_token_authenticated(scope):
        return RouteKind.TOKEN
    path = relative_path(scope)
    method = scope.get("method", "GET")
    partial: RouteKind | None = None
    for entry in route_table(app):
        if not entry.pattern.match(path):
            continue
        if entry.methods is None or method in entry.methods or (method == "HEAD" and "GET" in entry.methods):
            return entry.kind
        partial = partial or entry.kind
    # A wrong method on an open route gets its 405 from the router, not a login page.
    return partial or RouteKind.GUARDED


# --- where to go back to --------------------------------------------------------------------------


def safe_next(value: str | None, root_path: str) -> str | None:
    """A `next` target only when it is a path on this console: no scheme, host, `//` or backslash."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return None
    if root_path and not (parts.path == root_path or parts.path.startswith(root_path + "/")):
        return None
    return value


def login_url(request: Request, next_path: str | None, entry: str = "show_login") -> str:
    url = request.url_for(entry).path
    return f"{url}?next={quote(next_path, safe='/')}" if next_path else url


def _current_path(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


def login_needed_response(request: Request, entry: str = "show_login") -> Response:
    """No session where one is needed: browsers go to the login page (or, for a visitor without a key,
    the key page: `entry`), HTMX and JSON get 401."""
    root_path = request.scope.get("root_path", "")
    if is_htmx(request):
        current = request.headers.get("hx-current-url", "")
        parts = urlsplit(current)
        back = safe_next(parts.path + (f"?{parts.query}" if parts.query else ""), root_path) if current else None
        return Response(status_code=401, headers={"HX-Redirect": login_url(request, back, entry)})
    if wants_json(request):
        if entry == "show_key":
            return JSONResponse({"error": "key required", "key": login_url(request, None, entry)}, status_code=401)
        return JSONResponse(
            {"error": "login required", "login": login_url(request, None)},
            status_code=401,
            headers={"WWW-Authenticate": 'Cookie realm="runway-console"'},
        )
    back = _current_path(request) if request.method in ("GET", "HEAD") else None
    return RedirectResponse(login_url(request, safe_next(back, root_path), entry), status_code=303)


class AuthMiddleware(HttpMiddleware):
    """The guard: every request gets its Access; those without a needed session stop here."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = route_kind(scope["app"], scope)
        if kind in (RouteKind.STATIC, RouteKind.TOKEN):
            await self.app(scope, receive, send)
            return
        gate: Gate = scope["state"]["services"].gate
        access, new_browser = gate.access_for(scope)
        scope["state"]["access"] = access
        if access.principal is None and kind == RouteKind.GUARDED:
            response = login_needed_response(Request(scope, receive))
            await response(scope, receive, send)
            return
        if access.key_required and kind == RouteKind.GUARDED:
            response = login_needed_response(Request(scope, receive), entry="show_key")
            await response(scope, receive, send)
            return
        if new_browser is None:
            await self.app(scope, receive, send)
            return
        header = cookie_header(
            BROWSER_COOKIE, new_browser, path=cookie_path(scope), secure=is_https(scope), max_age=BROWSER_COOKIE_MAX_AGE
        )
        await self.app(scope, receive, editing_headers(send, lambda headers: headers.raw.append(header)))
