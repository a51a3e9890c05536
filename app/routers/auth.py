"""Logging in and out: the login page, the password check with its lockout, the logout button."""

import math
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.auth import public, safe_next
from app.client import client_address
from app.deps import AccessDep, GateDep, TranslatorDep
from app.gate import Gate, LoginResult
from app.i18n import Translator
from app.passwords import MAX_PASSWORD_CHARS
from app.rendering import render, see_other, wants_json
from app.sessions import SESSION_COOKIE, clear_cookie_header, cookie_header, cookie_path, is_https

router = APIRouter()

MAX_LOGIN_FIELDS = 8
MAX_NAME_CHARS = 64


def _landing(request: Request, next_path: str | None) -> str:
    return safe_next(next_path, request.scope.get("root_path", "")) or request.url_for("show_form").path


def wait_message(t: Translator, seconds: float) -> str:
    """How long to wait, in the unit a person would use."""
    if seconds < 90:
        return t("auth.locked_seconds", seconds=max(1, math.ceil(seconds)))
    return t("auth.locked_minutes", minutes=math.ceil(seconds / 60))


def _login_page(
    request: Request,
    gate: Gate,
    *,
    next_path: str | None,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    context = {
        "next_path": safe_next(next_path, request.scope.get("root_path", "")) or "",
        "username": username,
        "ask_username": gate.store.has_accounts(),
        "team_password": bool(gate.settings.team_passwords),
        "login_error": error,
    }
    return render(request, "login.html", context, status_code=status_code, headers=headers)


@router.get("/login", name="show_login")
@public
async def show_login(
    request: Request, gate: GateDep, access: AccessDep, next_path: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    """The login page (straight on to the console when no login is configured or one is open)."""
    if not access.login_required or access.logged_in:
        return RedirectResponse(_landing(request, next_path), status_code=303)
    return _login_page(request, gate, next_path=next_path)


@router.post("/login", name="log_in")
@public
async def log_in(request: Request, gate: GateDep, access: AccessDep, t: TranslatorDep) -> Response:
    """Check the password (and name); open a session and go back where the user was going."""
    try:
        form = await request.form(max_files=0, max_fields=MAX_LOGIN_FIELDS)
    except HTTPException:
        raise HTTPException(400, "unreadable form") from None
    username = str(form.get("username") or "").strip()[:MAX_NAME_CHARS]
    password = str(form.get("password") or "")[:MAX_PASSWORD_CHARS]
    next_path = str(form.get("next") or "") or None
    if not access.login_required:
        return RedirectResponse(_landing(request, next_path), status_code=303)

    client = client_address(request.scope)
    blocked = gate.blocked_for(client)
    if blocked > 0:
        return _refused(request, gate, t, next_path, username, blocked)
    result: LoginResult = await gate.check_password(username, password) if password else LoginResult(None)
    if result.principal_kind is None:
        wait = gate.record_failure(client)
        if wait > 0:
            return _refused(request, gate, t, next_path, username, wait)
        message = t("auth.wrong_password_or_name") if username else t("auth.wrong_password")
        if wants_json(request):
            return JSONResponse({"error": message}, status_code=401)
        return _login_page(request, gate, next_path=next_path, username=username, error=message, status_code=401)

    cookie = gate.open_session(client, result)
    target = _landing(request, next_path)
    response: Response
    if wants_json(request):
        response = JSONResponse({"ok": True, "next": target})
    else:
        response = RedirectResponse(target, status_code=303)
    name, value = cookie_header(
        SESSION_COOKIE,
        cookie,
        path=cookie_path(request.scope),
        secure=is_https(request.scope),
        max_age=gate.session_seconds,
    )
    response.raw_headers.append((name, value))
    return response


def _refused(
    request: Request, gate: Gate, t: Translator, next_path: str | None, username: str, wait: float
) -> Response:
    """429 while the client must wait, saying for how long."""
    message = wait_message(t, wait)
    headers = {"Retry-After": str(max(1, math.ceil(wait)))}
    if wants_json(request):
        return JSONResponse({"error": message, "retry_after": math.ceil(wait)}, status_code=429, headers=headers)
    return _login_page(
        request, gate, next_path=next_path, username=username, error=message, status_code=429, headers=headers
    )


@router.post("/logout", name="log_out")
@public
async def log_out(request: Request, gate: GateDep) -> Response:
    """End the session (in the store, so the cookie is worthless even if kept) and show the login page."""
    gate.close_session(request.cookies.get(SESSION_COOKIE))
    response = see_other(request, request.url_for("show_login").path)
    name, value = clear_cookie_header(SESSION_COOKIE, path=cookie_path(request.scope), secure=is_https(request.scope))
    response.raw_headers.append((name, value))
    return response
