"""The shared resources a console process opens at start-up and closes at shutdown.

The upstream client (the built-in simulator in process, or the real API through the network guard),
the stores, the poller and the gate are built here once and reach handlers as lifespan state
(`Services`, `ApiServices`; see app/deps.py), never as globals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette

from app import __version__
from app.account import AccountCache
from app.api_tokens import RateLimiter, TokenRegistry
from app.api_uploads import ApiUploads
from app.auth_store import SqliteAuthStore
from app.backoff import Backoff
from app.catalogue import Catalogue
from app.clock import Clock
from app.config import Settings
from app.deps import ApiServices, Services
from app.files import remove_stale_parts
from app.gate import Gate
from app.media import VideoCache, VideoStore
from app.media_download import MediaPolicy, VideoDownloads
from app.netguard import AsyncResolver, NetPolicy, guarded_async_client
from app.passwords import AccountPasswords
from app.pixel_budget import PixelBudget, return_bitmaps_to_the_os
from app.poll_results import MAX_BACKOFF_SECONDS, GoneRule
from app.poller import TaskPoller
from app.ratelimit import UpstreamPace
from app.removal import TaskRemoval
from app.sessions import session_key
from app.sharing import Sharing
from app.signing import UrlSigner, load_or_create_secret
from app.simulator import create_simulator_app
from app.storage import FrameStore, SqliteTaskStore, database_path
from app.upstream import UpstreamClient
from app.versions import TaskVersions
from app.visitor_keys import UpstreamFor, VisitorKeys

# Logged under the factory's name, where these lines have always appeared.
log = logging.getLogger("app.main")

# The in-process simulator is reached through ASGITransport; this host never hits the network.
SIMULATOR_BASE_URL = "http://simulator.internal"

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[dict[str, object]]]


def media_policy(settings: Settings, base_url: str) -> MediaPolicy:
    """Where results may be downloaded from: public https, the upstream's origin, the operator's hosts
    (CONSOLE_MEDIA_HOSTS, and the upstreams visitors may choose from, CONSOLE_VISITOR_UPSTREAMS)."""
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    visitor_origins = [f"{p.scheme}://{p.netloc}" for p in map(urlsplit, settings.visitor_upstream_list)]
    trusted = [origin, *visitor_origins, *settings.media_host_list]
    return MediaPolicy(NetPolicy.build(trusted), origin, settings.max_video_bytes)


def lifespan_for(
    settings: Settings,
    catalogue: Catalogue,
    clock: Clock,
    resolver: AsyncResolver | None,
    passwords: AccountPasswords,
) -> Lifespan:
    """The lifespan of one console app: `clock` is its "now", `resolver` its DNS (None: the system's),
    `passwords` how account passwords are hashed."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        _clear_unfinished_files(settings.data_dir)
        return_bitmaps_to_the_os()
        http, base_url, simulator_app = _upstream_http(settings, catalogue, resolver)
        services, api_services = _open_services(settings, http, base_url, clock, resolver, passwords)
        services.poller.recover_interrupted()
        poll_task = asyncio.create_task(services.poller.run(), name="task-poller")
        try:
            yield {"services": services, "api": api_services}
        finally:
            poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll_task
            await http.aclose()
            services.store.close()
            services.gate.store.close()
            if simulator_app is not None:
                await simulator_app.state.simulator.notifier.aclose()
                # close() waits for a render in progress; keep the event loop free meanwhile.
                await asyncio.to_thread(simulator_app.state.simulator.close)

    return lifespan


def _clear_unfinished_files(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    for folder in (data_dir / "videos", data_dir / "frames"):
        # What a killed process was writing when it died; the poller fetches the video again.
        if removed := remove_stale_parts(folder):
            log.warning("removed %d unfinished file(s) from %s", removed, folder)


def _upstream_http(
    settings: Settings, catalogue: Catalogue, resolver: AsyncResolver | None
) -> tuple[httpx.AsyncClient, str, Starlette | None]:
    """The HTTP client that reaches the upstream, its base URL, and the in-process simulator if it is one."""
    if settings.uses_simulator:
        simulator_app = create_simulator_app(catalogue, settings.simulator, settings.data_dir / "simulator")
        http = httpx.AsyncClient(
            # A simulator bug should look like an upstream 500 to the client, not crash the request.
            transport=httpx.ASGITransport(app=simulator_app, raise_app_exceptions=False),
            base_url=SIMULATOR_BASE_URL,
        )
        return http, SIMULATOR_BASE_URL, simulator_app
    base_url = settings.base_url or ""
    # Every connection (API calls, downloads, each redirect) goes to a public address or to
    # a host the policy trusts: the upstream's own origin and CONSOLE_MEDIA_HOSTS.
    http = guarded_async_client(
        media_policy(settings, base_url).net,
        resolver=resolver,
        follow_redirects=True,
        headers={"User-Agent": f"runway-console/{__version__}"},
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )
    return http, base_url, None


def _open_services(
    settings: Settings,
    http: httpx.AsyncClient,
    base_url: str,
    clock: Clock,
    resolver: AsyncResolver | None,
    passwords: AccountPasswords,
) -> tuple[Services, ApiServices]:
    """Everything handlers share, built on one upstream connection (the caller closes the stores)."""
    data_dir = settings.data_dir
    versions = TaskVersions()
    store = SqliteTaskStore(
        database_path(data_dir), clock=clock, on_write=versions.record_write, busy_timeout=settings.db_busy_timeout
    )
    upstream = UpstreamClient(
        http,
        base_url,
        settings.upstream_key,
        api_version=settings.api_version,
        timeout=settings.upstream_timeout,
        retries=settings.upstream_retries,
        backoff=settings.upstream_backoff,
        pace=UpstreamPace(settings.upstream_rps),
    )
    # Visitor-keys mode: each visitor's key in memory only; the server's key never speaks for them.
    visitors = (
        VisitorKeys(upstream, account_ttl=settings.organization_cache_seconds, clock=clock)
        if settings.visitor_keys
        else None
    )
    upstream_for = UpstreamFor(upstream, visitors)
    videos = VideoStore(data_dir / "videos")
    downloads = VideoDownloads(
        videos,
        upstream,
        retry=Backoff(base=settings.poll_interval, cap=MAX_BACKOFF_SECONDS),
        policy=media_policy(settings, base_url),
    )
    cache = VideoCache(videos, store, max_bytes=settings.max_cache_bytes, clock=clock)
    cache.enforce()  # the cap may have been lowered since the last start
    poller = TaskPoller(
        store,
        upstream,
        downloads,
        cache=cache,
        interval=settings.poll_interval,
        gone_rule=GoneRule(settings.gone_after_404s, settings.gone_after_seconds),
        clock=clock,
        upstream_for=upstream_for,
    )
    frames = FrameStore(data_dir / "frames")
    secret = settings.secret.get_secret_value() if settings.secret else None
    console_secret = load_or_create_secret(data_dir, secret)
    gate = Gate(
        settings,
        SqliteAuthStore(database_path(data_dir), clock=clock, busy_timeout=settings.db_busy_timeout),
        session_key(console_secret),
        clock,
        passwords,
        visitors=visitors,
    )
    services = Services(
        store,
        frames,
        videos,
        upstream,
        poller,
        PixelBudget(settings.decode_budget_pixels),
        clock,
        gate=gate,
        versions=versions,
        resolver=resolver,
        cache=cache,
        sharing=Sharing(store, clock=clock),
        removal=TaskRemoval(store, frames, videos, upstream, poller),
        upstream_for=upstream_for,
        visitors=visitors,
    )
    api_services = ApiServices(
        TokenRegistry(store, settings.configured_api_tokens(), upstream_key=settings.upstream_key),
        RateLimiter(store, settings.api_rate_per_minute, clock=clock),
        UrlSigner(console_secret, clock=clock),
        AccountCache(upstream, settings.organization_cache_seconds, clock=clock),
        ApiUploads(store, clock=clock),
    )
    return services, api_services
