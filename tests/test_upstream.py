"""UpstreamClient against a real fake upstream on loopback: headers, error shapes, retries, downloads, the key."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

from app.i18n import Translator
from app.netguard.transport import default_tls
from app.upstream import CreatedTask, UpstreamClient
from app.upstream_errors import UpstreamError
from app.views import upstream_messages
from tests.fake_upstream import FAKE_MP4, FakeUpstream, started

SECRET = "hk-upstream-test-secret-0123456789abcdef"
BODY = {
    "promptImage": [{"uri": "https://cdn.example.com/first.png", "position": "first"}],
    "model": "gen4_turbo",
    "ratio": "1280:720",
    "duration": 10,
    "seed": 4294967295,
    "watermark": False,
    "promptText": "waves roll in, 海浪",
}
# Fast defaults: retries on, backoff short, and a timeout far above a healthy loopback answer.
CLIENT_OPTIONS = {"timeout": 5.0, "retries": 3, "backoff": 0.01}
HTML_502 = "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>nginx</h1></body></html>"

Action = Callable[[UpstreamClient], Awaitable[object]]


@pytest.fixture
def sleeps() -> list[float]:
    """The backoff waits the client asks for, recorded instead of slept."""
    return []


@pytest.fixture
def run(fake_upstream, sleeps) -> Callable[..., object]:
    """Run one action against an UpstreamClient on a real httpx.AsyncClient pointed at the fake."""
    base = fake_upstream.api_url

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    def call(action: Action, *, base_url: str = base, key: str = SECRET, **options: object) -> object:
        async def main() -> object:
            # As the console's client, with the TLS context it shares between all its clients.
            async with httpx.AsyncClient(follow_redirects=True, verify=default_tls()) as http:
                client = UpstreamClient(http, base_url, key, sleep=record, **{**CLIENT_OPTIONS, **options})
                return await action(client)

        return asyncio.run(main())

    return call


@pytest.fixture
def fail(run) -> Callable[..., UpstreamError]:
    """Run an action that must raise UpstreamError and return the error."""

    def call(action: Action, **options: object) -> UpstreamError:
        with pytest.raises(UpstreamError) as caught:
            run(action, **options)
        return caught.value

    return call


@pytest.fixture
def refused_base_url() -> Iterator[str]:
    """A loopback port that is bound but not listening: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/runwayml"


def create(client: UpstreamClient) -> Awaitable[CreatedTask]:
    return client.create_task(BODY)


def get(task_id: str) -> Action:
    return lambda client: client.get_task(task_id)


def human(error: UpstreamError) -> str:
    """What the page says about the error, in English."""
    t = Translator("en")
    return " ".join(t(m.key, **m.params) for m in upstream_messages(error))


def gets(fake_upstream: FakeUpstream) -> list:
    return fake_upstream.calls("GET", "/v1/tasks/")


# --- what is sent ---------------------------------------------------------------------------------


def test_create_sends_the_documented_headers_and_the_body_unchanged(run, fake_upstream):
    created = run(create)
    (request,) = fake_upstream.calls("POST", "/runwayml/v1/image_to_video")
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["x-runway-version"] == "2024-11-06"
    assert request.headers["content-type"] == "application/json"
    sent = request.json()
    assert sent == BODY
    assert type(sent["duration"]) is int and type(sent["seed"]) is int and sent["watermark"] is False
    assert created == CreatedTask(next(iter(fake_upstream.tasks)), None)


def test_without_a_key_no_authorization_header_is_sent(run, fake_upstream):
    run(create, key=None)
    (request,) = fake_upstream.calls("POST", "/runwayml/v1/image_to_video")
    assert "authorization" not in request.headers
    assert request.headers["x-runway-version"] == "2024-11-06"


def test_a_task_document_that_quotes_the_key_comes_back_scrubbed(run, fake_upstream):
    task_id = run(create).id
    fake_upstream.tasks[task_id].update(status="FAILED", failure=f"key {SECRET} revoked", failureCode="INTERNAL")
    fake_upstream.auto_advance = False
    task = run(get(task_id))
    assert task["failure"] == "key *** revoked"


def test_create_reads_the_official_estimated_cost(run, fake_upstream):
    fake_upstream.queue("create", status=200, body='{"id": "task-1", "estimatedCost": {"credits": 25}}')
    assert run(create) == CreatedTask("task-1", 25.0)


def test_get_and_delete_send_the_key_and_version_too(run, fake_upstream):
    task_id = run(create).id
    task = run(get(task_id))
    assert task["id"] == task_id and task["status"] == "RUNNING"
    assert run(lambda client: client.delete_task(task_id)) is None
    assert fake_upstream.tasks[task_id]["status"] == "CANCELLED"
    for request in (*gets(fake_upstream), *fake_upstream.calls("DELETE")):
        assert request.headers["authorization"] == f"Bearer {SECRET}"
        assert request.headers["x-runway-version"] == "2024-11-06"
        assert request.path == f"/runwayml/v1/tasks/{task_id}"


def test_a_configured_api_version_is_sent(run, fake_upstream):
    run(create, api_version="2099-01-01")
    assert fake_upstream.calls("POST")[0].headers["x-runway-version"] == "2099-01-01"


def test_a_base_url_with_a_trailing_slash_or_without_prefix_works(run, serve):
    official = started(serve, prefix="")
    run(create, base_url=official.api_url + "/")
    assert [r.path for r in official.requests] == ["/v1/image_to_video"]


def test_deleting_an_unknown_task_is_not_found(fail, fake_upstream):
    error = fail(lambda client: client.delete_task("no-such-task"))
    assert (error.kind, error.status, error.detail) == ("not_found", 404, "Task not found")
    assert len(fake_upstream.calls("DELETE")) == 1


# --- error shapes -----------------------------------------------------------------------------------


RUNWAY_VALIDATION = json.dumps({
    "error": "Validation of body failed",
    "issues": [
        {"path": ["ratio"], "message": "Invalid enum value"},
        {"path": ["promptImage", 0, "uri"], "message": "Image too small"},
    ],
    "docUrl": "https://docs.dev.runwayml.com/errors",
})


@pytest.mark.parametrize(
    "status, body, content_type, kind, detail, says",
    [
        (400, RUNWAY_VALIDATION, "application/json", "validation", "Validation of body failed",
         "The upstream rejected the request (HTTP 400)."),
        (400, '{"error": "You do not have enough credits to run this task."}', "application/json", "credits",
         "You do not have enough credits to run this task.", "does not have enough credits for this task (HTTP 400)"),
        (400, '{"error": {"message": "model not supported", "type": "invalid_request_error"}}',
         "application/json", "validation", "model not supported", "Upstream message: model not supported"),
        (401, '{"error": "Invalid API key"}', "application/json", "auth", "Invalid API key",
         "The upstream refused the API key (HTTP 401). Check RUNWAYML_API_SECRET"),
        (403, '{"error": {"message": "key disabled"}}', "application/json", "auth", "key disabled",
         "refused the API key (HTTP 403)"),
        (429, '{"error": {"message": "daily limit reached", "type": "rate_limit"}}', "application/json",
         "rate_limit", "daily limit reached", "Too many requests or the daily limit is reached (HTTP 429)"),
        (500, '{"message": "internal failure"}', "application/json", "server", "internal failure",
         "overloaded or failing (HTTP 500). Nothing was started"),
        (502, HTML_502, "text/html", "server", "502 Bad Gateway", "It sent an HTML page instead of JSON"),
        (503, "upstream connect error or disconnect/reset before headers", "text/plain", "server",
         "upstream connect error or disconnect/reset before headers", "(HTTP 503)"),
        (418, "", "text/plain", "http", "", "The upstream answered with an error (HTTP 418)."),
    ],
)
def test_every_error_shape_becomes_one_kind_status_and_message(fail, fake_upstream, status, body, content_type, kind,
                                                               detail, says):
    fake_upstream.queue("create", status=status, body=body, content_type=content_type)
    error = fail(create)
    assert (error.kind, error.status, error.detail) == (kind, status, detail)
    assert error.html == (content_type == "text/html")
    assert says in human(error)
    assert str(error) == f"upstream {kind} HTTP {status}: {detail}".strip()


def test_runway_validation_issues_keep_their_paths(fail, fake_upstream):
    fake_upstream.queue("create", status=400, body=RUNWAY_VALIDATION)
    error = fail(create)
    assert error.issues == [(["ratio"], "Invalid enum value"), (["promptImage", 0, "uri"], "Image too small")]


def test_an_html_error_page_is_reduced_to_its_title(fail, fake_upstream):
    page = HTML_502.replace("502 Bad Gateway", "404 Not Found")
    fake_upstream.queue("get", status=404, body=page, content_type="text/html")
    error = fail(get("some-task"))
    assert (error.kind, error.status, error.detail, error.html) == ("not_found", 404, "404 Not Found", True)
    assert "<" not in str(error)


@pytest.mark.parametrize(
    "body, content_type, detail",
    [
        ('{"id": "task-1"', "application/json", '{"id": "task-1"'),
        ("<html><body>Welcome to nginx!</body></html>", "text/html", "Welcome to nginx!"),
        ('["task-1"]', "application/json", "the answer is not a JSON object"),
        ('{"uuid": "task-1"}', "application/json", "the answer has no task id"),
        ('{"id": ""}', "application/json", "the answer has no task id"),
    ],
)
def test_a_200_that_is_not_the_expected_json_is_a_protocol_error(fail, fake_upstream, body, content_type, detail):
    fake_upstream.queue("create", status=200, body=body, content_type=content_type)
    error = fail(create)
    assert (error.kind, error.status, error.detail) == ("protocol", 200, detail)
    assert "not the expected JSON (HTTP 200)" in human(error)
    assert len(fake_upstream.calls("POST")) == 1


def test_a_task_without_a_status_is_a_protocol_error(fail, fake_upstream):
    fake_upstream.queue("get", status=200, body='{"id": "task-1"}')
    error = fail(get("task-1"))
    assert (error.kind, error.status, error.detail) == ("protocol", 200, "the task has no status")


def test_retry_after_is_read_from_a_429(fail, fake_upstream):
    fake_upstream.queue("create", status=429, body='{"error": "Too many requests"}', headers={"Retry-After": "7"})
    error = fail(create)
    assert (error.kind, error.status, error.retry_after) == ("rate_limit", 429, 7.0)


# --- timeouts and retries ----------------------------------------------------------------------------


def test_a_create_that_times_out_is_not_sent_again(fail, fake_upstream):
    fake_upstream.queue("create", hang_seconds=1.0, status=200, body='{"id": "late"}')
    error = fail(create, timeout=0.2)
    assert (error.kind, error.status, error.detail) == ("timeout", None, "no answer within 0.2 s")
    assert "check the history before retrying" in human(error)
    assert len(fake_upstream.calls("POST")) == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_a_create_refused_with_a_retryable_status_is_not_sent_again(fail, fake_upstream, sleeps, status):
    fake_upstream.queue("create", status=status, body='{"error": "busy"}')
    error = fail(create)
    assert (error.kind, error.status) == ("rate_limit" if status == 429 else "server", status)
    assert len(fake_upstream.calls("POST")) == 1 and sleeps == []
    assert fake_upstream.tasks == {}


def test_a_create_is_retried_when_the_connection_was_never_made(fail, sleeps, refused_base_url):
    error = fail(create, base_url=refused_base_url, retries=3)
    assert (error.kind, error.status) == ("network", None)
    assert "ConnectError" in error.detail
    assert "could not be reached. Check RUNWAYML_BASE_URL" in human(error)
    assert len(sleeps) == 2  # three attempts, two waits between them


def test_a_get_is_retried_with_growing_backoff_until_it_succeeds(run, fake_upstream, sleeps):
    task_id = run(create).id
    fake_upstream.queue("get", status=503, body="Service Unavailable", content_type="text/plain")
    fake_upstream.queue("get", status=502, body=HTML_502, content_type="text/html")
    task = run(get(task_id), retries=3, backoff=0.5)
    assert task["status"] == "RUNNING"
    assert len(gets(fake_upstream)) == 3
    first, second = sleeps
    assert 0.5 <= first <= 0.75 and 1.0 <= second <= 1.5  # base * 2**attempt, plus up to 50 % jitter


def test_a_get_honours_a_short_retry_after(run, fake_upstream, sleeps):
    task_id = run(create).id
    fake_upstream.queue("get", status=429, body="{}", headers={"Retry-After": "2"})
    fake_upstream.queue("get", status=429, body="{}", headers={"Retry-After": "5"})
    assert run(get(task_id))["id"] == task_id
    assert sleeps == [2.0, 5.0]
    assert len(gets(fake_upstream)) == 3


def test_a_long_retry_after_is_left_to_the_caller_instead_of_waited_for(fail, fake_upstream, sleeps):
    fake_upstream.queue("get", status=429, body="{}", headers={"Retry-After": "2"})
    fake_upstream.queue("get", status=429, body="{}", headers={"Retry-After": "3600"})
    error = fail(get("some-task"))
    assert (error.kind, error.retry_after) == ("rate_limit", 3600.0)
    assert sleeps == [2.0]
    assert len(gets(fake_upstream)) == 2


def test_a_get_that_times_out_is_retried(run, fake_upstream):
    task_id = run(create).id
    fake_upstream.queue("get", hang_seconds=1.0, status=200, body="{}")
    assert run(get(task_id), timeout=0.2)["id"] == task_id
    assert len(gets(fake_upstream)) == 2


@pytest.mark.parametrize("retries", [1, 2, 4])
def test_a_get_gives_up_after_the_configured_attempts(fail, fake_upstream, sleeps, retries):
    for _ in range(retries + 1):
        fake_upstream.queue("get", status=503, body='{"error": "overloaded"}')
    error = fail(get("task-1"), retries=retries)
    assert (error.kind, error.status, error.detail) == ("server", 503, "overloaded")
    assert len(gets(fake_upstream)) == retries and len(sleeps) == retries - 1


def test_a_redirect_loop_is_an_upstream_error_not_a_crash(fail, fake_upstream):
    for _ in range(25):
        fake_upstream.queue("get", status=302, headers={"location": "/runwayml/v1/tasks/task-1"})
    error = fail(get("task-1"), retries=1)
    assert (error.kind, error.status) == ("network", None)
    assert error.detail.startswith("TooManyRedirects")


@pytest.mark.parametrize("status, kind", [(400, "validation"), (401, "auth"), (404, "not_found")])
def test_a_get_is_not_retried_when_retrying_cannot_help(fail, fake_upstream, status, kind):
    fake_upstream.queue("get", status=status, body='{"error": "no"}')
    assert fail(get("task-1")).kind == kind
    assert len(gets(fake_upstream)) == 1


def test_a_delete_is_retried_like_a_get(run, fake_upstream, sleeps):
    task_id = run(create).id
    fake_upstream.queue("delete", status=503, body="{}")
    run(lambda client: client.delete_task(task_id))
    assert len(fake_upstream.calls("DELETE")) == 2 and len(sleeps) == 1
    assert fake_upstream.tasks[task_id]["status"] == "CANCELLED"


# --- the CDN ------------------------------------------------------------------------------------


def read_file(url: str) -> Action:
    """Stream an output file to the end (the media cache does this into a file)."""

    async def action(client: UpstreamClient) -> bytes:
        async with client.open_file(url) as remote:
            assert remote.chunks is not None and remote.redirect is None
            return b"".join([chunk async for chunk in remote.chunks])

    return action


def test_an_output_file_is_fetched_without_the_key(run, fake_upstream):
    assert run(read_file(fake_upstream.output_url("task-1"))) == FAKE_MP4
    (cdn,) = fake_upstream.calls("GET", "/cdn/")
    assert "authorization" not in cdn.headers and "x-runway-version" not in cdn.headers
    assert SECRET not in json.dumps(cdn.headers)


def test_an_expired_cdn_link_is_an_auth_error(fail, fake_upstream):
    fake_upstream.cdn_expired = True
    error = fail(read_file(fake_upstream.output_url("task-1")))
    assert (error.kind, error.status, error.detail) == ("auth", 403, "AccessDenied")


# --- the key never leaks ------------------------------------------------------------------------------


ECHOES = [
    ("create", 401, f'{{"error": "Invalid key {SECRET}"}}', "application/json"),
    ("create", 401, f'{{"error": {{"message": "Bearer {SECRET} is not valid", "type": "auth"}}}}', "application/json"),
    ("create", 400, json.dumps({"error": "bad", "issues": [{"path": ["x"], "message": f"key {SECRET}"}]}),
     "application/json"),
    ("create", 502, f"<html><title>Bad Gateway for {SECRET}</title></html>", "text/html"),
    ("create", 503, f"Authorization: Bearer {SECRET} rejected", "text/plain"),
    ("create", 200, f'not json, but the key: {SECRET}', "text/plain"),
    ("get", 500, f'{{"detail": "{SECRET}"}}', "application/json"),
    ("cdn", 403, f"<Error><Code>AccessDenied</Code><Key>{SECRET}</Key></Error>", "text/xml"),
]


@pytest.mark.parametrize("route, status, body, content_type", ECHOES)
def test_the_key_never_appears_in_an_error_even_when_echoed(
    fail, fake_upstream, route, status, body, content_type
):
    for _ in range(3):
        fake_upstream.queue(route, status=status, body=body, content_type=content_type)
    action = {
        "create": create,
        "get": get("task-1"),
        "cdn": read_file(fake_upstream.output_url("task-1")),
    }[route]
    error = fail(action)
    assert fake_upstream.requests, "the fake_upstream upstream was reached"
    shown = [str(error), repr(error), error.detail, repr(error.issues), repr(error.args), human(error)]
    for text in shown:
        assert SECRET not in text
    assert "***" in str(error) + repr(error.issues)
