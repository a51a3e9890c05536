"""The console's API refusing a request, in the Runway API's error shape (`{"error": …}`, or a
validation failure with its `issues`): the exception any step of an API request raises, the answer
it becomes, and how an upstream's refusal is passed on so that the official SDK retries only what is
safe to retry.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response

from app.api_messages import DOC_URL, VALIDATION_FAILED
from app.upstream_errors import ErrorKind, UpstreamError

# The SDK retries a 5xx unless told not to: for a create, that could start (and bill) a task twice.
NO_RETRY = {"x-should-retry": "false"}


class ApiProblem(Exception):
    """An answer in Runway's error shape, raised from anywhere in an API request."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


async def answer_problem(request: Request, exc: Exception) -> Response:
    """Send an ApiProblem as JSON."""
    assert isinstance(exc, ApiProblem)
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)


def api_error(status: int, message: str, **headers: str) -> ApiProblem:
    """A plain refusal: `{"error": message}` with this status and these headers."""
    return ApiProblem(status, {"error": message}, headers)


def invalid_request(issues: list[dict[str, Any]]) -> ApiProblem:
    """400 with Runway's validation issues, each a {path, message}."""
    return ApiProblem(400, {"error": VALIDATION_FAILED, "issues": issues, "docUrl": DOC_URL})


def upstream_failed(error: UpstreamError, **headers: str) -> ApiProblem:
    """502: the upstream failed in a way the client cannot fix, said in a line."""
    return api_error(502, f"The upstream failed: {error.detail or error.kind.value}", **headers)


def upstream_create_problem(error: UpstreamError) -> ApiProblem:
    """A create the upstream refused, as the client should see it; never retried blindly by the SDK."""
    if error.kind == ErrorKind.VALIDATION and error.issues:
        return invalid_request([{"path": path, "message": message} for path, message in error.issues])
    if error.kind in (ErrorKind.VALIDATION, ErrorKind.CREDITS, ErrorKind.HTTP) and error.status and error.status < 500:
        return api_error(400, error.detail or "The upstream refused the request.")
    if error.kind == ErrorKind.RATE_LIMIT:
        headers = {"Retry-After": str(round(error.retry_after))} if error.retry_after is not None else {}
        return api_error(429, error.detail or "The upstream is rate limiting this console.", **headers)
    if error.kind == ErrorKind.AUTH:
        return api_error(502, "The console's upstream refused its key; tell the console's operator.", **NO_RETRY)
    if error.kind == ErrorKind.TIMEOUT or error.kind == ErrorKind.PROTOCOL:
        # The upstream may have started (and billed) the task: the SDK must not send it again.
        return api_error(
            504,
            "The upstream did not confirm the task in time; it may still have been created. "
            "Look in the console's history before trying again.",
            **NO_RETRY,
        )
    return upstream_failed(error, **NO_RETRY)
