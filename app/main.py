"""The application factory: settings and catalogue at build time, routes, error pages and middleware.

The shared resources (stores, upstream client, poller, gate) are opened in the lifespan
(app/lifespan.py), so building an app touches neither the network nor the data dir.
"""

from __future__ import annotations

import functools

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from app import __version__
from app.api_errors import ApiProblem, answer_problem
from app.api_uploads import MULTIPART_OVERHEAD_BYTES
from app.auth import AuthMiddleware, is_token_authenticated
from app.catalogue import load_catalogue
from app.client import ClientMiddleware
from app.clock import Clock, system_clock
from app.config import Settings, load_settings
from app.error_pages import install_error_pages, refuse_body
from app.lifespan import lifespan_for
from app.middleware import RootPathMiddleware, SecurityHeadersMiddleware
from app.netguard import AsyncResolver
from app.origin import CrossOriginMiddleware
from app.passwords import ACCOUNT_PASSWORDS, AccountPasswords
from app.rendering import build_templates
from app.request_limits import BodyLimitMiddleware, BodyLimits
from app.resources import asset_dir
from app.routers import api, auth, compare, gallery, pages, share, submissions, tasks, visitor


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock = system_clock,
    resolver: AsyncResolver | None = None,
    passwords: AccountPasswords = ACCOUNT_PASSWORDS,
) -> FastAPI:
    """Build the console. Raises ConfigError/CatalogueError with a one-line message when misconfigured.

    `clock` is what the store and the poller take as "now" (tests pass one they can move);
    `resolver` is the DNS every outbound check and connection uses (None: the system's);
    `passwords` hashes and checks account passwords (tests pass cheaper argon2 parameters).
    """
    settings = settings or load_settings()
    catalogue = load_catalogue(settings.catalogue_file)

    app = FastAPI(
        title="runway-console",
        version=__version__,
        lifespan=lifespan_for(settings, catalogue, clock, resolver, passwords),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.catalogue = catalogue
    app.state.templates = build_templates()
    app.mount("/static", StaticFiles(directory=asset_dir("static")), name="static")
    _include_routers(app)
    app.add_exception_handler(ApiProblem, answer_problem)
    install_error_pages(app)
    _add_middleware(app, settings)
    return app


def _include_routers(app: FastAPI) -> None:
    # The same inclusions serve every app this process builds. FastAPI works out the dependencies of
    # an included route once per inclusion (20 ms an app on this machine, and a fifth of the test
    # suite's CPU when each console a test opened did it again), and the routes hold nothing of one
    # app: settings, services and templates are read through the request. What an app's own
    # inclusion would add is app.dependency_overrides, which the console does not use.
    app.router.routes.extend(_console_router().routes)


@functools.cache
def _console_router() -> APIRouter:
    """Every route of the console, included once per process."""
    router = APIRouter()
    router.include_router(auth.router)
    router.include_router(visitor.router)
    router.include_router(pages.router)
    router.include_router(gallery.router)
    router.include_router(share.router)
    router.include_router(submissions.router)
    router.include_router(tasks.router)
    router.include_router(api.router)
    # A relay-style base URL (…/runwayml) works too, as it does on relays.
    router.include_router(api.router, prefix=api.RELAY_PREFIX)
    router.include_router(compare.router)
    return router


def _add_middleware(app: FastAPI, settings: Settings) -> None:
    """The stack every request passes through; the last added runs first."""
    app.add_middleware(BodyLimitMiddleware, limits=body_limits(app, settings), refuse=refuse_body)
    # Outermost last: root path, security headers, the client as it connected (trusted proxies
    # only), then the cross-origin check and the login guard, before any route runs.
    app.add_middleware(AuthMiddleware)
    # Bearer-token API routes carry no ambient credential; see app/auth.py.
    app.add_middleware(CrossOriginMiddleware, exempt=is_token_authenticated)
    app.add_middleware(ClientMiddleware, trusted=settings.trusted_networks)
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.root_path:
        app.add_middleware(RootPathMiddleware, root_path=settings.root_path)


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
