"""The outbound guard: address table, URL host tricks, resolution, and real refusals on loopback.

Only loopback is ever connected to; "public" answers come from an injected resolver and reach an
in-memory network backend, never the network.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpcore
import httpx
import pytest

from app.netguard import (
    ADDRESS_REASONS,
    BlockedAddress,
    GuardedAsyncBackend,
    GuardedBackend,
    NetPolicy,
    address_problem,
    blocked_cause,
    guarded_async_client,
    guarded_client,
    install_backend,
    is_public_address,
    parse_allowed_host,
    resolve_public,
    resolve_public_sync,
    url_host_problem,
)

# --- the address table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address, reason",
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared"),
        ("100.127.255.255", "shared"),
        ("169.254.169.254", "link_local"),
        ("0.0.0.0", "this_network"),
        ("0.1.2.3", "this_network"),
        ("192.0.0.8", "protocol"),
        ("192.0.2.10", "documentation"),
        ("198.51.100.1", "documentation"),
        ("203.0.113.7", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("198.19.255.1", "benchmarking"),
        ("192.88.99.1", "reserved"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "broadcast"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link_local"),
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
        ("::ffff:0:127.0.0.1", "reserved"),  # SIIT
        ("64:ff9b::127.0.0.1", "loopback"),  # NAT64 well-known prefix
        ("64:ff9b::10.0.0.1", "private"),
        ("64:ff9b:1::1", "private"),  # local-use NAT64
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", "private"),  # 6to4 of 192.168.1.1
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo, client 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "documentation"),  # Teredo, client 192.0.2.45
        ("2001:db8::1", "documentation"),
        ("3fff::1", "documentation"),
        ("100::1", "reserved"),
        ("fc00::1", "unique_local"),
        ("fd12:3456::1", "unique_local"),
        ("fe80::1", "link_local"),
        ("fe80::1%2", "link_local"),
        ("fec0::1", "site_local"),
        ("ff02::1", "multicast"),
        ("ff0e::1", "multicast"),
        ("4000::1", "reserved"),  # outside 2000::/3, not yet allocated
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
        ("2a00:1450:4001::1", None),
        ("::ffff:8.8.8.8", None),
        ("64:ff9b::8.8.8.8", None),
        ("2002:808:808::1", None),
    ],
)
def test_addresses_are_classified(address, reason):
    assert address_problem(address) == reason
    assert is_public_address(address) is (reason is None)
    assert reason is None or reason in ADDRESS_REASONS


# --- hosts of URLs a visitor types ---------------------------------------------------------------

URL_TRICKS = [
    # plain and shortened dotted forms, as inet_aton and browsers read them
    ("https://127.0.0.1/a.png", "url_ip_host"),
    ("https://127.1/a.png", "url_ip_host"),
    ("https://127.0.1/a.png", "url_ip_host"),
    ("https://2130706433/a.png", "url_ip_host"),
    ("https://0x7f000001/a.png", "url_ip_host"),
    ("https://0X7F.0.0.1/a.png", "url_ip_host"),
    ("https://0177.0.0.1/a.png", "url_ip_host"),
    ("https://017700000001/a.png", "url_ip_host"),
    ("https://0x7f.1/a.png", "url_ip_host"),
    ("https://0177.0x0.0.01/a.png", "url_ip_host"),
    ("https://127.0.0.1./a.png", "url_ip_host"),
    ("https://0/a.png", "url_ip_host"),
    ("https://0x/a.png", "url_ip_host"),
    ("https://169.254.169.254/latest/meta-data", "url_ip_host"),
    ("https://10.0.0.1:8443/a.png", "url_ip_host"),
    ("https://8.8.8.8/a.png", "url_ip_host"),  # public, but the upstream takes names only
    # IPv6 literals
    ("https://[::1]/a.png", "url_ip_host"),
    ("https://[::]/a.png", "url_ip_host"),
    ("https://[::ffff:127.0.0.1]/a.png", "url_ip_host"),
    ("https://[::ffff:7f00:1]/a.png", "url_ip_host"),
    ("https://[0:0:0:0:0:ffff:127.0.0.1]/a.png", "url_ip_host"),
    ("https://[fe80::1%25eth0]/a.png", "url_invalid"),
    ("https://[fd00::1]:8080/a.png", "url_ip_host"),
    ("https://[::1/a.png", "url_invalid"),
    # full-width digits and ideographic dots become an IPv4 address in browsers
    ("https://１２７．０．０．１/a.png", "url_ip_host"),
    ("https://127。0。0。1/a.png", "url_ip_host"),
    # percent-encoded hosts are decoded before use
    ("https://%31%32%37.0.0.1/a.png", "url_ip_host"),
    ("https://%6c%6f%63%61%6c%68%6f%73%74/a.png", "url_local_host"),
    ("https://%ff/a.png", "url_invalid"),
    ("https://exa%25mple.com/a.png", "url_invalid"),
    # loopback by name
    ("https://localhost/a.png", "url_local_host"),
    ("https://LOCALHOST:8000/a.png", "url_local_host"),
    ("https://localhost./a.png", "url_local_host"),
    ("https://api.localhost/a.png", "url_local_host"),
    ("https://localhost.localdomain/a.png", "url_local_host"),
    ("https://ｌｏｃａｌｈｏｓｔ/a.png", "url_local_host"),
    ("https://local\u00adhost/a.png", "url_local_host"),  # soft hyphen is dropped by IDNA
    ("https://ip6-localhost/a.png", "url_local_host"),
    # names that only the local network knows
    ("https://intranet/a.png", "url_private_host"),
    ("https://nas.local/a.png", "url_private_host"),
    ("https://db.internal/a.png", "url_private_host"),
    ("https://router.lan/a.png", "url_private_host"),
    ("https://printer.home.arpa/a.png", "url_private_host"),
    ("https://1.0.0.127.in-addr.arpa/a.png", "url_private_host"),
    # userinfo and parser disagreements
    ("https://good.example@127.0.0.1/a.png", "url_credentials"),
    ("https://user:pass@cdn.example.com/a.png", "url_credentials"),
    ("https://127.0.0.1\\@good.example/a.png", "url_invalid"),
    ("https://good.example\\.127.0.0.1/a.png", "url_invalid"),
    ("https:/\\127.0.0.1/a.png", "url_invalid"),
    ("https:127.0.0.1/a.png", "url_invalid"),
    ("https://127.0.0.1%2f@good.example/a.png", "url_credentials"),
    # whitespace and control characters, which browsers strip or refuse
    ("https://127.0.0.\t1/a.png", "url_invalid"),
    ("https://127.0.0.1\n/a.png", "url_invalid"),
    (" https://127.0.0.1/a.png", "url_invalid"),
    ("https://exam ple.com/a.png", "url_invalid"),
    ("https://example.com\u3000/a.png", "url_invalid"),
    # empty or malformed hosts and ports
    ("https:///a.png", "url_invalid"),
    ("https://:443/a.png", "url_invalid"),
    ("https://example..com/a.png", "url_invalid"),
    ("https://example.com:99999/a.png", "url_invalid"),
    ("https://example.com:80:80/a.png", "url_invalid"),
    ("https://example.com:8o/a.png", "url_invalid"),
    ("https://08.0.0.1/a.png", "url_invalid"),  # 08 is not octal: browsers refuse the URL
    ("https://1.2.3.4.5/a.png", "url_invalid"),
    ("https://256.0.0.1/a.png", "url_invalid"),
    ("https://1.2.3.256/a.png", "url_invalid"),
    ("https://1.2.65536/a.png", "url_invalid"),
    ("https://4294967296/a.png", "url_invalid"),
    ("https://a\u2100b.example/a.png", "url_invalid"),  # ℀ normalises to a/c: a path inside the host
    # acceptable names, including ones that merely look numeric
    ("https://cdn.example.com/a.png", None),
    ("https://CDN.Example.COM./a.png", None),
    ("https://cdn.example.com:8443/a.png?x=1#y", None),
    ("https://1.2.3.4.nip.io/a.png", None),  # a DNS name; resolution decides where it goes
    ("https://0x7f.example.com/a.png", None),
    ("https://example.com.0x/a.png", "url_invalid"),  # ends in a number, so browsers parse IPv4 and fail
    ("https://bücher.example/a.png", None),
    ("https://xn--bcher-kva.example/a.png", None),
]


@pytest.mark.parametrize("url, reason", URL_TRICKS)
def test_url_host_tricks_are_named(url, reason):
    assert url_host_problem(url) == reason


def test_the_trick_corpus_is_large_and_covers_every_reason():
    assert len(URL_TRICKS) >= 40
    reasons = {reason for _, reason in URL_TRICKS}
    assert reasons == {None, "url_ip_host", "url_local_host", "url_private_host", "url_invalid", "url_credentials"}


def test_hosts_the_operator_lists_are_accepted_on_their_port():
    policy = NetPolicy.build(["media.lan", "localhost:8000", "[::1]:9000", "https://127.0.0.1:8443/base"])
    assert url_host_problem("http://media.lan/a.png", policy) is None
    assert url_host_problem("https://media.lan:1234/a.png", policy) is None
    assert url_host_problem("https://localhost:8000/a.png", policy) is None
    assert url_host_problem("https://localhost/a.png", policy) == "url_local_host"
    assert url_host_problem("https://localhost:8001/a.png", policy) == "url_local_host"
    assert url_host_problem("https://[::1]:9000/a.png", policy) is None
    assert url_host_problem("https://[0:0::1]:9000/a.png", policy) is None
    assert url_host_problem("https://127.0.0.1:8443/a.png", policy) is None
    assert url_host_problem("https://127.1:8443/a.png", policy) is None
    assert url_host_problem("https://127.0.0.1/a.png", policy) == "url_ip_host"
    # Trust is for names as written; it does not excuse a malformed URL.
    assert url_host_problem("https://x@media.lan/a.png", policy) == "url_credentials"


@pytest.mark.parametrize(
    "entry, parsed",
    [
        ("media.lan", ("media.lan", None)),
        ("Media.LAN.", ("media.lan", None)),
        ("media.lan:8080", ("media.lan", 8080)),
        ("[::1]:9000", ("::1", 9000)),
        ("::1", ("::1", None)),
        ("[::1]", ("::1", None)),
        ("https://api.example.com/runwayml", ("api.example.com", 443)),
        ("http://127.0.0.1:8001", ("127.0.0.1", 8001)),
        ("bücher.example", ("xn--bcher-kva.example", None)),
    ],
)
def test_allow_list_entries_are_parsed(entry, parsed):
    assert parse_allowed_host(entry) == parsed


@pytest.mark.parametrize("entry", ["media.lan:http", "media.lan:0", "[::1]:70000", "https:///path"])
def test_bad_allow_list_entries_are_refused(entry):
    with pytest.raises(ValueError):
        parse_allowed_host(entry)


# --- resolution ----------------------------------------------------------------------------------


def fake_dns(answers: dict[str, list[str]]) -> Callable:
    """An async resolver answering from a table; unknown names fail like NXDOMAIN."""
    asked: list[tuple[str, int]] = []

    async def resolve(host: str, port: int) -> Sequence[str]:
        asked.append((host, port))
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


def fake_dns_sync(answers: dict[str, list[str]]) -> Callable:
    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    return resolve


DNS = {
    "loopback.example": ["127.0.0.1"],
    "mixed.example": ["93.184.216.34", "10.0.0.7"],
    "mixed6.example": ["2606:4700::1", "fd00::5"],
    "public.example": ["93.184.216.34", "2606:4700::1"],
    "metadata.example": ["169.254.169.254"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "garbage.example": ["not-an-address"],
}


def test_resolution_refuses_names_that_lead_to_loopback_or_private_addresses():
    resolver = fake_dns(DNS)

    async def check(host: str) -> BlockedAddress:
        with pytest.raises(BlockedAddress) as caught:
            await resolve_public(host, 443, resolver=resolver)
        return caught.value

    async def main() -> None:
        assert (await check("loopback.example")).reason == "loopback"
        mixed = await check("mixed.example")  # one private answer spoils the name
        assert (mixed.reason, mixed.host, mixed.address) == ("private", "mixed.example", "10.0.0.7")
        assert (await check("mixed6.example")).reason == "unique_local"
        assert (await check("metadata.example")).reason == "link_local"
        assert (await check("mapped.example")).reason == "loopback"
        assert (await check("garbage.example")).reason == "reserved"
        assert (await check("127.0.0.1")).address == "127.0.0.1"  # literals are not sent to DNS
        assert (await check("[::1]")).reason == "loopback"
        assert [str(a) for a in await resolve_public("public.example", 443, resolver=resolver)] == DNS["public.example"]
        assert ("127.0.0.1", 443) not in resolver.asked  # type: ignore[attr-defined]
        with pytest.raises(socket.gaierror):
            await resolve_public("nowhere.example", 443, resolver=resolver)

    asyncio.run(main())


def test_resolution_lets_trusted_hosts_resolve_anywhere():
    resolver = fake_dns(DNS)

    async def main() -> None:
        listed = NetPolicy.build(["loopback.example:8000"])
        assert await resolve_public("loopback.example", 8000, policy=listed, resolver=resolver)
        with pytest.raises(BlockedAddress):
            await resolve_public("loopback.example", 8001, policy=listed, resolver=resolver)
        with pytest.raises(BlockedAddress):
            await resolve_public("mixed.example", 8000, policy=listed, resolver=resolver)
        everything = NetPolicy(allow_private=True)
        assert await resolve_public("mixed.example", 443, policy=everything, resolver=resolver)

    asyncio.run(main())


def test_blocking_resolution_follows_the_same_rules():
    resolver = fake_dns_sync(DNS)
    with pytest.raises(BlockedAddress) as caught:
        resolve_public_sync("mixed.example", 443, resolver=resolver)
    assert caught.value.reason == "private"
    assert resolve_public_sync("public.example", 443, resolver=resolver)
    assert resolve_public_sync("mixed.example", 443, resolver=resolver, policy=NetPolicy(allow_private=True))


# --- the connect-time guard, against real servers on loopback ------------------------------------


class CountingServer:
    """An HTTP server on loopback that counts the connections it accepts."""

    def __init__(self, redirect_to: str | None = None) -> None:
        self.connections = 0
        self.redirect_to = redirect_to
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                if outer.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", outer.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b"hello from loopback"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def process_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
                outer.connections += 1
                super().process_request(request, client_address)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def servers() -> Iterator[Callable[..., CountingServer]]:
    started: list[CountingServer] = []

    def start(redirect_to: str | None = None) -> CountingServer:
        server = CountingServer(redirect_to)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


async def fetch(policy: NetPolicy, url: str, resolver: Callable | None = None) -> httpx.Response:
    async with guarded_async_client(policy, resolver=resolver, follow_redirects=True, timeout=5) as client:
        return await client.get(url)


def refusal(exc_info: pytest.ExceptionInfo[httpx.ConnectError]) -> BlockedAddress:
    cause = blocked_cause(exc_info.value)
    assert cause is not None, f"failed for another reason: {exc_info.value!r}"
    return cause


def test_the_guarded_client_refuses_loopback_before_connecting(servers):
    server = servers()
    with pytest.raises(httpx.ConnectError) as caught:
        asyncio.run(fetch(NetPolicy(), server.url))
    assert refusal(caught).reason == "loopback"
    assert server.connections == 0


def test_a_name_that_resolves_to_loopback_is_refused_before_connecting(servers):
    server = servers()
    with pytest.raises(httpx.ConnectError) as caught:
        asyncio.run(fetch(NetPolicy(), f"http://localhost:{server.port}/"))  # the system resolver
    assert refusal(caught).reason == "loopback"
    resolver = fake_dns({"images.example": ["93.184.216.34", "127.0.0.1"]})
    with pytest.raises(httpx.ConnectError) as caught:
        asyncio.run(fetch(NetPolicy(), f"http://images.example:{server.port}/", resolver))
    assert (refusal(caught).host, refusal(caught).address) == ("images.example", "127.0.0.1")
    assert server.connections == 0


def test_allow_private_and_listed_hosts_do_connect(servers):
    server = servers()
    assert asyncio.run(fetch(NetPolicy(allow_private=True), server.url)).text == "hello from loopback"
    assert asyncio.run(fetch(NetPolicy.build([f"127.0.0.1:{server.port}"]), server.url)).status_code == 200
    by_name = NetPolicy.build(["localhost"])
    assert asyncio.run(fetch(by_name, f"http://localhost:{server.port}/")).status_code == 200
    assert server.connections == 3


def test_each_redirect_hop_is_checked_again(servers):
    target = servers()
    entry = servers(redirect_to=target.url)
    policy = NetPolicy.build([f"127.0.0.1:{entry.port}"])
    with pytest.raises(httpx.ConnectError) as caught:
        asyncio.run(fetch(policy, entry.url))
    assert refusal(caught).reason == "loopback"
    assert (entry.connections, target.connections) == (1, 0)

    both = NetPolicy.build([f"127.0.0.1:{entry.port}", f"127.0.0.1:{target.port}"])
    assert asyncio.run(fetch(both, entry.url)).text == "hello from loopback"
    assert target.connections == 1


def test_environment_proxies_cannot_carry_the_request(servers, monkeypatch):
    proxy = servers()
    server = servers()
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert asyncio.run(fetch(NetPolicy.build([f"127.0.0.1:{server.port}"]), server.url)).status_code == 200
    with pytest.raises(httpx.ConnectError):
        asyncio.run(fetch(NetPolicy(), server.url))
    assert (server.connections, proxy.connections) == (1, 0)


def test_the_blocking_client_is_guarded_the_same_way(servers):
    target = servers()
    entry = servers(redirect_to=target.url)
    with guarded_client(NetPolicy(), follow_redirects=True, timeout=5) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            client.get(entry.url)
    assert refusal(caught).reason == "loopback"
    policy = NetPolicy.build([f"127.0.0.1:{entry.port}"])
    with guarded_client(policy, follow_redirects=True, timeout=5) as client:
        with pytest.raises(httpx.ConnectError) as caught:
            client.get(entry.url)
    assert (entry.connections, target.connections) == (1, 0)
    resolver = fake_dns_sync({"images.example": ["127.0.0.1"]})
    with guarded_client(NetPolicy.build(["images.example"]), resolver=resolver, timeout=5) as client:
        assert client.get(f"http://images.example:{target.port}/").text == "hello from loopback"
    assert target.connections == 1


def test_a_slow_resolver_is_a_connect_timeout():
    async def never(host: str, port: int) -> Sequence[str]:
        await asyncio.Event().wait()
        return []

    async def main() -> None:
        async with guarded_async_client(NetPolicy(), resolver=never, timeout=0.05) as client:
            await client.get("http://slow.example/")

    with pytest.raises(httpx.ConnectTimeout):
        asyncio.run(main())


def test_a_failed_lookup_is_a_plain_connect_error():
    with pytest.raises(httpx.ConnectError) as caught:
        asyncio.run(fetch(NetPolicy(), "http://nowhere.example/", fake_dns({})))
    assert blocked_cause(caught.value) is None


def test_clients_refuse_options_that_would_bypass_the_guard():
    for option in ({"proxy": "http://127.0.0.1:1"}, {"trust_env": True}, {"transport": httpx.MockTransport(print)}):
        with pytest.raises(TypeError):
            guarded_async_client(NetPolicy(), **option)
        with pytest.raises(TypeError):
            guarded_client(NetPolicy(), **option)


# --- what the guard hands to the real network backend --------------------------------------------


class RecordingStream(httpcore.AsyncMockStream):
    def __init__(self, buffer: list[bytes], log: list[tuple]) -> None:
        super().__init__(buffer)
        self.log = log

    async def start_tls(self, ssl_context, server_hostname=None, timeout=None):  # type: ignore[no-untyped-def]
        self.log.append(("tls", server_hostname))
        return self


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Stands in for the network: records where it was asked to connect, answers 200."""

    def __init__(self, refuse: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.log: list[tuple] = []
        self.refuse = refuse

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # type: ignore[no-untyped-def]
        self.log.append(("connect", host, port))
        if host in self.refuse:
            raise httpcore.ConnectError("connection refused")
        response = [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", b"ok"]
        return RecordingStream(response, self.log)


async def through(backend: GuardedAsyncBackend, url: str) -> httpx.Response:
    transport = httpx.AsyncHTTPTransport()
    install_backend(transport, backend)
    async with httpx.AsyncClient(transport=transport) as client:
        return await client.get(url)


def test_the_vetted_address_is_dialled_and_tls_still_checks_the_name():
    network = RecordingBackend()
    backend = GuardedAsyncBackend(NetPolicy(), resolver=fake_dns(DNS), inner=network)
    assert asyncio.run(through(backend, "https://public.example/a.png")).text == "ok"
    assert network.log == [("connect", "93.184.216.34", 443), ("tls", "public.example")]


def test_the_next_vetted_address_is_tried_when_one_is_unreachable():
    network = RecordingBackend(refuse={"93.184.216.34"})
    backend = GuardedAsyncBackend(NetPolicy(), resolver=fake_dns(DNS), inner=network)
    assert asyncio.run(through(backend, "http://public.example/")).status_code == 200
    assert network.log == [("connect", "93.184.216.34", 80), ("connect", "2606:4700::1", 80)]


def test_a_mixed_answer_dials_nothing():
    network = RecordingBackend()
    backend = GuardedAsyncBackend(NetPolicy(), resolver=fake_dns(DNS), inner=network)
    with pytest.raises(httpx.ConnectError) as caught:
        asyncio.run(through(backend, "https://mixed.example/"))
    assert refusal(caught).address == "10.0.0.7"
    assert network.log == []


def test_unix_sockets_are_refused():
    backend = GuardedAsyncBackend(NetPolicy(allow_private=True))
    with pytest.raises(BlockedAddress):
        asyncio.run(backend.connect_unix_socket("/run/docker.sock"))
    with pytest.raises(BlockedAddress):
        GuardedBackend(NetPolicy(allow_private=True)).connect_unix_socket("/run/docker.sock")


def test_install_backend_fails_loudly_when_httpx_hides_its_pool():
    # If this fails after an httpx/httpcore upgrade, netguard.install_backend needs a new way in.
    transport = httpx.AsyncHTTPTransport()
    install_backend(transport, GuardedAsyncBackend(NetPolicy()))
    sync = httpx.HTTPTransport()
    install_backend(sync, GuardedBackend(NetPolicy()))

    class Elsewhere(httpx.AsyncHTTPTransport):
        def __init__(self) -> None:
            super().__init__()
            del self._pool

    with pytest.raises(RuntimeError):
        install_backend(Elsewhere(), GuardedAsyncBackend(NetPolicy()))
    with pytest.raises(RuntimeError):
        install_backend(httpx.AsyncHTTPTransport(proxy="http://127.0.0.1:1"), GuardedAsyncBackend(NetPolicy()))
