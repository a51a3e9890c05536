"""What a failed request gets: an error page in the visitor's language, or JSON for API-style callers.

Every HTTPException, a bad path or query parameter (422), a body refused for its size (413) and an
unexpected bug (500, logged, no internals shown) end up in the same `error.html`.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from app.middleware import SECURITY_HEADERS, under_root_path
from app.rendering import is_htmx, render, request_translator, wants_json
from app.request_limits import BodyTooLarge

# Logged under the factory's name, where these lines have always appeared.
log = logging.getLogger("app.main")


async def show_http_error(request: Request, exc: Exception) -> Response:
    """Render an HTTP error as a page (or JSON for API clients)."""
    assert isinstance(exc, StarletteHTTPException)  # registered for that class only
    if wants_json(request):
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)
    t = request_translator(request)
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


async def refuse_body(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    """The 413 page for a body refused by its stated length, before any of it is read."""
    response = await show_http_error(Request(scope, receive), BodyTooLarge(limit))
    await response(scope, receive, send)


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


async def forget_disconnected(request: Request, exc: Exception) -> Response:
    """The client went away mid-request (an upload abandoned): nothing to answer, nothing broke."""
    log.info("client left during %s %s", request.method, request.url.path)
    return Response(status_code=400)


def install_error_pages(app: FastAPI) -> None:
    """Register the handlers above; the Runway-compatible API adds its own for its errors."""
    app.add_exception_handler(StarletteHTTPException, show_http_error)
    app.add_exception_handler(ClientDisconnect, forget_disconnected)
    app.add_exception_handler(RequestValidationError, show_validation_error)
    app.add_exception_handler(Exception, show_unexpected_error)
