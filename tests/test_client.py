"""The request as the client made it (app/client.py): X-Forwarded-* believed only from trusted proxies."""

from __future__ import annotations

import ipaddress
import warnings

import pytest

from app.client import as_client_saw_it, forwarded_client, own_origin, parse_address
from app.config import ConfigError, load_settings
from app.main import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]
TEAM_PASSWORD = "correct horse battery"


def scope(peer: str, *headers: tuple[str, str], scheme: str = "http") -> dict:
    return {
        "type": "http",
        "scheme": scheme,
        "client": (peer, 4321),
        "headers": [(b"host", b"console.internal:8000")] + [(k.encode(), v.encode()) for k, v in headers],
    }


def test_headers_from_an_untrusted_peer_are_ignored():
    original = scope(
        "203.0.113.7",
        ("x-forwarded-for", "10.0.0.1"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
    )
    seen = as_client_saw_it(original, LOOPBACK)
    assert seen["client"][0] == "203.0.113.7" and seen["scheme"] == "http"
    assert own_origin(seen) == "http://console.internal:8000"


def test_a_trusted_proxy_speaks_for_the_client():
    seen = as_client_saw_it(
        scope(
            "127.0.0.1",
            ("x-forwarded-for", "198.51.100.4"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "console.example.com"),
        ),
        LOOPBACK,
    )
    assert seen["client"][0] == "198.51.100.4"
    assert own_origin(seen) == "https://console.example.com"


def test_only_the_entry_the_nearest_trusted_proxy_added_counts():
    # The client sent "X-Forwarded-For: 127.0.0.5" itself, hoping to look like a proxy; nginx appended
    # its real address. The walk stops at the first address that is not a trusted proxy.
    hops = ["127.0.0.5", "198.51.100.4"]
    assert str(forwarded_client(ipaddress.ip_address("127.0.0.1"), hops, LOOPBACK)) == "198.51.100.4"
    chain = [ipaddress.ip_network("10.0.0.0/8"), *LOOPBACK]
    hops = ["6.6.6.6", "198.51.100.4", "10.1.2.3"]  # CDN (10.1.2.3, trusted) → nginx (peer)
    assert str(forwarded_client(ipaddress.ip_address("127.0.0.1"), hops, chain)) == "198.51.100.4"
    assert str(forwarded_client(ipaddress.ip_address("127.0.0.1"), ["garbage"], LOOPBACK)) == "127.0.0.1"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1.2.3.4", "1.2.3.4"),
        ("1.2.3.4:80", "1.2.3.4"),
        ("[::1]:80", "::1"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("unknown", None),
        ("", None),
    ],
)
def test_addresses_are_read_in_every_usual_shape(text, expected):
    address = parse_address(text)
    assert (str(address) if address else None) == expected


@pytest.mark.parametrize("host", ["evil.example/path", "a@b", "x y", "host:port"])
def test_a_malformed_forwarded_host_is_ignored(host):
    seen = as_client_saw_it(scope("127.0.0.1", ("x-forwarded-host", host)), LOOPBACK)
    assert own_origin(seen) == "http://console.internal:8000"


def test_trusted_proxies_take_cidrs_and_refuse_nonsense():
    settings = load_settings(_env_file=None, CONSOLE_TRUSTED_PROXIES="10.0.0.0/8, 192.168.1.5 ,fd00::/8")
    assert [str(n) for n in settings.trusted_networks] == ["10.0.0.0/8", "192.168.1.5/32", "fd00::/8"]
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, CONSOLE_TRUSTED_PROXIES="10.0.0.0/8,*")
    assert "CONSOLE_TRUSTED_PROXIES" in str(caught.value)


def console_from(make_settings, peer: str, **overrides) -> TestClient:
    client = TestClient(create_app(make_settings(**overrides)), client=(peer, 5000), follow_redirects=False)
    client.__enter__()
    return client


def test_the_lockout_counts_the_forwarded_client_only_behind_a_trusted_proxy(make_settings):
    proxied = console_from(make_settings, "127.0.0.1", CONSOLE_PASSWORD=TEAM_PASSWORD)
    try:
        for _ in range(3):
            proxied.post("/login", data={"password": "x"}, headers={"X-Forwarded-For": "198.51.100.4"})
        blocked = proxied.post("/login", data={"password": TEAM_PASSWORD}, headers={"X-Forwarded-For": "198.51.100.4"})
        assert blocked.status_code == 429
        other = proxied.post("/login", data={"password": TEAM_PASSWORD}, headers={"X-Forwarded-For": "198.51.100.5"})
        assert other.status_code == 303  # another client behind the same proxy is not locked out
    finally:
        proxied.__exit__(None, None, None)
    direct = console_from(make_settings, "203.0.113.7", CONSOLE_PASSWORD=TEAM_PASSWORD)
    try:
        # A client on the internet cannot dodge the lockout by inventing X-Forwarded-For values.
        for n in range(3):
            direct.post("/login", data={"password": "x"}, headers={"X-Forwarded-For": f"192.0.2.{n}"})
        again = direct.post("/login", data={"password": TEAM_PASSWORD}, headers={"X-Forwarded-For": "192.0.2.99"})
        assert again.status_code == 429
    finally:
        direct.__exit__(None, None, None)


def test_the_session_cookie_is_secure_when_a_trusted_proxy_says_https(make_settings):
    for peer, secure in (("127.0.0.1", True), ("203.0.113.7", False)):
        console = console_from(make_settings, peer, CONSOLE_PASSWORD=TEAM_PASSWORD)
        try:
            answer = console.post(
                "/login",
                data={"password": TEAM_PASSWORD},
                headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "console.example.com"},
            )
            assert answer.status_code == 303
            assert ("; Secure" in answer.headers["set-cookie"]) is secure
        finally:
            console.__exit__(None, None, None)
