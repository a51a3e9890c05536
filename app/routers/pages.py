"""Pages that are not about one task: the form, the history, language, health, stored frames."""

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app import media_responses
from app.auth import public
from app.deps import AccessDep, CallerAccountDep, CatalogueDep, FramesDep, SettingsDep, StoreDep
from app.form_page import account_context, form_context
from app.form_values import FormErrors, FormValues, values_from_task
from app.i18n import LANGUAGE_COOKIE, LANGUAGES
from app.rendering import render, upstream_label
from app.tasks import is_task_id
from app.views import task_summary

router = APIRouter()

RECENT_ON_FORM = 6
ONE_YEAR = 365 * 24 * 3600


@router.get("/", name="show_form")
async def show_form(
    request: Request,
    catalogue: CatalogueDep,
    store: StoreDep,
    account: CallerAccountDep,
    access: AccessDep,
    from_task: Annotated[str | None, Query(alias="from")] = None,
) -> Response:
    """The task form with the latest tasks beside it; ?from=<id> pre-fills it from that task."""
    values = FormValues.defaults(catalogue)
    earlier = store.get(from_task) if from_task and is_task_id(from_task) else None
    if earlier is not None and access.can_see(earlier):
        values = values_from_task(earlier, catalogue)
    context = form_context(catalogue, values, FormErrors())
    context["recent"] = [task_summary(r) for r in store.recent(RECENT_ON_FORM, viewer=access.viewer)]
    upstream_account = await account.get_quietly() if account is not None else None
    context["account"] = account_context(upstream_account, catalogue, store.active_by_model(), values)
    return render(request, "index.html", context)


@router.get("/lang/{code}", name="set_language")
@public
async def set_language(request: Request, code: str) -> Response:
    """Remember the chosen language and go back to the page the switch was clicked on."""
    if code not in LANGUAGES:
        raise HTTPException(404, "unknown language")
    target = request.url_for("show_form").path
    referer = request.headers.get("referer")
    if referer:
        parts = urlsplit(referer)
        # Only the path is reused, so the redirect can never leave this site.
        if parts.path.startswith("/") and not parts.path.startswith("//"):
            target = parts.path + (f"?{parts.query}" if parts.query else "")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(LANGUAGE_COOKIE, code, max_age=ONE_YEAR, samesite="lax", httponly=True)
    return response


@router.get("/healthz", name="check_health")
@public
async def check_health(settings: SettingsDep, catalogue: CatalogueDep) -> JSONResponse:
    """Liveness for proxies and orchestrators; says which upstream is configured, never the key."""
    return JSONResponse(
        {
            "ok": True,
            "upstream": upstream_label(settings),
            "simulator": settings.uses_simulator,
            "models": [m.id for m in catalogue.models],
        }
    )


@router.get("/frames/{ref}", name="serve_frame")
async def serve_frame(ref: str, frames: FramesDep, store: StoreDep, access: AccessDep) -> Response:
    """A stored input frame, for previews and the task page (in private history: one's own tasks' only)."""
    path = frames.path(ref)
    if path is None or not store.frame_visible(ref, access.viewer):
        raise HTTPException(404, "unknown frame")
    return media_responses.frame(path, frames.mime(ref))
