"""What can go wrong talking upstream, and how an error reply of any shape is read.

Runway answers errors as JSON (`error`, `issues`); relays answer with their own JSON, a proxy's HTML
page or plain text. Each becomes one UpstreamError whose kind picks the explanation a person reads
(a message key under upstream.kind) and whose detail is the upstream's own words, key scrubbed out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import httpx

DETAIL_MAX_CHARS = 400
TITLE_PATTERN = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
TAG_PATTERN = re.compile(r"<[^>]+>")

# Where a field the upstream rejected sits in the request body, as its validator names it.
IssuePath = list[str | int]


class ErrorKind(StrEnum):
    """What kind of trouble an upstream call met; each has a message under upstream.kind.<value>."""

    AUTH = "auth"
    NOT_FOUND = "not_found"
    RATE_LIMIT = "rate_limit"
    SERVER = "server"
    CREDITS = "credits"
    VALIDATION = "validation"
    HTTP = "http"
    PROTOCOL = "protocol"
    TIMEOUT = "timeout"
    NETWORK = "network"


@dataclass
class UpstreamError(Exception):
    """Anything that went wrong talking upstream, reduced to what a person needs to know.

    `kind` picks the explanation (a message key under upstream.kind); `detail` is the
    upstream's own words with the key scrubbed out.
    """

    kind: ErrorKind
    status: int | None = None
    detail: str = ""
    issues: list[tuple[IssuePath, str]] = field(default_factory=list)
    retry_after: float | None = None
    html: bool = False

    def __str__(self) -> str:
        status = f" HTTP {self.status}" if self.status else ""
        return f"upstream {self.kind.value}{status}: {self.detail}".strip()


def error_from_response(response: httpx.Response, scrub: Callable[[str], str]) -> UpstreamError:
    """Read any of the error shapes upstreams use: Runway's, a relay's, HTML, plain text.

    `scrub` takes the key out of every text kept (some relays echo it).
    """
    status = response.status_code
    text = response.text
    detail, html = "", False
    issues: list[tuple[IssuePath, str]] = []
    content_type = response.headers.get("content-type", "")
    try:
        data = json.loads(text) if text.strip() else None
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        detail, issues = _detail_from_json(data)
    elif "html" in content_type or text.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
        html = True
        title = TITLE_PATTERN.search(text)
        detail = plain_text(title.group(1) if title else text)
    else:
        detail = plain_text(text)
    detail = scrub(detail)[:DETAIL_MAX_CHARS]
    return UpstreamError(
        _kind_for(status, detail, issues),
        status,
        detail,
        [(path, scrub(message)) for path, message in issues],
        retry_after_seconds(response.headers.get("retry-after")),
        html,
    )


def _detail_from_json(data: dict[str, Any]) -> tuple[str, list[tuple[IssuePath, str]]]:
    error = data.get("error")
    issues: list[tuple[IssuePath, str]] = []
    for issue in data.get("issues") or []:
        if isinstance(issue, dict):
            path = issue["path"] if isinstance(issue.get("path"), list) else []
            issues.append(([p for p in path if isinstance(p, str | int)], str(issue.get("message", ""))))
    if isinstance(error, str):
        return error, issues
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or json.dumps(error)), issues
    for key in ("message", "detail", "msg"):
        if isinstance(data.get(key), str):
            return data[key], issues
    return json.dumps(data)[:DETAIL_MAX_CHARS], issues


def _kind_for(status: int, detail: str, issues: list[tuple[IssuePath, str]]) -> ErrorKind:
    if status in (401, 403):
        return ErrorKind.AUTH
    if status == 404:
        return ErrorKind.NOT_FOUND
    if status == 429:
        return ErrorKind.RATE_LIMIT
    if status >= 500:
        return ErrorKind.SERVER
    if "credit" in detail.lower():
        return ErrorKind.CREDITS
    if issues or status in (400, 422):
        return ErrorKind.VALIDATION
    return ErrorKind.HTTP


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds; None when it is absent, negative or not a number of seconds."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def plain_text(text: str) -> str:
    """Markup and runs of whitespace out of a reply, so it reads as one line."""
    return " ".join(TAG_PATTERN.sub(" ", text).split())
