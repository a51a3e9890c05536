"""What the task pages are given: plain dicts built from task records and upstream errors.

The form's own context is app/form_page.py.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from app.catalogue import Catalogue
from app.failures import explain_failure
from app.form_values import Message
from app.media_download import refusal_reason
from app.storage import FrameStore
from app.tasks import TaskRecord, TaskStatus, frame_ref
from app.upstream import UpstreamClient
from app.upstream_errors import UpstreamError


def upstream_messages(error: UpstreamError) -> list[Message]:
    """An upstream failure as the page says it: what it means, then the upstream's own words."""
    messages = [Message(f"upstream.kind.{error.kind.value}", {"status": error.status or "—"})]
    if error.html:
        messages.append(Message("upstream.html_page", {"status": error.status or "—"}))
    if error.detail:
        messages.append(Message("upstream.detail", {"detail": error.detail}))
    return messages


def frame_source(stored: str | None) -> dict[str, str] | None:
    """A stored frame name (a stored-frame reference or a URL) as something a page can show."""
    if not stored:
        return None
    ref = frame_ref(stored)
    return {"ref": ref, "url": ""} if ref else {"ref": "", "url": stored}


def elapsed_seconds(task: TaskRecord, now: float) -> int:
    end = task.finished_at if task.finished_at is not None else now
    return max(0, int(end - task.submitted_at))


def task_summary(task: TaskRecord) -> dict[str, object]:
    """The short form of a task for lists."""
    return {
        "id": task.id,
        "status": task.status,
        "gone": task.gone,
        "model": task.model,
        "ratio": task.ratio,
        "duration": task.duration,
        "prompt": task.prompt or "",
        "first_frame": frame_source(task.first_frame),
        "has_video": task.video_file is not None,
        "created_at": task.created_at,
        "token_name": task.token_name,
    }


def cost_estimate(task: TaskRecord, catalogue: Catalogue) -> float | None:
    """The estimate made when the task was sent, else the catalogue's price for its model and duration."""
    spec = catalogue.get(task.model or "")
    if task.estimated_cost is None and spec is not None and task.duration is not None:
        return spec.price(task.duration)
    return task.estimated_cost


def task_status_context(task: TaskRecord, catalogue: Catalogue, now: float) -> dict[str, object]:
    """Everything _task_status.html needs to draw one moment of a task's life."""
    failure = explain_failure(task.failure_code) if task.status == TaskStatus.FAILED else None
    return {
        "task": task,
        "progress_percent": round((task.progress or 0.0) * 100),
        "elapsed": elapsed_seconds(task, now),
        "failure": failure,
        "cost": task.cost,
        "estimate": cost_estimate(task, catalogue),
        "currency": catalogue.currency,
        "settled": task.is_settled,
        "video_problem": video_problem(task),
        "original_link": web_link(task.output_url),
    }


def video_problem(task: TaskRecord) -> Message | None:
    """Why the video is not here yet: a refusal in the page's words, or the CDN's own."""
    reason = refusal_reason(task.video_error)
    if reason is not None:
        return Message(f"media.refused.{reason}")
    return Message.raw(task.video_error) if task.video_error else None


def web_link(url: str | None) -> str | None:
    """The URL if a page may link to it (http or https only: never javascript:, data: and the like)."""
    if not url or any(c.isspace() or not c.isprintable() for c in url):
        return None
    scheme, separator, _ = url.partition("://")
    return url if separator and scheme.lower() in ("http", "https") else None


def request_display(task: TaskRecord, upstream: UpstreamClient, frames: FrameStore) -> dict[str, object] | None:
    """The exact request the console sent, for developers: URL, headers (no key), body, curl."""
    body = task.request_body(lambda ref: _elided_data_uri(ref, frames))
    if body is None:
        return None
    url = upstream.url("/v1/image_to_video")
    headers = upstream.public_headers()
    curl = " \\\n  ".join(
        [f"curl --request POST --url {shlex.quote(url)}"]
        + [f'--header "{name}: {value}"' for name, value in headers.items()]
        + ["--data @request.json"]
    )
    return {
        "url": url,
        "headers": headers,
        "body": json.dumps(body, indent=2, ensure_ascii=False),
        "curl": curl,
    }


def _elided_data_uri(ref: str, frames: FrameStore) -> str:
    """A stored frame's data URI as the request shows it: its type and encoded size, not megabytes of base64."""
    path = frames.path(ref)
    size = path.stat().st_size if path else 0
    encoded_mb = f" ({size * 4 / 3 / 1024 / 1024:.2f} MB)" if size else ""
    return f"data:{frames.mime(ref)};base64,…{encoded_mb}"


def last_response_display(task: TaskRecord) -> str | None:
    """The upstream's last answer about the task, pretty-printed as it came (the key already scrubbed)."""
    last = task.last_response()
    return json.dumps(last, indent=2, ensure_ascii=False) if last is not None else None


def frame_notes(task: TaskRecord) -> dict[str, list[Message]]:
    """The notes kept about each prepared frame (downscaled, rotated…), as messages."""
    return {position: [Message(key, params) for key, params in pairs] for position, pairs in task.notes().items()}


def replayable_body(task: TaskRecord, frames: FrameStore) -> dict[str, Any] | None:
    """The request body with each stored frame back as its data URI, exactly as it was sent.

    Raises FileNotFoundError when a frame is no longer stored.
    """
    return task.request_body(frames.data_uri)


def task_json(task: TaskRecord, video_url: str | None) -> dict[str, object]:
    """A task as API clients read it (names as in the upstream API where there is one)."""
    return {
        "id": task.id,
        "status": task.status,
        "progress": task.progress,
        "failure": task.failure,
        "failureCode": task.failure_code,
        "createdAt": task.created_at,
        "model": task.model,
        "ratio": task.ratio,
        "duration": task.duration,
        "seed": task.seed,
        "promptText": task.prompt,
        "video": video_url,
        "gone": task.gone,
    }
