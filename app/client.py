"""The request as the client made it: its scheme, the host it addressed and its own address.

A reverse proxy tells us these in `X-Forwarded-Proto`, `-Host` and `-For`, but anyone can send those
headers, so they are believed only when the peer that connected to us is a trusted proxy
(CONSOLE_TRUSTED_PROXIES, loopback by default). This is the only place that reads them: uvicorn's own
proxy-header handling is switched off (app/cli/serve.py), and everything downstream (url_for, the origin
check, the login lockout, the Secure cookie flag) reads the rewritten scope.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# host, host:port, [v6], [v6]:port; nothing that could smuggle a path, userinfo or a second header.
HOST_PATTERN = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$")
FORWARDED_SCHEMES = {"http", "https"}


def parse_address(text: str) -> Address | None:
    """An IP address from an X-Forwarded-For entry or a peer: `1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4-mapped IPv6 peer (::ffff:10.0.0.1) is the IPv4 host it maps.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def _header_values(scope: Scope, name: bytes) -> list[str]:
    """Every comma-separated item of a header, across repeated header lines, in order."""
    items: list[str] = []
    for key, value in scope.get("headers", ()):
        if key == name:
            items.extend(part.strip() for part in value.decode("latin-1").split(","))
    return [item for item in items if item]


def forwarded_client(peer: Address, hops: Iterable[str], networks: Sequence[Network]) -> Address:
    """The client behind a chain of trusted proxies.

    Each proxy appends the address it was connected from, so the list is read from the right: the
    nearest entry that is not itself a trusted proxy is the client. An unreadable entry ends the walk
    (what lies left of it was written by someone we cannot vouch for).
    """
    client = peer
    for hop in reversed(list(hops)):
        if not is_trusted(client, networks):
            break
        address = parse_address(hop)
        if address is None:
            break
        client = address
    return client


def as_client_saw_it(scope: Scope, networks: Sequence[Network]) -> Scope:
    """The scope with `scheme`, `client` and the Host header as the client made the request."""
    peer_info = scope.get("client")
    peer = parse_address(str(peer_info[0])) if peer_info else None
    if not is_trusted(peer, networks):
        return scope
    assert peer is not None
    changes: dict[str, object] = {}
    hops = _header_values(scope, b"x-forwarded-for")
    if hops:
        client = forwarded_client(peer, hops, networks)
        if client != peer:
            changes["client"] = (str(client), 0)
    protos = _header_values(scope, b"x-forwarded-proto")
    if protos and protos[-1].lower() in FORWARDED_SCHEMES:
        scheme = protos[-1].lower()
        if scope["type"] == "websocket":
            scheme = "wss" if scheme == "https" else "ws"
        changes["scheme"] = scheme
    hosts = _header_values(scope, b"x-forwarded-host")
    if hosts and HOST_PATTERN.match(hosts[-1]):
        headers = [(k, v) for k, v in scope.get("headers", ()) if k != b"host"]
        headers.append((b"host", hosts[-1].encode("latin-1")))
        changes["headers"] = headers
    return dict(scope, **changes) if changes else scope


class ClientMiddleware:
    """Rewrite each request's scope to what the client sent, trusting forwarded headers only from proxies."""

    def __init__(self, app: ASGIApp, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = as_client_saw_it(scope, self.trusted)
        await self.app(scope, receive, send)


def client_address(scope: Scope) -> str:
    """The client's address once ClientMiddleware has run ('unknown' when the server gave none)."""
    peer_info = scope.get("client")
    return str(peer_info[0]) if peer_info else "unknown"


def own_origin(scope: Scope) -> str:
    """The console's origin as the client addressed it: scheme://host[:port]."""
    host = ""
    for key, value in scope.get("headers", ()):
        if key == b"host":
            host = value.decode("latin-1")
            break
    if not host and scope.get("server"):
        server_host, server_port = scope["server"]
        host = f"{server_host}:{server_port}" if server_port else str(server_host)
    scheme = str(scope["scheme"])
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return f"{scheme}://{normalise_host(scheme, host)}"


def normalise_host(scheme: str, host: str) -> str:
    """Lower-case, default port dropped: `Example.com:443` over https is `example.com`."""
    host = host.strip().lower()
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    return host
