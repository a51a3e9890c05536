"""Who may use the console and what they may see: the principal, the guard, logins, lockout, hourly caps.

Deny by default. `AuthMiddleware` runs before every route, including routes added later by other
modules, and refuses a request without a session whenever a login is configured (CONSOLE_PASSWORD or
named accounts). Only these are open:

- routes whose endpoint is marked with `@public` (the login page, /healthz, share links…);
- mounts named in PUBLIC_MOUNTS (static files);
- TOKEN_AUTHENTICATED_PREFIXES: the Runway-compatible API authenticates each call by its own bearer
  token, not by the session cookie, and is guarded there. Those routes must never accept the
  session cookie as a credential: the cross-origin check exempts them for that reason.

tests/test_auth.py walks `app.routes` and fails for any route that is neither refused without a
session nor declared open here, so a new route cannot be forgotten.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import anyio
from fastapi.routing import iter_route_contexts
from starlette.requests import Request, cookie_parser
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth_store import AuthStore, FailureRecord, StoredSession
from app.backoff import Backoff
from app.client import client_address
from app.clock import Clock
from app.config import Settings
from app.passwords import (
    hash_password,
    matching_team_password,
    needs_rehash,
    team_password_proof,
    verify_password,
)
from app.rendering import is_htmx, wants_json
from app.sessions import (
    BROWSER_COOKIE,
    BROWSER_COOKIE_MAX_AGE,
    SESSION_COOKIE,
    cookie_header,
    cookie_path,
    is_https,
    new_token,
    sign,
    token_id,
    unsign,
    valid_browser_token,
)
from app.tasks import VISITOR_OWNER_PREFIX, TaskRecord
from app.visitor_keys import VisitorKeys

log = logging.getLogger(__name__)

PUBLIC_ATTRIBUTE = "console_public"
PUBLIC_MOUNTS = frozenset({"static"})
# Relative to CONSOLE_ROOT_PATH. Authenticated by bearer token in their own routes (see module doc).
TOKEN_AUTHENTICATED_PREFIXES = ("/v1/", "/runwayml/v1/")

# Lockout: a few free tries, then a doubling wait between tries, then a lock.
FREE_FAILURES = 3
LOCK_AFTER_FAILURES = 10
LOCK_SECONDS = 15 * 60
FAILURES_FORGOTTEN_AFTER = 60 * 60
FAILURE_BACKOFF = Backoff(base=1.0, cap=LOCK_SECONDS)
TASK_WINDOW_SECONDS = 60 * 60

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def public(endpoint: Endpoint) -> Endpoint:
    """Mark a route's endpoint as open to everyone (no session needed). Use sparingly."""
    setattr(endpoint, PUBLIC_ATTRIBUTE, True)
    return endpoint


class PrincipalKind(StrEnum):
    ANONYMOUS = "anonymous"  # no login configured: whoever reaches the console, told apart by browser
    TEAM = "team"  # logged in with a shared CONSOLE_PASSWORD
    ACCOUNT = "account"  # logged in as a named account
    VISITOR = "visitor"  # a visitor with their own key (identified by their session)


@dataclass(frozen=True)
class Principal:
    """Who is making the request."""

    kind: PrincipalKind
    # Whose tasks they are: "account:<name>", "visitor:<session id>" or "browser:<id>" (team logins
    # and no login at all are told apart per browser). Stored on each task they create. None: the
    # team's, for a cookie-less script while history is shared.
    owner: str | None
    # What the hourly cap counts: the owner, or the client address for a cookie-less script.
    quota_key: str
    account: str | None = None
    # The stored session's id: a visitor's key is kept in server memory under it.
    session_id: str | None = None

    @property
    def logged_in(self) -> bool:
        return self.session_id is not None


@dataclass(frozen=True)
class Access:
    """What the guard decided for one request; routes read it through deps.AccessDep."""

    principal: Principal | None  # None: a login is required and there is no valid session
    login_required: bool
    private: bool  # CONSOLE_HISTORY, resolved
    # CONSOLE_VISITOR_KEYS: every guarded route needs a visitor session (entered on /key).
    visitor_mode: bool = False
    # Whether this process holds the visitor's key (not after a restart, until they enter it again).
    key_held: bool = False

    @property
    def is_visitor(self) -> bool:
        return self.principal is not None and self.principal.kind == PrincipalKind.VISITOR

    @property
    def key_required(self) -> bool:
        """Visitor-keys mode and no visitor session yet: the guarded routes send them to /key."""
        return self.visitor_mode and not self.is_visitor

    @property
    def key_missing(self) -> bool:
        """A visitor whose key this process does not hold: nothing can be sent for them until they enter it."""
        return self.visitor_mode and self.is_visitor and not self.key_held

    @property
    def viewer(self) -> str | None:
        """The owner filter for listings: None sees everything (shared history)."""
        if not self.private:
            return None
        return self.principal.owner if self.principal else "nobody"

    @property
    def logged_in(self) -> bool:
        return self.principal is not None and self.principal.logged_in

    def can_see(self, task: TaskRecord) -> bool:
        """Shared history: every task. Private: one's own, and those from before owners existed."""
        return self.can_see_owner(task.owner)

    def can_see_owner(self, owner: str | None) -> bool:
        """can_see for a task known only by its owner (the status poll answers from memory)."""
        viewer = self.viewer
        return viewer is None or owner is None or owner == viewer


@dataclass(frozen=True)
class LoginResult:
    principal_kind: PrincipalKind | None
    account: str | None = None
    proof: str | None = None


def _owner_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Gate:
    """The console's one authority on sessions, logins, lockouts and hourly caps (state in the store)."""

    def __init__(
        self, settings: Settings, store: AuthStore, key: bytes, clock: Clock, visitors: VisitorKeys | None = None
    ) -> None:
        self.settings = settings
        self.store = store
        self.key = key
        self.clock = clock
        # Set in visitor-keys mode: a visitor's key lives there, under their session's id.
        self.visitors = visitors
        self.team_proofs = {team_password_proof(key, p) for p in settings.team_passwords}

    # --- each request ---------------------------------------------------------------------------

    def login_required(self) -> bool:
        # Read each time: `runway-console user add` on a running console takes effect at once.
        return bool(self.settings.team_passwords) or self.store.has_accounts()

    def history_private(self, accounts_exist: bool) -> bool:
        if self.settings.visitor_keys:
            return True  # config.py refuses CONSOLE_HISTORY=shared in this mode
        if self.settings.history is not None:
            return self.settings.history == "private"
        return accounts_exist

    def access_for(self, scope: Scope) -> tuple[Access, str | None]:
        """The request's Access, and a new browser token to set when the browser had none."""
        cookies = _cookies(scope)
        accounts_exist = self.store.has_accounts()
        login_required = bool(self.settings.team_passwords) or accounts_exist
        private = self.history_private(accounts_exist)
        browser = cookies.get(BROWSER_COOKIE)
        new_browser = None
        if not valid_browser_token(browser):
            browser = new_token()
            # Only handed out when it decides something: whose tasks (private) or whose hourly count.
            if private or self.settings.tasks_per_hour is not None:
                new_browser = browser
        browser_id = f"browser:{_owner_hash(str(browser))}"
        # A script without cookies gets a new browser id each time: its cap counts by address, and
        # while history is shared its tasks stay the team's rather than a throwaway id's.
        had_browser_id = new_browser is None and valid_browser_token(cookies.get(BROWSER_COOKIE))
        quota_key = browser_id if had_browser_id else f"address:{client_address(scope)}"
        browser_owner = browser_id if private or had_browser_id else None
        principal: Principal | None = None
        session = self._session(cookies.get(SESSION_COOKIE)) if login_required or self.visitors is not None else None
        if self.visitors is not None and session is not None and session.kind == PrincipalKind.VISITOR:
            # With a login configured, a visitor session also carries the login it was opened under.
            if not login_required or session.account or session.proof:
                owner = visitor_owner(session.id)
                principal = Principal(
                    PrincipalKind.VISITOR, owner=owner, quota_key=owner, account=session.account, session_id=session.id
                )
                held = self.visitors.get(session.id) is not None
                return Access(principal, login_required, private, visitor_mode=True, key_held=held), new_browser
        if not login_required:
            principal = Principal(PrincipalKind.ANONYMOUS, owner=browser_owner, quota_key=quota_key)
        else:
            if session is not None and session.kind == PrincipalKind.ACCOUNT and session.account:
                owner = f"account:{session.account.lower()}"
                principal = Principal(
                    PrincipalKind.ACCOUNT, owner=owner, quota_key=owner, account=session.account, session_id=session.id
                )
            elif session is not None and session.kind == PrincipalKind.TEAM:
                principal = Principal(
                    PrincipalKind.TEAM, owner=browser_owner, quota_key=quota_key, session_id=session.id
                )
        return Access(principal, login_required, private, visitor_mode=self.visitors is not None), new_browser

    def _session(self, cookie: str | None) -> StoredSession | None:
        token = unsign(self.key, cookie)
        if token is None:
            return None
        session = self.store.session(token_id(token), self.clock())
        if session is None:
            return None
        if session.kind == PrincipalKind.TEAM and session.proof not in self.team_proofs:
            return None  # opened with a team password that is no longer configured
        if session.kind == PrincipalKind.VISITOR and session.proof and session.proof not in self.team_proofs:
            return None
        return session

    # --- logging in -----------------------------------------------------------------------------

    def blocked_for(self, client: str) -> float:
        """Seconds this client must wait before trying a password again (0: it may try now)."""
        record = self.store.failures(client)
        if record is None:
            return 0.0
        return max(0.0, record.blocked_until - self.clock())

    def record_failure(self, client: str) -> float:
        """Count a wrong password; returns how long the client must now wait."""
        now = self.clock()
        record = self.store.failures(client)
        failures = 1
        if record is not None and now - record.last_at < FAILURES_FORGOTTEN_AFTER:
            failures = record.failures + 1
        wait = failure_wait(failures)
        self.store.set_failures(client, FailureRecord(failures, now, now + wait))
        # Guesses from many addresses must not grow the table for ever.
        self.store.prune(now, FAILURES_FORGOTTEN_AFTER, TASK_WINDOW_SECONDS)
        if failures >= LOCK_AFTER_FAILURES:
            log.warning("login locked for %s after %d wrong passwords", client, failures)
        return wait

    async def check_password(self, username: str, password: str) -> LoginResult:
        """Which login a name and password open (the kind is None when they open none)."""
        if username:
            found = self.store.password_hash(username)
            stored_hash = found[1] if found else None
            ok = await anyio.to_thread.run_sync(verify_password, stored_hash, password)
            if not ok or found is None:
                return LoginResult(None)
            name = found[0]
            if needs_rehash(found[1]):
                self.store.update_hash(name, await anyio.to_thread.run_sync(hash_password, password))
            return LoginResult(PrincipalKind.ACCOUNT, account=name)
        matched = matching_team_password(self.settings.team_passwords, password)
        if matched is None:
            return LoginResult(None)
        return LoginResult(PrincipalKind.TEAM, proof=team_password_proof(self.key, matched))

    def open_session(self, client: str, result: LoginResult) -> str:
        """Record a session for a successful login; returns the signed cookie value."""
        assert result.principal_kind is not None
        now = self.clock()
        self.store.clear_failures(client)
        self.store.prune(now, FAILURES_FORGOTTEN_AFTER, TASK_WINDOW_SECONDS)
        token = new_token()
        self.store.add_session(
            StoredSession(
                id=token_id(token),
                kind=result.principal_kind.value,
                account=result.account,
                proof=result.proof,
                created_at=now,
                expires_at=now + self.session_seconds,
            )
        )
        return sign(self.key, token)

    def open_visitor_session(self, client: str, login: Principal | None) -> tuple[str, StoredSession]:
        """A visitor session (for a visitor who has just entered a good key); returns (signed cookie, session).

        It replaces the login session it was opened from (team password or account), keeping what that
        login was, so that changing the password or removing the account ends it as well.
        """
        now = self.clock()
        self.store.clear_failures(client)
        self.store.prune(now, FAILURES_FORGOTTEN_AFTER, TASK_WINDOW_SECONDS)
        account, proof, expires_at = None, None, now + self.settings.visitor_session_hours * 3600
        if login is not None and login.session_id is not None:
            previous = self.store.session(login.session_id, now)
            if previous is not None:
                account, proof = previous.account, previous.proof
                expires_at = min(expires_at, previous.expires_at)
                self.store.remove_session(previous.id)
        token = new_token()
        session = StoredSession(
            id=token_id(token),
            kind=PrincipalKind.VISITOR.value,
            account=account,
            proof=proof,
            created_at=now,
            expires_at=expires_at,
        )
        self.store.add_session(session)
        return sign(self.key, token), session

    def session_by_id(self, session_id: str) -> StoredSession | None:
        return self.store.session(session_id, self.clock())

    def close_session(self, cookie: str | None) -> None:
        """End the session in the store and, for a visitor, drop their key from memory."""
        token = unsign(self.key, cookie)
        if token is not None:
            self.store.remove_session(token_id(token))
            if self.visitors is not None:
                self.visitors.forget(token_id(token))

    @property
    def session_seconds(self) -> int:
        return int(self.settings.session_hours * 3600)

    # --- the hourly cap -------------------------------------------------------------------------

    def reserve_task(self, principal: Principal) -> tuple[float | None, float]:
        """Count a task start against CONSOLE_TASKS_PER_HOUR.

        Returns (seconds to wait when over the cap else None, the reservation's time for release).
        """
        now = self.clock()
        limit = self.settings.tasks_per_hour
        if limit is None:
            return None, now
        return self.store.reserve_task_start(principal.quota_key, now, limit, TASK_WINDOW_SECONDS), now

    def release_task(self, principal: Principal, at: float) -> None:
        if self.settings.tasks_per_hour is not None:
            self.store.release_task_start(principal.quota_key, at)


def visitor_owner(session_id: str) -> str:
    """The owner of a visitor's tasks: their session, hashed (the store's session id is never shown)."""
    return f"{VISITOR_OWNER_PREFIX}{_owner_hash(session_id)}"


def failure_wait(failures: int) -> float:
    """Seconds a client must wait after `failures` wrong passwords in a row."""
    if failures < FREE_FAILURES:
        return 0.0
    if failures >= LOCK_AFTER_FAILURES:
        return float(LOCK_SECONDS)
    return FAILURE_BACKOFF.delay(failures - FREE_FAILURES + 1)


def _cookies(scope: Scope) -> dict[str, str]:
    for key, value in scope.get("headers", ()):
        if key == b"cookie":
            return cookie_parser(value.decode("latin-1"))
    return {}


# --- which routes are open ------------------------------------------------------------------------


class RouteKind(StrEnum):
    GUARDED = "guarded"
    PUBLIC = "public"
    STATIC = "static"
    TOKEN = "token"


def relative_path(scope: Scope) -> str:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if root_path and (path == root_path or path.startswith(root_path + "/")):
        return path[len(root_path) :] or "/"
    return path


def is_token_authenticated(scope: Scope) -> bool:
    return relative_path(scope).startswith(TOKEN_AUTHENTICATED_PREFIXES)


@dataclass(frozen=True)
class _RouteEntry:
    pattern: re.Pattern[str]
    methods: frozenset[str] | None  # None: any method (a mount)
    kind: RouteKind


def route_table(app: Any) -> list[_RouteEntry]:
    """Every route the app serves, flattened through included routers, with how the guard treats it.

    Built once per app on first use (routes are all added in create_app, before the first request).
    """
    table: list[_RouteEntry] | None = getattr(app.state, "guard_routes", None)
    if table is not None:
        return table
    table = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path or ""
        if isinstance(route, Mount):
            pattern = re.compile("^" + re.escape(path.rstrip("/")) + "(/.*)?$")
            table.append(_RouteEntry(pattern, None, _kind_of_mount(route)))
            continue
        pattern, _, _ = compile_path(path)
        methods = getattr(context, "methods", None)
        endpoint = getattr(context, "endpoint", None)
        kind = RouteKind.PUBLIC if getattr(endpoint, PUBLIC_ATTRIBUTE, False) else RouteKind.GUARDED
        table.append(_RouteEntry(pattern, frozenset(methods) if methods else None, kind))
    app.state.guard_routes = table
    return table


def _kind_of_mount(route: Mount) -> RouteKind:
    if route.name in PUBLIC_MOUNTS:
        return RouteKind.STATIC
    return RouteKind.PUBLIC if getattr(route.app, PUBLIC_ATTRIBUTE, False) else RouteKind.GUARDED


def route_kind(app: Any, scope: Scope) -> RouteKind:
    """How the guard treats the route this request would reach (an unknown path is guarded)."""
    if is_token_authenticated(scope):
        return RouteKind.TOKEN
    path = relative_path(scope)
    method = scope.get("method", "GET")
    partial: RouteKind | None = None
    for entry in route_table(app):
        if not entry.pattern.match(path):
            continue
        if entry.methods is None or method in entry.methods or (method == "HEAD" and "GET" in entry.methods):
            return entry.kind
        partial = partial or entry.kind
    # A wrong method on an open route gets its 405 from the router, not a login page.
    return partial or RouteKind.GUARDED


# --- where to go back to --------------------------------------------------------------------------


def safe_next(value: str | None, root_path: str) -> str | None:
    """A `next` target only when it is a path on this console: no scheme, host, `//` or backslash."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return None
    if root_path and not (parts.path == root_path or parts.path.startswith(root_path + "/")):
        return None
    return value


def login_url(request: Request, next_path: str | None, entry: str = "show_login") -> str:
    url = request.url_for(entry).path
    return f"{url}?next={quote(next_path, safe='/')}" if next_path else url


def _current_path(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


def login_needed_response(request: Request, entry: str = "show_login") -> Response:
    """No session where one is needed: browsers go to the login page (or, for a visitor without a key,
    the key page: `entry`), HTMX and JSON get 401."""
    root_path = request.scope.get("root_path", "")
    if is_htmx(request):
        current = request.headers.get("hx-current-url", "")
        parts = urlsplit(current)
        back = safe_next(parts.path + (f"?{parts.query}" if parts.query else ""), root_path) if current else None
        return Response(status_code=401, headers={"HX-Redirect": login_url(request, back, entry)})
    if wants_json(request):
        if entry == "show_key":
            return JSONResponse({"error": "key required", "key": login_url(request, None, entry)}, status_code=401)
        return JSONResponse(
            {"error": "login required", "login": login_url(request, None)},
            status_code=401,
            headers={"WWW-Authenticate": 'Cookie realm="runway-console"'},
        )
    back = _current_path(request) if request.method in ("GET", "HEAD") else None
    return RedirectResponse(login_url(request, safe_next(back, root_path), entry), status_code=303)


class AuthMiddleware:
    """The guard: every request gets its Access; those without a needed session stop here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = route_kind(scope["app"], scope)
        if kind in (RouteKind.STATIC, RouteKind.TOKEN):
            await self.app(scope, receive, send)
            return
        gate: Gate = scope["state"]["services"].gate
        access, new_browser = gate.access_for(scope)
        scope["state"]["access"] = access
        if access.principal is None and kind == RouteKind.GUARDED:
            response = login_needed_response(Request(scope, receive))
            await response(scope, receive, send)
            return
        if access.key_required and kind == RouteKind.GUARDED:
            response = login_needed_response(Request(scope, receive), entry="show_key")
            await response(scope, receive, send)
            return
        if new_browser is None:
            await self.app(scope, receive, send)
            return
        header = cookie_header(
            BROWSER_COOKIE, new_browser, path=cookie_path(scope), secure=is_https(scope), max_age=BROWSER_COOKIE_MAX_AGE
        )

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message, headers=[*message.get("headers", []), header])
            await send(message)

        await self.app(scope, receive, send_with_cookie)
