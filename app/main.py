"""The application factory: settings and catalogue at build time, shared resources in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import __version__
from app.account import AccountCache
from app.api_errors import ApiProblem, answer_problem
from app.api_tokens import RateLimiter, TokenRegistry
from app.api_uploads import MULTIPART_OVERHEAD_BYTES, ApiUploads
from app.auth import AuthMiddleware, Gate, is_token_authenticated
from app.auth_store import SqliteAuthStore
from app.backoff import Backoff
from app.catalogue import Catalogue, load_catalogue
from app.client import ClientMiddleware
from app.clock import Clock, system_clock
from app.config import Settings, load_settings
from app.deps import ApiServices, Services, get_translator
from app.files import remove_stale_parts
from app.media import VideoCache, VideoStore
from app.media_download import MediaPolicy, VideoDownloads
from app.netguard import AsyncResolver, NetPolicy, guarded_async_client
from app.origin import CrossOriginMiddleware
from app.pixel_budget import PixelBudget, return_bitmaps_to_the_os
from app.poll_results import MAX_BACKOFF_SECONDS, GoneRule
from app.poller import TaskPoller
from app.ratelimit import UpstreamPace
from app.removal import TaskRemoval
from app.rendering import build_templates, is_htmx, render, wants_json
from app.request_limits import BodyLimitMiddleware, BodyLimits, BodyTooLarge
from app.resources import asset_dir
from app.routers import api, auth, compare, gallery, pages, share, submissions, tasks, visitor
from app.sessions import session_key
from app.sharing import Sharing
from app.signing import UrlSigner, load_or_create_secret
from app.simulator import create_simulator_app
from app.storage import FrameStore, SqliteTaskStore, database_path
from app.upstream import UpstreamClient
from app.versions import TaskVersions
from app.visitor_keys import UpstreamFor, VisitorKeys

log = logging.getLogger(__name__)

# The in-process simulator is reached through ASGITransport; this host never hits the network.
SIMULATOR_BASE_URL = "http://simulator.internal"
# Images only from this server (stored frames) or the visitor's own browser (previews of a file
# being picked): a frame given by URL is shown as its URL, never loaded from the third party.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'self'; "
    "base-uri 'self'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_app(
    settings: Settings | None = None, *, clock: Clock = system_clock, resolver: AsyncResolver | None = None
) -> FastAPI:
    """Build the console. Raises ConfigError/CatalogueError with a one-line message when misconfigured.

    `clock` is what the store and the poller take as "now" (tests pass one they can move);
    `resolver` is the DNS every outbound check and connection uses (None: the system's).
    """
    settings = settings or load_settings()
    catalogue = load_catalogue(settings.catalogue_file)

    app = FastAPI(
        title="runway-console",
        version=__version__,
        lifespan=_lifespan_for(settings, catalogue, clock, resolver),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.catalogue = catalogue
    app.state.templates = build_templates()
    app.mount("/static", StaticFiles(directory=asset_dir("static")), name="static")
    app.include_router(auth.router)
    app.include_router(visitor.router)
    app.include_router(pages.router)
    app.include_router(gallery.router)
    app.include_router(share.router)
    app.include_router(submissions.router)
    app.include_router(tasks.router)
    app.include_router(api.router)
    # A relay-style base URL (…/runwayml) works too, as it does on relays.
    app.include_router(api.router, prefix=api.RELAY_PREFIX)
    app.include_router(compare.router)
    _install_error_pages(app)
    app.add_middleware(BodyLimitMiddleware, limits=body_limits(app, settings), refuse=_refuse_body)
    # Outermost last: root path, security headers, the client as it connected (trusted proxies
    # only), then the cross-origin check and the login guard, before any route runs.
    app.add_middleware(AuthMiddleware)
    # Bearer-token API routes carry no ambient credential; see app/auth.py.
    app.add_middleware(CrossOriginMiddleware, exempt=is_token_authenticated)
    app.add_middleware(ClientMiddleware, trusted=settings.trusted_networks)
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.root_path:
        app.add_middleware(RootPathMiddleware, root_path=settings.root_path)
    return app


def body_limits(app: FastAPI, settings: Settings) -> BodyLimits:
    """Each route class's body cap: the task form two frames' worth, JSON and other forms their own."""
    return BodyLimits(
        default=settings.max_form_bytes,
        json=settings.max_json_bytes,
        by_path={app.url_path_for("create_task"): settings.max_task_form_bytes},
        # The API's upload URLs take one file of CONSOLE_API_UPLOAD_MAX_MB; its handler words the 413.
        by_prefix={
            f"{prefix}/v1/uploads/": settings.api_upload_max_bytes + MULTIPART_OVERHEAD_BYTES
            for prefix in ("", api.RELAY_PREFIX)
        },
    )


async def _refuse_body(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    """The 413 page for a body refused by its stated length, before any of it is read."""
    response = await show_http_error(Request(scope, receive), BodyTooLarge(limit))
    await response(scope, receive, send)


def media_policy(settings: Settings, base_url: str) -> MediaPolicy:
    """Where results may be downloaded from: public https, the upstream's origin, the operator's hosts
    (CONSOLE_MEDIA_HOSTS, and the upstreams visitors may choose from, CONSOLE_VISITOR_UPSTREAMS)."""
    parts = urlsplit(base_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    visitor_origins = [f"{p.scheme}://{p.netloc}" for p in map(urlsplit, settings.visitor_upstream_list)]
    trusted = [origin, *visitor_origins, *settings.media_host_list]
    return MediaPolicy(NetPolicy.build(trusted), origin, settings.max_video_bytes)


class RootPathMiddleware:
    """Serve under CONSOLE_ROOT_PATH whether or not the reverse proxy strips the prefix.

    ASGI wants `path` to include `root_path`; a proxy like `location /runway/ { proxy_pass http://app/; }`
    strips it, one with `proxy_pass http://app;` keeps it. Both end up as root_path=/runway,
    path=/runway/..., so routing, mounts and url_for agree.
    """

    def __init__(self, app: ASGIApp, root_path: str) -> None:
        self.app = app
        self.root_path = root_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = under_root_path(scope, self.root_path)
        await self.app(scope, receive, send)


def under_root_path(scope: Scope, root_path: str) -> Scope:
    """The scope as the app sees it behind the proxy: root_path set, path starting with it."""
    path: str = scope["path"]
    if path != root_path and not path.startswith(root_path + "/"):
        path = root_path + path
        scope = dict(scope, path=path, raw_path=path.encode())
    return dict(scope, root_path=root_path)


def _lifespan_for(
    settings: Settings, catalogue: Catalogue, clock: Clock, resolver: AsyncResolver | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[dict[str, object]]]:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        data_dir = settings.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        for folder in (data_dir / "videos", data_dir / "frames"):
            # What a killed process was writing when it died; the poller fetches the video again.
            if removed := remove_stale_parts(folder):
                log.warning("removed %d unfinished file(s) from %s", removed, folder)
        return_bitmaps_to_the_os()
        simulator_app = None
        if settings.uses_simulator:
            simulator_app = create_simulator_app(catalogue, settings.simulator, data_dir / "simulator")
            http = httpx.AsyncClient(
                # A simulator bug should look like an upstream 500 to the client, not crash the request.
                transport=httpx.ASGITransport(app=simulator_app, raise_app_exceptions=False),
                base_url=SIMULATOR_BASE_URL,
            )
            base_url = SIMULATOR_BASE_URL
        else:
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
        versions = TaskVersions()
        store = SqliteTaskStore(database_path(data_dir), clock=clock, on_write=versions.record_write)
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
            SqliteAuthStore(database_path(data_dir), clock=clock),
            session_key(console_secret),
            clock,
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
        poller.recover_interrupted()
        poll_task = asyncio.create_task(poller.run(), name="task-poller")
        try:
            yield {"services": services, "api": api_services}
        finally:
            poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll_task
            await http.aclose()
            store.close()
            gate.store.close()
            if simulator_app is not None:
                await simulator_app.state.simulator.notifier.aclose()
                # close() waits for a render in progress; keep the event loop free meanwhile.
                await asyncio.to_thread(simulator_app.state.simulator.close)

    return lifespan


async def show_http_error(request: Request, exc: Exception) -> Response:
    """Render an HTTP error as a page (or JSON for API clients)."""
    assert isinstance(exc, StarletteHTTPException)  # registered for that class only
    if wants_json(request):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)
    t = get_translator(request)
    key = f"http.{exc.status_code}"
    headers = dict(exc.headers) if exc.headers else {}
    if isinstance(exc, BodyTooLarge):
        message = t("errors.body_too_large", max_mb=_megabytes(exc.limit))
        if is_htmx(request):
            # A form posted by HTMX is replaced by the error page rather than left as it was, silent.
            headers.update({"HX-Retarget": "body", "HX-Reswap": "innerHTML"})
    else:
        message = t(key) if t.has(key) else str(exc.detail)
    return render(
        request,
        "error.html",
        {"status": exc.status_code, "message": message},
        status_code=exc.status_code,
        headers=headers or None,
    )


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:.2f}".rstrip("0").rstrip(".")


def _install_error_pages(app: FastAPI) -> None:
    async def show_validation_error(request: Request, exc: Exception) -> Response:
        """Bad path or query parameters: a 422 page, never a stack trace."""
        return await show_http_error(request, StarletteHTTPException(422, "invalid request"))

    async def show_unexpected_error(request: Request, exc: Exception) -> Response:
        """Last resort: log the bug, show a plain page without internals.

        Starlette calls this from outside every middleware, so the root path and the security
        headers those would add are applied here.
        """
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        root_path = request.app.state.settings.root_path
        if root_path:
            request = Request(under_root_path(request.scope, root_path), request.receive)
        response = await show_http_error(request, StarletteHTTPException(500, "internal error"))
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.add_exception_handler(ApiProblem, answer_problem)

    async def forget_disconnected(request: Request, exc: Exception) -> Response:
        """The client went away mid-request (an upload abandoned): nothing to answer, nothing broke."""
        log.info("client left during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    app.add_exception_handler(StarletteHTTPException, show_http_error)
    app.add_exception_handler(ClientDisconnect, forget_disconnected)
    app.add_exception_handler(RequestValidationError, show_validation_error)
    app.add_exception_handler(Exception, show_unexpected_error)


class SecurityHeadersMiddleware:
    """Same-origin everything: the page loads nothing from a third party.

    A plain ASGI middleware: the @app.middleware("http") form cost ~18% of server CPU per request
    in bench/ (Range requests, status fragments), for three headers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
