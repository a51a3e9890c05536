"""Name resolution that refuses a host when any of its answers is not a public address."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence

import anyio
import httpcore

from app.netguard.addresses import IPAddress, address_problem
from app.netguard.hosts import NetPolicy

AsyncResolver = Callable[[str, int], Awaitable[Sequence[str]]]
SyncResolver = Callable[[str, int], Sequence[str]]


class BlockedAddress(httpcore.ConnectError):
    """A connection refused by the policy before any packet left.

    It is an httpcore.ConnectError so that httpx reports it as httpx.ConnectError, which every
    caller already handles as a network failure; `blocked_cause` digs it back out for a message.
    """

    def __init__(self, reason: str, host: str, address: str | None = None) -> None:
        where = f"{host} ({address})" if address and address != host else host
        super().__init__(f"refused to connect to {where}: {reason.replace('_', ' ')} address")
        self.reason = reason
        self.host = host
        self.address = address


def blocked_cause(exc: BaseException | None) -> BlockedAddress | None:
    """The BlockedAddress behind an httpx error, if the policy is why it failed."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, BlockedAddress):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


# --- resolution ----------------------------------------------------------------------------------


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`, via the running event loop."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return _unique(str(info[4][0]) for info in infos)


def system_resolve_sync(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host`, blocking."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return _unique(str(info[4][0]) for info in infos)


def _unique(addresses: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(addresses))


def vet_addresses(host: str, port: int, answers: Iterable[str], policy: NetPolicy) -> list[IPAddress]:
    """The addresses to connect to, or BlockedAddress if any of them is not public.

    One private answer refuses the whole name: a resolver that mixes public and private answers is
    how rebinding attacks pick the address after the check.
    """
    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(answer))
        except ValueError:
            raise BlockedAddress("reserved", host, answer) from None
    if not addresses:
        raise httpcore.ConnectError(f"{host} has no address")
    if policy.trusts(host, port):
        return addresses
    for address in addresses:
        problem = address_problem(address)
        if problem is not None:
            raise BlockedAddress(problem, host, str(address))
    return addresses


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


async def resolve_public(
    host: str, port: int, *, policy: NetPolicy | None = None, resolver: AsyncResolver | None = None
) -> list[IPAddress]:
    """Resolve `host` and return its addresses; BlockedAddress if any is not public (unless trusted)."""
    literal = _literal(host)
    answers = [str(literal)] if literal is not None else await (resolver or system_resolve)(host, port)
    return vet_addresses(host, port, answers, policy or NetPolicy())


def resolve_public_sync(
    host: str, port: int, *, policy: NetPolicy | None = None, resolver: SyncResolver | None = None
) -> list[IPAddress]:
    """Blocking twin of `resolve_public`."""
    literal = _literal(host)
    answers = [str(literal)] if literal is not None else (resolver or system_resolve_sync)(host, port)
    return vet_addresses(host, port, answers, policy or NetPolicy())
