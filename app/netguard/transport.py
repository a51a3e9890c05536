"""httpx clients that vet the address they actually connect to, on every connection and redirect hop."""

from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import anyio
import httpcore
import httpx

from app.netguard.addresses import IPAddress
from app.netguard.hosts import NetPolicy
from app.netguard.resolve import (
    AsyncResolver,
    BlockedAddress,
    SyncResolver,
    resolve_public,
    resolve_public_sync,
    system_resolve,
    system_resolve_sync,
)

SocketOptions = Iterable[Any] | None

DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)

# --- enforcement at connect time -----------------------------------------------------------------


class _Attempts:
    """One connect: the vetted addresses of a host, tried in turn within the connect timeout.

    Both backends go through this, so the blocking one can never drift from the async one in
    what it connects to. An address that refuses or cannot be reached gives way to the next one
    (a host with IPv6 the network cannot route still connects over IPv4); a timeout ends it all,
    as the time is spent. The deadline starts before resolving: the timeout covers both.
    """

    def __init__(self, host: str, timeout: float | None) -> None:
        self.host = host
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.failure: httpcore.ConnectError | None = None

    @contextmanager
    def resolving(self) -> Iterator[None]:
        """Report a resolver that failed as httpx reports any connection that could not open."""
        try:
            yield
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {self.host}: {exc}") from exc

    def each(self, addresses: list[IPAddress]) -> Iterator[tuple[str, float | None]]:
        """Each address to try, with the seconds left for it."""
        for address in addresses:
            yield str(address), None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    @contextmanager
    def trying(self) -> Iterator[None]:
        """One address: a connect error is noted and the next address is tried."""
        try:
            yield
        except httpcore.ConnectError as exc:
            self.failure = exc

    def exhausted(self) -> NoReturn:
        assert self.failure is not None
        raise self.failure


class GuardedAsyncBackend(httpcore.AsyncNetworkBackend):
    """Resolves each host itself and connects only to vetted addresses (TLS still uses the name)."""

    def __init__(
        self,
        policy: NetPolicy,
        *,
        resolver: AsyncResolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver or system_resolve
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: SocketOptions = None,
    ) -> httpcore.AsyncNetworkStream:
        attempts = _Attempts(host, timeout)
        with attempts.resolving():
            try:
                with anyio.fail_after(timeout):
                    addresses = await resolve_public(host, port, policy=self.policy, resolver=self.resolver)
            except TimeoutError:  # an OSError too: turned into a timeout before `resolving` sees it
                raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        for address, left in attempts.each(addresses):
            with attempts.trying():
                return await self.inner.connect_tcp(address, port, left, local_address, socket_options)
        attempts.exhausted()

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: SocketOptions = None
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("reserved", path)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedBackend(httpcore.NetworkBackend):
    """Blocking twin of GuardedAsyncBackend, for httpx.Client."""

    def __init__(
        self,
        policy: NetPolicy,
        *,
        resolver: SyncResolver | None = None,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver or system_resolve_sync
        self.inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: SocketOptions = None,
    ) -> httpcore.NetworkStream:
        attempts = _Attempts(host, timeout)
        with attempts.resolving():
            addresses = resolve_public_sync(host, port, policy=self.policy, resolver=self.resolver)
        for address, left in attempts.each(addresses):
            with attempts.trying():
                return self.inner.connect_tcp(address, port, left, local_address, socket_options)
        attempts.exhausted()

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: SocketOptions = None
    ) -> httpcore.NetworkStream:
        raise BlockedAddress("reserved", path)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def install_backend(
    transport: httpx.AsyncHTTPTransport | httpx.HTTPTransport,
    backend: httpcore.AsyncNetworkBackend | httpcore.NetworkBackend,
) -> None:
    """Make `transport` open its connections through `backend`.

    httpx (0.28) builds its httpcore pool itself and takes no network backend; the pool reads its
    private `_network_backend` each time it opens a connection. This is the only private name the
    guard relies on, and it fails loudly (tests too) if a new httpx or httpcore moves it.
    """
    pool = getattr(transport, "_pool", None)
    expected = (
        httpcore.AsyncConnectionPool if isinstance(transport, httpx.AsyncHTTPTransport) else httpcore.ConnectionPool
    )
    if type(pool) is not expected or not hasattr(pool, "_network_backend"):
        raise RuntimeError("this httpx/httpcore version hides its connection pool; netguard cannot guard it")
    pool._network_backend = backend  # type: ignore[union-attr]


_UNGUARDED_OPTIONS = ("transport", "mounts", "proxy", "trust_env", "app")


def _refuse_bypasses(client_options: dict[str, Any]) -> None:
    given = [name for name in _UNGUARDED_OPTIONS if name in client_options]
    if given:
        raise TypeError(f"a guarded client chooses its own {', '.join(given)}")


@functools.cache
def default_tls() -> ssl.SSLContext:
    """The certificates httpx trusts by default, loaded once per process: reading the CA bundle is
    most of the cost of a new client, and one context serves any number of clients and threads."""
    return httpx.create_ssl_context()


def guarded_async_client(
    policy: NetPolicy,
    *,
    resolver: AsyncResolver | None = None,
    limits: httpx.Limits = DEFAULT_LIMITS,
    verify: ssl.SSLContext | str | bool | None = None,
    **client_options: Any,
) -> httpx.AsyncClient:
    """An httpx.AsyncClient that can reach only public addresses (or trusted hosts).

    Environment proxies are ignored (trust_env=False): a proxy would make the connection for us,
    to wherever the URL says. Other options (headers, follow_redirects, timeout…) pass through.
    """
    _refuse_bypasses(client_options)
    transport = httpx.AsyncHTTPTransport(verify=default_tls() if verify is None else verify, limits=limits)
    install_backend(transport, GuardedAsyncBackend(policy, resolver=resolver))
    return httpx.AsyncClient(transport=transport, trust_env=False, **client_options)


def guarded_client(
    policy: NetPolicy,
    *,
    resolver: SyncResolver | None = None,
    limits: httpx.Limits = DEFAULT_LIMITS,
    verify: ssl.SSLContext | str | bool | None = None,
    **client_options: Any,
) -> httpx.Client:
    """Blocking twin of `guarded_async_client`."""
    _refuse_bypasses(client_options)
    transport = httpx.HTTPTransport(verify=default_tls() if verify is None else verify, limits=limits)
    install_backend(transport, GuardedBackend(policy, resolver=resolver))
    return httpx.Client(transport=transport, trust_env=False, **client_options)
