"""Fault injection: the simulator misbehaves the way real upstreams and CDNs do, at set rates.

`SIMULATOR_FAULTS="429=0.05,429ra=0.05,502=0.05,reset=0.02,timeout=0.02,badjson=0.02,truncjson=0.02,
slow=0.05,cdn403=0.05,cdntrunc=0.05"` gives each kind its probability per request it applies to;
`SIMULATOR_FAULT_SEED` makes the sequence reproducible: each route draws from its own sequence, so the
n-th create (or task read, or download) meets the same fault however the requests interleave. API faults
strike creates before the task exists (a refused create never leaves a task behind) and task reads after
the real answer is made; CDN faults strike output downloads.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Where each kind can strike: "create" (POST image_to_video), "get" (GET a task), "cdn" (an output file).
FAULT_ROUTES: dict[str, frozenset[str]] = {
    "429": frozenset({"create", "get"}),
    "429ra": frozenset({"create", "get"}),
    "502": frozenset({"create", "get"}),
    "503": frozenset({"create", "get"}),
    "reset": frozenset({"create", "get", "cdn"}),
    "timeout": frozenset({"get"}),
    "badjson": frozenset({"get"}),
    "truncjson": frozenset({"get"}),
    "slow": frozenset({"create", "get", "cdn"}),
    "cdn403": frozenset({"cdn"}),
    "cdntrunc": frozenset({"cdn"}),
}
ROUTES = frozenset().union(*FAULT_ROUTES.values())
GATEWAY_PAGE = "<html><head><title>{status} Bad Gateway</title></head><body><h1>{status}</h1>nginx</body></html>"


class ConnectionDropped(Exception):
    """Raised mid-response: a server closes the connection (a peer sees a reset or a short body)."""


def parse_faults(text: str) -> dict[str, float]:
    """`kind=rate,…` as a dict; raises ValueError naming what is wrong."""
    rates: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, sep, value = item.partition("=")
        kind = kind.strip()
        if not sep or kind not in FAULT_ROUTES:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_ROUTES)}")
        try:
            rate = float(value)
        except ValueError:
            raise ValueError(f"the rate of {kind} must be a number from 0 to 1") from None
        if not 0 <= rate <= 1:
            raise ValueError(f"the rate of {kind} must be a number from 0 to 1")
        rates[kind] = rate
    for route in ("create", "get", "cdn"):
        if sum(rate for kind, rate in rates.items() if route in FAULT_ROUTES[kind]) > 1:
            raise ValueError(f"the rates of the faults that strike {route} add up to more than 1")
    return rates


@dataclass
class FaultLog:
    """What was injected, by kind (for tests and the soak report)."""

    counts: dict[str, int]

    def add(self, kind: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1


class FaultInjector:
    """ASGI middleware in front of the simulator's app."""

    def __init__(
        self,
        app: ASGIApp,
        rates: dict[str, float],
        *,
        seed: int | None = None,
        timeout_seconds: float = 35.0,
        log: FaultLog | None = None,
    ) -> None:
        self.app = app
        self.rates = rates
        self.randoms = {route: random.Random(None if seed is None else f"{seed}/{route}") for route in ROUTES}
        self.lock = threading.Lock()
        self.timeout_seconds = timeout_seconds
        self.log = log if log is not None else FaultLog({})

    def _route(self, scope: Scope) -> str | None:
        path, method = scope.get("path", ""), scope.get("method", "")
        if "/outputs/" in path and method == "GET":
            return "cdn"
        if path.endswith("/v1/image_to_video") and method == "POST":
            return "create"
        if "/v1/tasks/" in path and method == "GET":
            return "get"
        return None

    def _draw(self, route: str) -> str | None:
        with self.lock:
            roll = self.randoms[route].random()
        for kind, rate in self.rates.items():
            if route not in FAULT_ROUTES[kind]:
                continue
            if roll < rate:
                self.log.add(kind)
                return kind
            roll -= rate
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope) if scope["type"] == "http" else None
        kind = self._draw(route) if route else None
        if route is None or kind is None:
            await self.app(scope, receive, send)
            return
        if kind == "slow":
            with self.lock:
                delay = self.randoms[route].uniform(0.2, 1.0)
            await asyncio.sleep(delay)
            await self.app(scope, receive, send)
        elif kind in ("429", "429ra", "502", "503", "cdn403"):
            await _answer(send, *_status_fault(kind))
        elif kind == "reset":
            raise ConnectionDropped("the connection was reset")
        elif kind == "timeout":
            await asyncio.sleep(self.timeout_seconds)
            await self.app(scope, receive, send)
        else:  # badjson, truncjson, cdntrunc: the real answer, spoiled on the way out
            await self.app(scope, receive, _spoiling(send, kind))


def _status_fault(kind: str) -> tuple[int, bytes, str, dict[str, str]]:
    if kind == "429":
        return 429, b'{"error": "Too many requests"}', "application/json", {}
    if kind == "429ra":
        return 429, b'{"error": "Too many requests"}', "application/json", {"retry-after": "1"}
    if kind == "cdn403":
        body = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
        return 403, body, "application/xml", {}
    status = int(kind)
    return status, GATEWAY_PAGE.format(status=status).encode(), "text/html", {}


async def _answer(send: Send, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
    raw_headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    raw_headers += [(name.encode(), value.encode()) for name, value in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def _spoiling(send: Send, kind: str) -> Send:
    """A send that corrupts a successful answer: broken JSON, JSON cut short, a file cut short."""
    state = {"status": 200, "done": False}

    async def spoiled(message: Message) -> None:
        if message["type"] == "http.response.start":
            state["status"] = message["status"]
            if kind in ("badjson", "truncjson") and message["status"] == 200:
                # The body changes length: drop the old Content-Length, the server frames it anew.
                headers = [(n, v) for n, v in message.get("headers", []) if n.lower() != b"content-length"]
                message = {**message, "headers": headers}
            await send(message)
            return
        if state["status"] != 200:
            await send(message)
            return
        if state["done"]:
            return  # the rest of a body already spoiled
        state["done"] = True
        body: bytes = message.get("body", b"")
        if kind == "badjson":
            await send({"type": "http.response.body", "body": b'<!-- cache --> {"status": ' + body[:20]})
        elif kind == "truncjson":
            await send({"type": "http.response.body", "body": body[: max(1, len(body) // 2)]})
        else:  # cdntrunc: half of the first piece of the file, then the connection goes
            await send({"type": "http.response.body", "body": body[: max(1, len(body) // 2)], "more_body": True})
            raise ConnectionDropped("the file was cut short")

    return spoiled
