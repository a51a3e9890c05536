"""Request body caps, enforced before the body is read: a stated length over the cap is refused at
once, and a body that grows past it while streaming (chunked, or lying about its length) is cut.

Each route class has its own cap (the task form carries two frames; a login form a few words), so
one generous limit for uploads does not let every other route spool megabytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Refusal = Callable[[Scope, Receive, Send, int], Awaitable[None]]


class BodyTooLarge(HTTPException):
    """A request body over its route's cap; `limit` is the cap in bytes."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class BodyLimits:
    """The cap for each class of request: named paths (POST /tasks…) and path prefixes (the API's
    upload URLs), then JSON bodies, then everything else."""

    default: int
    json: int
    by_path: Mapping[str, int]
    by_prefix: Mapping[str, int] = field(default_factory=dict)

    def for_scope(self, scope: Scope) -> int:
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        if path in self.by_path:
            return self.by_path[path]
        for prefix, limit in self.by_prefix.items():
            if path.startswith(prefix):
                return limit
        content_type = _header(scope, b"content-type") or b""
        if content_type.split(b";")[0].strip().lower() == b"application/json":
            return self.json
        return self.default


def capped_receive(receive: Receive, limit: int, too_large: Callable[[int], Exception] = BodyTooLarge) -> Receive:
    """`receive`, raising too_large(limit) once the body passes `limit` bytes (chunked bodies included)."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit)
        return message

    return counted


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


class BodyLimitMiddleware:
    """413 for a body over its cap: from Content-Length before reading, or as soon as it streams past.

    The early refusal is answered by `refuse` (a page in the visitor's language saying the limit);
    a body cut while streaming raises BodyTooLarge inside the app, whose error page says the same.
    """

    def __init__(self, app: ASGIApp, *, limits: BodyLimits, refuse: Refusal) -> None:
        self.app = app
        self.limits = limits
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.for_scope(scope)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await self.refuse(scope, receive, send, limit)
            return
        await self.app(scope, capped_receive(receive, limit), send)
