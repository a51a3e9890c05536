"""The task form's post: one task checked and sent upstream, or, when the form asks for several models
or seeds, a comparison (every combination checked first, then all started or none)."""

import math

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import FormData

from app.access import Principal
from app.catalogue import Catalogue
from app.comparison_requests import is_comparison_form, read_comparison_form, start_comparison
from app.config import Settings
from app.deps import (
    CallerUpstreamDep,
    CatalogueDep,
    FrameIntakeDep,
    GateDep,
    PollerDep,
    PrincipalDep,
    SettingsDep,
    StoreDep,
    get_translator,
)
from app.form_page import errors_json, form_context
from app.form_values import FormErrors, FormValues, Message
from app.forms import errors_from_upstream, parse_task_form
from app.gate import Gate
from app.intake import FrameIntake
from app.poller import SubmissionNotRecorded, TaskPoller
from app.posted_form import FormUnreadable, read_form
from app.rendering import is_htmx, render, see_other, wants_json
from app.routers.compare import comparison_document
from app.storage import TaskStore
from app.task_quota import OverHourlyCap, reserve_tasks
from app.upstream_errors import ErrorKind, UpstreamError
from app.views import upstream_messages
from app.visitor_keys import KeyNeeded

router = APIRouter()

MAX_FORM_FILES = 4
MAX_FORM_FIELDS = 40
# A frame given as a data URI arrives as a text part: room for the upstream's 5 MB data URI limit.
MAX_FORM_TEXT_PART = 6 * 1024 * 1024


def form_page(
    request: Request,
    catalogue: Catalogue,
    values: FormValues,
    errors: FormErrors,
    status_code: int,
    *,
    compare: dict[str, object] | None = None,
) -> Response:
    """The form again, with messages by the fields and every value the user gave (`compare`: its compare controls)."""
    if wants_json(request):
        return JSONResponse(errors_json(errors, get_translator(request)), status_code=status_code)
    context = form_context(catalogue, values, errors) | {"recent": []}
    if compare is not None:
        context["compare"] = compare
    return render(request, "_form.html" if is_htmx(request) else "index.html", context, status_code=status_code)


def _key_first(request: Request, catalogue: Catalogue, values: FormValues) -> Response:
    """409: a visitor whose key this process does not hold (never entered, or lost in a restart); nothing is sent."""
    return form_page(request, catalogue, values, FormErrors(general=[Message("visitor.key_first")]), 409)


@router.post("/tasks", name="create_task")
async def create_task(
    request: Request,
    catalogue: CatalogueDep,
    settings: SettingsDep,
    intake: FrameIntakeDep,
    upstream: CallerUpstreamDep,
    poller: PollerDep,
    gate: GateDep,
    principal: PrincipalDep,
    store: StoreDep,
) -> Response:
    """Validate the form, send the task upstream, and go to its page (303); several models or seeds: a comparison."""
    try:
        form = await read_form(
            request, max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS, max_part_size=MAX_FORM_TEXT_PART
        )
    except FormUnreadable:
        errors = FormErrors(general=[Message("errors.form_unreadable")])
        return form_page(request, catalogue, FormValues.defaults(catalogue), errors, 400)
    if is_comparison_form(form.data):
        try:
            if upstream is None:
                return _key_first(request, catalogue, FormValues.defaults(catalogue))
            return await _create_comparison(
                request, form.data, catalogue=catalogue, settings=settings, store=store,
                poller=poller, intake=intake, gate=gate, principal=principal,
            )  # fmt: skip
        finally:
            await form.data.close()
    try:
        values, submission, errors = await parse_task_form(
            form, catalogue=catalogue, frames=intake, max_upload_bytes=settings.max_upload_bytes
        )
    finally:
        await form.data.close()
    if submission is None:
        return form_page(request, catalogue, values, errors, 422)
    if upstream is None:
        return _key_first(request, catalogue, values)

    try:
        reservation = reserve_tasks(gate, principal)
    except OverHourlyCap as cap:
        return _over_hourly_cap(request, catalogue, values, settings.tasks_per_hour, cap)
    try:
        created = await poller.submit(submission, values.stored_notes(), owner=principal.owner)
    except UpstreamError as error:
        reservation.release()
        errors = errors_from_upstream(error.issues, submission.frames)
        errors.general[:0] = upstream_messages(error)
        return form_page(request, catalogue, values, errors, 422 if error.kind == ErrorKind.VALIDATION else 502)
    except KeyNeeded:
        # The visitor's key was forgotten while the form was being read: nothing was written or sent.
        reservation.release()
        return _key_first(request, catalogue, values)
    except SubmissionNotRecorded:
        reservation.release()
        return form_page(request, catalogue, values, FormErrors(general=[Message("errors.not_recorded")]), 503)

    task_url = request.url_for("show_task", task_id=created.id).path
    if wants_json(request):
        return JSONResponse({"id": created.id, "url": task_url, "seed": submission.seed}, status_code=201)
    return see_other(request, task_url)


def _over_hourly_cap(
    request: Request, catalogue: Catalogue, values: FormValues, limit: int | None, cap: OverHourlyCap
) -> Response:
    """CONSOLE_TASKS_PER_HOUR reached: 429, saying when the next task may start; nothing sent upstream."""
    headers = {"Retry-After": str(cap.retry_after)}
    message = cap.message(limit)
    if wants_json(request):
        t = get_translator(request)
        return JSONResponse(
            {"errors": {}, "general": [t(message.key, **message.params)], "retry_after": math.ceil(cap.wait)},
            status_code=429,
            headers=headers,
        )
    response = form_page(request, catalogue, values, FormErrors(general=[message]), 429)
    response.headers.update(headers)
    return response


async def _create_comparison(
    request: Request,
    form: FormData,
    *,
    catalogue: Catalogue,
    settings: Settings,
    store: TaskStore,
    poller: TaskPoller,
    intake: FrameIntake,
    gate: Gate,
    principal: Principal,
) -> Response:
    """Check every combination first (all or nothing), then start them and go to the comparison (303)."""
    asked = await read_comparison_form(
        form, catalogue=catalogue, intake=intake, max_upload_bytes=settings.max_upload_bytes, t=get_translator(request)
    )
    if not asked.ready:
        return form_page(request, catalogue, asked.values, asked.errors, 422, compare=asked.controls)
    # Each task of the set counts against CONSOLE_TASKS_PER_HOUR: the whole set fits, or none starts.
    try:
        reservation = reserve_tasks(gate, principal, len(asked.combinations))
    except OverHourlyCap as cap:
        asked.errors.general.append(cap.message(settings.tasks_per_hour))
        return form_page(request, catalogue, asked.values, asked.errors, 429, compare=asked.controls)
    comparison = await start_comparison(asked, reservation, store=store, poller=poller, owner=principal.owner)
    if wants_json(request):
        return JSONResponse(comparison_document(request, comparison, store), status_code=201)
    return see_other(request, request.url_for("show_comparison", comparison_id=comparison.id).path)
