"""httpx clients that vet the address they actually connect to, on every connection and redirect hop."""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore
import httpx

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
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            with anyio.fail_after(timeout):
                addresses = await resolve_public(host, port, policy=self.policy, resolver=self.resolver)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
        failure: Exception | None = None
        for address in addresses:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await self.inner.connect_tcp(str(address), port, left, local_address, socket_options)
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

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
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            addresses = resolve_public_sync(host, port, policy=self.policy, resolver=self.resolver)
        except OSError as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
        failure: Exception | None = None
        for address in addresses:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return self.inner.connect_tcp(str(address), port, left, local_address, socket_options)
            except httpcore.ConnectTimeout:
                raise
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

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


def guarded_async_transport(
    policy: NetPolicy,
    *,
    resolver: AsyncResolver | None = None,
    verify: ssl.SSLContext | str | bool = True,
    http2: bool = False,
    limits: httpx.Limits = DEFAULT_LIMITS,
    retries: int = 0,
) -> httpx.AsyncHTTPTransport:
    """An httpx.AsyncHTTPTransport (no proxy) that vets every address it connects to."""
    transport = httpx.AsyncHTTPTransport(verify=verify, http2=http2, limits=limits, retries=retries)
    install_backend(transport, GuardedAsyncBackend(policy, resolver=resolver))
    return transport


def guarded_transport(
    policy: NetPolicy,
    *,
    resolver: SyncResolver | None = None,
    verify: ssl.SSLContext | str | bool = True,
    http2: bool = False,
    limits: httpx.Limits = DEFAULT_LIMITS,
    retries: int = 0,
) -> httpx.HTTPTransport:
    """An httpx.HTTPTransport (no proxy) that vets every address it connects to."""
    transport = httpx.HTTPTransport(verify=verify, http2=http2, limits=limits, retries=retries)
    install_backend(transport, GuardedBackend(policy, resolver=resolver))
    return transport


_UNGUARDED_OPTIONS = ("transport", "mounts", "proxy", "trust_env", "app")


def _refuse_bypasses(client_options: dict[str, Any]) -> None:
    given = [name for name in _UNGUARDED_OPTIONS if name in client_options]
    if given:
        raise TypeError(f"a guarded client chooses its own {', '.join(given)}")


def guarded_async_client(
    policy: NetPolicy,
    *,
    resolver: AsyncResolver | None = None,
    limits: httpx.Limits = DEFAULT_LIMITS,
    verify: ssl.SSLContext | str | bool = True,
    **client_options: Any,
) -> httpx.AsyncClient:
    """An httpx.AsyncClient that can reach only public addresses (or trusted hosts).

    Environment proxies are ignored (trust_env=False): a proxy would make the connection for us,
    to wherever the URL says. Other options (headers, follow_redirects, timeout…) pass through.
    """
    _refuse_bypasses(client_options)
    transport = guarded_async_transport(policy, resolver=resolver, verify=verify, limits=limits)
    return httpx.AsyncClient(transport=transport, trust_env=False, **client_options)


def guarded_client(
    policy: NetPolicy,
    *,
    resolver: SyncResolver | None = None,
    limits: httpx.Limits = DEFAULT_LIMITS,
    verify: ssl.SSLContext | str | bool = True,
    **client_options: Any,
) -> httpx.Client:
    """Blocking twin of `guarded_async_client`."""
    _refuse_bypasses(client_options)
    transport = guarded_transport(policy, resolver=resolver, verify=verify, limits=limits)
    return httpx.Client(transport=transport, trust_env=False, **client_options)
