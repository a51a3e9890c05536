"""Outbound address policy: nothing an upstream or a visitor says may reach a loopback or private address.

Three layers, from cheapest to the one DNS cannot lie to:

* `url_host_problem` reads a URL's host the way browsers and libc do (``127.1``, ``0x7f000001``,
  ``[::ffff:127.0.0.1]``, ``localhost.``, full-width digits, percent-encoding…) and names what is wrong,
  as a message key under ``errors``.
* `resolve_public` resolves a name and refuses it when any answer is not a public address.
* `guarded_async_client` / `guarded_client` build httpx clients whose network backend resolves each
  host itself, vets every address and connects to the vetted address, on every connection, so each
  redirect hop and each DNS answer is checked at the moment it is used.

Hosts the operator trusts (its own upstream, a media host on the LAN) go in a `NetPolicy`.
"""

from app.netguard.addresses import (
    ADDRESS_REASONS,
    IPAddress,
    address_problem,
    is_public_address,
)
from app.netguard.hosts import (
    DEFAULT_PORTS,
    NetPolicy,
    host_problem,
    normalize_host,
    parse_allowed_host,
    parse_host,
    url_host_problem,
)
from app.netguard.resolve import (
    AsyncResolver,
    BlockedAddress,
    SyncResolver,
    blocked_cause,
    resolve_public,
    resolve_public_sync,
    system_resolve,
    system_resolve_sync,
    vet_addresses,
)
from app.netguard.transport import (
    DEFAULT_LIMITS,
    GuardedAsyncBackend,
    GuardedBackend,
    SocketOptions,
    guarded_async_client,
    guarded_client,
    install_backend,
)

__all__ = [
    "ADDRESS_REASONS",
    "AsyncResolver",
    "BlockedAddress",
    "DEFAULT_LIMITS",
    "DEFAULT_PORTS",
    "GuardedAsyncBackend",
    "GuardedBackend",
    "IPAddress",
    "NetPolicy",
    "SocketOptions",
    "SyncResolver",
    "address_problem",
    "blocked_cause",
    "guarded_async_client",
    "guarded_client",
    "host_problem",
    "install_backend",
    "is_public_address",
    "normalize_host",
    "parse_allowed_host",
    "parse_host",
    "resolve_public",
    "resolve_public_sync",
    "system_resolve",
    "system_resolve_sync",
    "url_host_problem",
    "vet_addresses",
]
