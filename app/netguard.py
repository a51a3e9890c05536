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

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import anyio
import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AsyncResolver = Callable[[str, int], Awaitable[Sequence[str]]]
SyncResolver = Callable[[str, int], Sequence[str]]
SocketOptions = Iterable[Any] | None

# Why an address is refused; `address_problem` returns one of these.
ADDRESS_REASONS = (
    "unspecified",
    "this_network",
    "loopback",
    "private",
    "shared",
    "link_local",
    "protocol",
    "documentation",
    "benchmarking",
    "multicast",
    "broadcast",
    "reserved",
    "unique_local",
    "site_local",
)

# Checked before Python's own `is_global`, which differs between Python versions; the names say why.
_V4_BLOCKS: tuple[tuple[ipaddress.IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "this_network"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared"),  # carrier-grade NAT
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link_local"),  # includes the cloud metadata service 169.254.169.254
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "protocol"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),  # retired 6to4 relay anycast
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    )
)
_V6_BLOCKS: tuple[tuple[ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "private"),  # local-use NAT64
        ("100::/64", "reserved"),  # discard-only
        ("2001::/23", "protocol"),  # Teredo, ORCHID, AMT and other IETF assignments
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "reserved"),  # SRv6 segment identifiers
        ("fc00::/7", "unique_local"),
        ("fe80::/10", "link_local"),
        ("fec0::/10", "site_local"),
        ("ff00::/8", "multicast"),
    )
)
# Only 2000::/3 is handed out as global unicast; everything else (::/8 with its IPv4-compatible and
# SIIT forms, for one) is reserved unless it is one of the embeddings handled explicitly.
_V6_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

# Names that never leave the machine or the local network, whatever DNS says (RFC 6761, 6762, 8375,
# ICANN's .internal); single-label names are added by the check itself since search domains expand them.
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_LOCAL_SUFFIXES = ("localhost",)
_PRIVATE_SUFFIXES = ("local", "localdomain", "internal", "intranet", "lan", "home", "corp", "private", "arpa")
# WHATWG's forbidden host code points, plus '%' which must not survive percent-decoding.
_FORBIDDEN_HOST_CHARS = frozenset("\x00\t\n\r #/:<>?@[\\]^|%\x7f")
DEFAULT_PORTS = {"http": 80, "https": 443}
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


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


# --- addresses -----------------------------------------------------------------------------------


def address_problem(address: str | IPAddress) -> str | None:
    """Why connecting to this address is refused (one of ADDRESS_REASONS), or None if it is public."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv4Address):
        return _v4_problem(ip)
    if ip.teredo is not None:
        server, client = ip.teredo
        return _v4_problem(client) or _v4_problem(server) or "protocol"
    embedded = _embedded_v4(ip)
    if embedded is not None:
        return _v4_problem(embedded)
    for network, reason in _V6_BLOCKS:
        if ip in network:
            return reason
    if ip not in _V6_GLOBAL_UNICAST or not ip.is_global:
        return "reserved"
    return None


def is_public_address(address: str | IPAddress) -> bool:
    """True when the address is reachable on the public internet and nothing else."""
    return address_problem(address) is None


def _v4_problem(ip: ipaddress.IPv4Address) -> str | None:
    for network, reason in _V4_BLOCKS:
        if ip in network:
            return reason
    if not ip.is_global:
        return "reserved"
    return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a mapped, NAT64 or 6to4 address leads to."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return None


# --- the policy ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetPolicy:
    """Which hosts may be reached at private addresses: listed `host` or `host:port`, or all of them.

    `allow_private=True` is for local testing only: every address is accepted.
    """

    allowed: frozenset[tuple[str, int | None]] = field(default_factory=frozenset)
    allow_private: bool = False

    @classmethod
    def build(cls, allowed_hosts: Iterable[str] = (), *, allow_private: bool = False) -> NetPolicy:
        """A policy from operator entries: ``media.lan``, ``media.lan:8080``, ``[::1]:9000`` or a whole URL."""
        return cls(frozenset(parse_allowed_host(entry) for entry in allowed_hosts if entry.strip()), allow_private)

    def trusts(self, host: str, port: int) -> bool:
        """True when `host:port` may resolve to any address (listed by the operator, or all allowed)."""
        if self.allow_private:
            return True
        name = normalize_host(host)
        return (name, None) in self.allowed or (name, port) in self.allowed


def normalize_host(host: str) -> str:
    """The form hosts are compared in: lower case, no brackets or trailing dot, IPs canonical."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name.endswith(".") and len(name) > 1:
        name = name[:-1]
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return name
    return name


def parse_allowed_host(entry: str) -> tuple[str, int | None]:
    """An allow-list entry as (host, port or None for every port)."""
    entry = entry.strip()
    if "://" in entry:
        parts = urlsplit(entry)
        if not parts.hostname:
            raise ValueError(f"no host in {entry!r}")
        default = DEFAULT_PORTS.get(parts.scheme.lower())
        return normalize_host(parts.hostname), parts.port or default
    if entry.startswith("["):
        inside, _, rest = entry[1:].partition("]")
        return normalize_host(inside), _port(rest.removeprefix(":"), entry) if rest else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return normalize_host(host), _port(port, entry)
    return normalize_host(entry), None


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port in {entry!r}")
    return int(text)


# --- URLs a visitor types ------------------------------------------------------------------------


def url_host_problem(url: str, policy: NetPolicy | None = None) -> str | None:
    """Why a URL's host must not be fetched, as a key under ``errors``, or None.

    ``url_invalid``: unparseable or ambiguous (parsers would disagree on the host);
    ``url_credentials``: user:password@ before the host; ``url_ip_host``: an IP address in any
    notation; ``url_local_host``: this machine by name; ``url_private_host``: a local-network name.
    The scheme is not judged here.
    """
    authority = _authority(url)
    if authority is None:
        return "url_invalid"
    if "@" in authority:
        return "url_credentials"
    raw_host, port = _split_host_port(authority)
    if raw_host is None:
        return "url_invalid"
    try:
        python_host = urlsplit(url).hostname
    except ValueError:
        return "url_invalid"
    # A host Python reads differently from ours would be vetted as one thing and fetched as another.
    if (python_host or "") != raw_host.lower().strip("[]"):
        return "url_invalid"
    if port is None:
        port = DEFAULT_PORTS.get(url.partition(":")[0].lower())
    return host_problem(raw_host, port, policy)


def host_problem(raw_host: str, port: int | None = None, policy: NetPolicy | None = None) -> str | None:
    """Why a URL host (as written, percent-encoding and brackets included) must not be fetched, or None."""
    parsed = parse_host(raw_host)
    if parsed is None:
        return "url_invalid"
    if policy is not None and policy.trusts(str(parsed), port if port is not None else DEFAULT_PORTS["https"]):
        return None
    if not isinstance(parsed, str):
        return "url_ip_host"
    if parsed in _LOCAL_NAMES or parsed.endswith(tuple("." + s for s in _LOCAL_SUFFIXES)):
        return "url_local_host"
    if "." not in parsed or parsed.rsplit(".", 1)[1] in _PRIVATE_SUFFIXES:
        return "url_private_host"
    return None


def parse_host(raw_host: str) -> str | IPAddress | None:
    """A URL host as a browser reads it: an IP address, a lower-case ASCII name, or None if invalid."""
    if not raw_host:
        return None
    if raw_host.startswith("["):
        if not raw_host.endswith("]") or "%" in raw_host:  # zone identifiers are not valid in URLs
            return None
        try:
            return ipaddress.IPv6Address(raw_host[1:-1])
        except ValueError:
            return None
    try:
        host = unquote_to_bytes(raw_host).decode("utf-8")
    except UnicodeDecodeError:
        return None
    host = unicodedata.normalize("NFKC", host).translate(_DOTS)
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    host = host.lower()
    if not host or any(c in _FORBIDDEN_HOST_CHARS or c < " " for c in host):
        return None
    if host.endswith(".") and len(host) > 1:
        host = host[:-1]
    labels = host.split(".")
    if any(not label for label in labels):
        return None
    if _ends_in_number(labels[-1]):
        return _whatwg_ipv4(labels)
    return host


def _authority(url: str) -> str | None:
    """The text between ``scheme://`` and the path, refusing what parsers disagree about."""
    if any(c.isspace() or unicodedata.category(c) == "Cc" for c in url):
        return None
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme or not scheme.isascii() or not scheme[0].isalpha():
        return None
    if not all(c.isalnum() or c in "+-." for c in scheme):
        return None
    end = len(rest)
    for stop in "/?#\\":
        index = rest.find(stop)
        if index != -1:
            end = min(end, index)
    if end < len(rest) and rest[end] == "\\":  # browsers read it as '/', Python as part of the host
        return None
    return rest[:end]


def _split_host_port(authority: str) -> tuple[str | None, int | None]:
    if authority.startswith("["):
        inside, bracket, rest = authority.partition("]")
        host = inside + bracket
    else:
        host, _, rest = authority.partition(":")
        rest = ":" + rest if ":" in authority else ""
    if not _bracket_ok(host):
        return None, None
    if not rest:
        return host, None
    if not rest.startswith(":"):
        return None, None
    digits = rest[1:]
    if not digits:
        return host, None
    if not digits.isascii() or not digits.isdigit() or int(digits) > 65535:
        return None, None
    return host, int(digits)


def _bracket_ok(host: str) -> bool:
    return host.startswith("[") == host.endswith("]") and host.count("[") == host.startswith("[")


def _ends_in_number(label: str) -> bool:
    if label.isdigit():
        return True
    return _ipv4_number(label) is not None


def _ipv4_number(part: str) -> int | None:
    """One part of a WHATWG IPv4 address: decimal, 0x-hex or 0-octal (as inet_aton reads them too)."""
    if not part.isascii():
        return None
    text, radix = part, 10
    if len(text) >= 2 and text[:2] in ("0x", "0X"):
        text, radix = text[2:], 16
    elif len(text) >= 2 and text[0] == "0":
        text, radix = text[1:], 8
    if not text:
        return 0
    try:
        return int(text, radix) if all(c.isalnum() for c in text) else None
    except ValueError:
        return None


def _whatwg_ipv4(labels: list[str]) -> ipaddress.IPv4Address | None:
    """``127.1``, ``2130706433``, ``0x7f.0.0.1``, ``0177.0.0.1``… as the address they denote, or None."""
    if len(labels) > 4:
        return None
    numbers = [_ipv4_number(label) for label in labels]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    if any(n > 255 for n in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        return None
    total = values[-1]
    for index, number in enumerate(values[:-1]):
        total += number * 256 ** (3 - index)
    return ipaddress.IPv4Address(total)


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
