"""Client for the upstream image-to-video API (official Runway or a relay with the same shape)."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from app.backoff import Backoff
from app.ratelimit import PaceExceeded, UpstreamPace
from app.upstream_errors import ErrorKind, UpstreamError, error_from_response, plain_text, retry_after_seconds

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
BACKOFF_CAP_SECONDS = 8.0
# A Retry-After up to this is waited for inside the call; a longer one is the caller's to schedule
# (the poller keeps serving other tasks meanwhile, a page says "try again later").
INLINE_RETRY_AFTER_MAX_SECONDS = 5.0


@dataclass(frozen=True)
class RemoteFile:
    """An output file as it starts to arrive: a redirect to follow, or its stated length and bytes."""

    url: str
    redirect: str | None = None
    length: int | None = None
    chunks: AsyncIterator[bytes] | None = None


@dataclass(frozen=True)
class CreatedTask:
    id: str
    estimated_cost: float | None
    # The upstream's answer as it came (key scrubbed), for developers who want to see it.
    document: dict[str, Any] = field(default_factory=dict, compare=False)


class UpstreamClient:
    """Speaks the upstream contract over one shared httpx.AsyncClient.

    GET and DELETE are retried with exponential backoff and jitter; a create is retried
    only when the connection never opened, because a POST that reached the server may
    already have started (and billed) a task.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str,
        *,
        api_version: str = "2024-11-06",
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        pace: UpstreamPace | None = None,
    ) -> None:
        self._http = http
        # Shared by every API call (not CDN downloads): the global rate and the pause after a 429.
        self._pace = pace
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.api_version = api_version
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._retries = retries
        self._backoff = Backoff(base=backoff, cap=BACKOFF_CAP_SECONDS, jitter=0.5)
        self._sleep = sleep
        # Every key this client could have seen: an echo of any of them is scrubbed (see for_key).
        self._secrets = tuple(k for k in (api_key,) if k and len(k) >= 4)

    def for_key(self, api_key: str, base_url: str | None = None) -> UpstreamClient:
        """The same client speaking with another key (a visitor's), over the same shared connection pool.

        Its answers are scrubbed of both keys; the base URL must come from the operator's list, never
        from a visitor's input (app/visitor_keys.py), or the console would be an open proxy.
        """
        view = copy.copy(self)
        view.base_url = (base_url or self.base_url).rstrip("/")
        view._api_key = api_key
        view._secrets = tuple(k for k in (api_key, *self._secrets) if k and len(k) >= 4)
        return view

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def public_headers(self) -> dict[str, str]:
        """The headers we send, with the key replaced by a placeholder fit to show."""
        return {
            "Authorization": "Bearer $RUNWAYML_API_SECRET",
            "Content-Type": "application/json",
            "X-Runway-Version": self.api_version,
        }

    def _headers(self) -> dict[str, str]:
        headers = self.public_headers()
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        else:
            # A keyless relay on a private network is possible; "Bearer " alone is not a valid header.
            del headers["Authorization"]
        return headers

    def scrub(self, text: str) -> str:
        """Remove the key from text that may be shown or logged (some relays echo it)."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def create_task(self, body: dict[str, Any]) -> CreatedTask:
        response = await self._send("POST", "/v1/image_to_video", body=body, idempotent=False)
        data = self._json_object(response)
        task_id = data.get("id")
        if not isinstance(task_id, str) or not task_id:
            raise UpstreamError(ErrorKind.PROTOCOL, response.status_code, "the answer has no task id")
        return CreatedTask(task_id, _credits(data.get("estimatedCost")), data)

    async def get_task(self, task_id: str) -> dict[str, Any]:
        response = await self._send("GET", f"/v1/tasks/{quote(task_id, safe='')}")
        data = self._json_object(response)
        if not isinstance(data.get("status"), str):
            raise UpstreamError(ErrorKind.PROTOCOL, response.status_code, "the task has no status")
        return data

    async def get_organization(self) -> dict[str, Any]:
        """The account: credit balance, per-model limits and today's usage (the official API; relays 404)."""
        return self._json_object(await self._send("GET", "/v1/organization"))

    async def delete_task(self, task_id: str) -> None:
        await self._send("DELETE", f"/v1/tasks/{quote(task_id, safe='')}")

    @asynccontextmanager
    async def open_file(self, url: str) -> AsyncIterator[RemoteFile]:
        """Open an output file (a CDN URL: no key is sent), its failures as UpstreamError.

        Redirects are not followed here: the caller vets each hop before it is requested.
        """
        try:
            async with self._http.stream("GET", url, timeout=self._timeout, follow_redirects=False) as response:
                if response.is_redirect:
                    yield RemoteFile(url, redirect=str(response.next_request.url) if response.next_request else None)
                    return
                if response.status_code >= 400:
                    await response.aread()
                    raise error_from_response(response, self.scrub)
                yield RemoteFile(url, length=_content_length(response), chunks=_whole_body(response))
        except httpx.TimeoutException:
            raise UpstreamError(ErrorKind.TIMEOUT, None, "downloading the video timed out") from None
        except httpx.RequestError as exc:  # transport, undecodable body, refused address
            raise UpstreamError(ErrorKind.NETWORK, None, self.scrub(_describe_transport(exc))) from exc

    async def _send(
        self, method: str, path: str, *, body: dict[str, Any] | None = None, idempotent: bool = True
    ) -> httpx.Response:
        url = self.url(path)
        for attempt in range(self._retries):
            last_attempt = attempt == self._retries - 1
            if self._pace is not None:
                try:
                    await self._pace.wait_turn(max_wait=INLINE_RETRY_AFTER_MAX_SECONDS)
                except PaceExceeded as exc:
                    raise UpstreamError(ErrorKind.RATE_LIMIT, None, str(exc), retry_after=exc.wait) from None
            try:
                response = await self._http.request(
                    method, url, json=body, headers=self._headers(), timeout=self._timeout
                )
            except httpx.TimeoutException as exc:
                error = UpstreamError(ErrorKind.TIMEOUT, None, f"no answer within {self._timeout.read:g} s")
                retryable = idempotent or isinstance(exc, httpx.ConnectTimeout)
            except httpx.RequestError as exc:  # transport, undecodable body, redirect loop
                error = UpstreamError(ErrorKind.NETWORK, None, self.scrub(_describe_transport(exc)))
                retryable = idempotent or isinstance(exc, httpx.ConnectError)
            else:
                if self._pace is not None:
                    if response.status_code == 429:
                        self._pace.throttled(retry_after_seconds(response.headers.get("retry-after")))
                    else:
                        self._pace.answered()
                if response.status_code < 400:
                    return response
                error = error_from_response(response, self.scrub)
                retryable = idempotent and response.status_code in RETRYABLE_STATUS
            log.info("upstream %s %s failed (attempt %d): %s", method, path, attempt + 1, error)
            if not retryable or last_attempt or (error.retry_after or 0) > INLINE_RETRY_AFTER_MAX_SECONDS:
                raise error
            if self._pace is None or error.kind != ErrorKind.RATE_LIMIT:
                # After a 429 the pace's pause is the wait, for this call and every other one.
                await self._sleep(self._backoff.delay(attempt + 1, error.retry_after))
        raise AssertionError("unreachable: the loop returns or raises")

    def _json_object(self, response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            snippet = self.scrub(plain_text(response.text)[:120])
            raise UpstreamError(ErrorKind.PROTOCOL, response.status_code, snippet) from None
        if not isinstance(data, dict):
            raise UpstreamError(ErrorKind.PROTOCOL, response.status_code, "the answer is not a JSON object")
        # Everything from upstream may end up on a page or in the database (a failure text, say).
        return self._scrub_document(data)

    def _scrub_document(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self._scrub_document(item) for item in value]
        if isinstance(value, dict):
            return {key: self._scrub_document(item) for key, item in value.items()}
        return value


async def _whole_body(response: httpx.Response) -> AsyncIterator[bytes]:
    """The body's chunks, then an error if fewer (or more) bytes came than Content-Length said.

    Over HTTP/1.1 h11 notices a connection closed early; a transport that does not (ASGI in
    process, some proxies) would otherwise hand a cut-short file over as whole.
    """
    async for chunk in response.aiter_bytes():
        yield chunk
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and response.num_bytes_downloaded != int(declared):
        raise UpstreamError(
            ErrorKind.PROTOCOL,
            response.status_code,
            f"the download was cut short: {response.num_bytes_downloaded} of {declared} bytes",
        )


def _credits(value: object) -> float | None:
    if isinstance(value, dict):
        value = value.get("credits")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _content_length(response: httpx.Response) -> int | None:
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def _describe_transport(exc: httpx.RequestError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def task_cost(data: dict[str, Any]) -> float | None:
    """The credits a finished task reports, when the upstream says so."""
    return _credits(data.get("cost"))
