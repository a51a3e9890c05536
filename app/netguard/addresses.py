"""Which IP addresses are public: everything else (loopback, private, link-local, metadata…) is refused."""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

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
