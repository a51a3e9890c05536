"""The console's own pure-ASGI middleware: the HTTP-only base they share, security headers, root path.

Pure ASGI rather than `@app.middleware("http")`: that form cost ~18% of server CPU per request in
bench/ (Range requests, status fragments). The order they run in is set in app/main.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Images only from this server (stored frames) or the visitor's own browser (previews of a file
# being picked): a frame given by URL is shown as its URL, never loaded from the third party.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'self'; "
    "base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class HttpMiddleware(ABC):
    """A middleware that acts on HTTP requests only; lifespan and websocket events pass straight through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    @abstractmethod
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request, calling `self.app` to let it go on."""


def editing_headers(send: Send, edit: Callable[[MutableHeaders], None]) -> Send:
    """`send`, with `edit` applied to the response's headers as the response starts."""

    async def send_edited(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(raw=[*message.get("headers", ())])
            edit(headers)
            message = {**message, "headers": headers.raw}
        await send(message)

    return send_edited


def add_security_headers(headers: MutableHeaders) -> None:
    """Same-origin everything, unless the response chose its own."""
    for name, value in SECURITY_HEADERS.items():
        headers.setdefault(name, value)


class SecurityHeadersMiddleware(HttpMiddleware):
    """Same-origin everything: the page loads nothing from a third party."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, editing_headers(send, add_security_headers))


class RootPathMiddleware:
    """Serve under CONSOLE_ROOT_PATH whether or not the reverse proxy strips the prefix.

    ASGI wants `path` to include `root_path`; a proxy like `location /runway/ { proxy_pass http://app/; }`
    strips it, one with `proxy_pass http://app;` keeps it. Both end up as root_path=/runway,
    path=/runway/..., so routing, mounts and url_for agree.
    """

    def __init__(self, app: ASGIApp, root_path: str) -> None:
        self.app = app
        self.root_path = root_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = under_root_path(scope, self.root_path)
        await self.app(scope, receive, send)


def under_root_path(scope: Scope, root_path: str) -> Scope:
    """The scope as the app sees it behind the proxy: root_path set, path starting with it."""
    path: str = scope["path"]
    if path != root_path and not path.startswith(root_path + "/"):
        path = root_path + path
        scope = dict(scope, path=path, raw_path=path.encode())
    return dict(scope, root_path=root_path)
