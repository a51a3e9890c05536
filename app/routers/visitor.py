"""Visitors bring their own key (CONSOLE_VISITOR_KEYS): the "Your key" page, checking a key, forgetting it."""

import math
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.access import Access, PrincipalKind, visitor_owner
from app.auth import public, safe_next
from app.client import client_address
from app.config import Settings
from app.deps import AccessDep, GateDep, PollerDep, SettingsDep, TranslatorDep, VisitorsDep
from app.form_values import Message
from app.i18n import Translator
from app.rendering import base_url_label, is_htmx, render, see_other, wants_json
from app.sessions import SESSION_COOKIE, clear_cookie_header, cookie_header, cookie_path, is_https
from app.upstream_errors import ErrorKind
from app.views import upstream_messages
from app.visitor_keys import MAX_KEY_CHARS, VisitorKeys, check_key

router = APIRouter()

MAX_KEY_FIELDS = 8
# The key page again, with messages by the key field and by the upstream choice.
KeyPage = Callable[..., Response]


def upstream_choices(settings: Settings) -> list[str]:
    """The base URLs a visitor may pick, in the operator's order; empty: the console's own upstream only."""
    return settings.visitor_upstream_list


def _enabled(settings: Settings, visitors: VisitorKeys | None) -> VisitorKeys:
    if not settings.visitor_keys or visitors is None:
        raise HTTPException(404, "not found")
    return visitors


def _landing(request: Request, next_path: str | None) -> str:
    return safe_next(next_path, request.scope.get("root_path", "")) or request.url_for("show_form").path


def _key_page(
    request: Request,
    settings: Settings,
    access: Access,
    *,
    next_path: str | None,
    upstream: str = "",
    key_errors: list[Message] | None = None,
    upstream_errors: list[Message] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    choices = upstream_choices(settings)
    selected = upstream if upstream in choices else (choices[0] if choices else "")
    context = {
        "next_path": safe_next(next_path, request.scope.get("root_path", "")) or "",
        "choices": [{"value": url, "label": base_url_label(url), "selected": url == selected} for url in choices],
        "key_errors": key_errors or [],
        "upstream_errors": upstream_errors or [],
        "key_held": access.is_visitor and access.key_held,
        "max_key_chars": MAX_KEY_CHARS,
    }
    return render(request, "key.html", context, status_code=status_code, headers=headers)


def _refused(request: Request, t: Translator, errors: list[Message], status_code: int, page: Response) -> Response:
    if wants_json(request):
        return JSONResponse({"errors": {"api_key": [t(m.key, **m.params) for m in errors]}}, status_code=status_code)
    return page


@router.get("/key", name="show_key")
@public
async def show_key(
    request: Request,
    settings: SettingsDep,
    visitors: VisitorsDep,
    access: AccessDep,
    next_path: Annotated[str | None, Query(alias="next")] = None,
) -> Response:
    """The "Your key" page: where a visitor enters their own API key (after logging in, when a login is set)."""
    _enabled(settings, visitors)
    if access.principal is None:
        return RedirectResponse(_login_first(request), status_code=303)
    return _key_page(request, settings, access, next_path=next_path)


def _login_first(request: Request) -> str:
    login = request.url_for("show_login").path
    return f"{login}?next={request.url_for('show_key').path}"


@router.post("/key", name="enter_key")
@public
async def enter_key(
    request: Request,
    settings: SettingsDep,
    visitors: VisitorsDep,
    access: AccessDep,
    gate: GateDep,
    poller: PollerDep,
    t: TranslatorDep,
) -> Response:
    """Check the visitor's key with the upstream; hold it in memory for their session and go on to the console."""
    registry = _enabled(settings, visitors)
    if access.principal is None:
        if wants_json(request) or is_htmx(request):
            return JSONResponse({"error": "login required", "login": _login_first(request)}, status_code=401)
        return RedirectResponse(_login_first(request), status_code=303)
    try:
        form = await request.form(max_files=0, max_fields=MAX_KEY_FIELDS)
    except HTTPException:
        raise HTTPException(400, "unreadable form") from None
    api_key = str(form.get("api_key") or "").strip()
    upstream = str(form.get("upstream") or "").strip()
    next_path = str(form.get("next") or "") or None
    choices = upstream_choices(settings)

    def page(
        key_errors: list[Message], upstream_errors: list[Message], status: int, headers: dict[str, str] | None = None
    ) -> Response:
        return _key_page(
            request,
            settings,
            access,
            next_path=next_path,
            upstream=upstream,
            key_errors=key_errors,
            upstream_errors=upstream_errors,
            status_code=status,
            headers=headers,
        )

    if len(choices) > 1 and upstream not in choices:
        # Only an upstream from the operator's list is ever contacted; anything else is refused unsent.
        errors = [Message("visitor.upstream_unknown")]
        if wants_json(request):
            return JSONResponse({"errors": {"upstream": [t(m.key) for m in errors]}}, status_code=422)
        return page([], errors, 422)
    base_url = upstream if len(choices) > 1 else (choices[0] if choices else None)
    problem = _key_problem(api_key)
    if problem is not None:
        return _refused(request, t, [problem], 422, page([problem], [], 422))

    client = client_address(request.scope)
    blocked = gate.blocked_for(client)
    if blocked > 0:
        return _too_many(request, t, blocked, page)
    upstream_client = registry.client(api_key, base_url)
    checked = await check_key(upstream_client)
    if not checked.ok:
        error = checked.error
        assert error is not None
        if error.kind == ErrorKind.AUTH:
            wait = gate.record_failure(client)
            if wait > 0:
                return _too_many(request, t, wait, page)
            errors = [Message("visitor.key_refused", {"status": error.status or "—"})]
            if error.detail:
                errors.append(Message("upstream.detail", {"detail": error.detail}))
            return _refused(request, t, errors, 401, page(errors, [], 401))
        errors = [Message("visitor.key_unchecked"), *upstream_messages(error)]
        return _refused(request, t, errors, 502, page(errors, [], 502))

    set_cookie: tuple[bytes, bytes] | None = None
    principal = access.principal
    if principal.kind == PrincipalKind.VISITOR and principal.session_id is not None:
        session = gate.session_by_id(principal.session_id)
    else:
        session = None
    if session is None:
        login = principal if principal.kind in (PrincipalKind.TEAM, PrincipalKind.ACCOUNT) else None
        cookie, session = gate.open_visitor_session(client, login)
        set_cookie = cookie_header(
            SESSION_COOKIE,
            cookie,
            path=cookie_path(request.scope),
            secure=is_https(request.scope),
            max_age=max(1, int(session.expires_at - session.created_at)),
        )
    else:
        gate.store.clear_failures(client)
    owner = visitor_owner(session.id)
    registry.put(session.id, owner, upstream_client, session.expires_at)
    poller.resume_owner(owner)

    target = _landing(request, next_path)
    response: Response = (
        JSONResponse({"ok": True, "next": target}) if wants_json(request) else RedirectResponse(target, status_code=303)
    )
    if set_cookie is not None:
        response.raw_headers.append(set_cookie)
    return response


def _key_problem(api_key: str) -> Message | None:
    if not api_key:
        return Message("visitor.key_required")
    printable = api_key.isascii() and all(c.isprintable() and not c.isspace() for c in api_key)
    if len(api_key) > MAX_KEY_CHARS or not printable:
        return Message("visitor.key_malformed", {"max": MAX_KEY_CHARS})
    return None


def _too_many(request: Request, t: Translator, wait: float, page: KeyPage) -> Response:
    """429 after too many wrong keys from one address (the login lockout's rules), saying how long to wait."""
    message = Message("visitor.key_locked", {"minutes": max(1, math.ceil(wait / 60))})
    headers = {"Retry-After": str(max(1, math.ceil(wait)))}
    if wants_json(request):
        errors = {"api_key": [t(message.key, **message.params)]}
        return JSONResponse({"errors": errors}, status_code=429, headers=headers)
    return page([message], [], 429, headers=headers)


@router.post("/key/forget", name="forget_key")
@public
async def forget_key(request: Request, settings: SettingsDep, visitors: VisitorsDep, gate: GateDep) -> Response:
    """Drop the visitor's key from memory and end their visit (their tasks here are no longer shown to them)."""
    _enabled(settings, visitors)
    gate.close_session(request.cookies.get(SESSION_COOKIE))
    response = see_other(request, request.url_for("show_key").path)
    name, value = clear_cookie_header(SESSION_COOKIE, path=cookie_path(request.scope), secure=is_https(request.scope))
    response.raw_headers.append((name, value))
    return response
