"""Hosts as people type them: the operator's allow-list (`NetPolicy`) and URLs from visitors, read the way
browsers and libc read them."""

from __future__ import annotations

import ipaddress
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes, urlsplit

from app.netguard.addresses import IPAddress

# Names that never leave the machine or the local network, whatever DNS says (RFC 6761, 6762, 8375,
# ICANN's .internal); single-label names are added by the check itself since search domains expand them.
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_LOCAL_SUFFIXES = ("localhost",)
_PRIVATE_SUFFIXES = ("local", "localdomain", "internal", "intranet", "lan", "home", "corp", "private", "arpa")
# WHATWG's forbidden host code points, plus '%' which must not survive percent-decoding.
_FORBIDDEN_HOST_CHARS = frozenset("\x00\t\n\r #/:<>?@[\\]^|%\x7f")
DEFAULT_PORTS = {"http": 80, "https": 443}

_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})

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
