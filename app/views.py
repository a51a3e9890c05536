"""What the templates are given: plain dicts built from forms, task records and upstream errors."""

from __future__ import annotations

import json
import shlex
import time

from app.catalogue import Catalogue
from app.failures import explain_failure
from app.forms import FormErrors, FormValues, Message
from app.storage import FrameStore, TaskRecord
from app.upstream import UpstreamClient, UpstreamError


def form_context(catalogue: Catalogue, values: FormValues, errors: FormErrors) -> dict[str, object]:
    """Everything _form.html needs; an unknown model falls back to the first one for its choices."""
    selected = catalogue.get(values.model) or catalogue.default_model
    return {
        "values": values,
        "errors": errors,
        "catalogue": catalogue,
        "selected_model": selected,
        "catalogue_json": catalogue.as_public_json(),
    }


def upstream_messages(error: UpstreamError) -> list[Message]:
    """An upstream failure as the page says it: what it means, then the upstream's own words."""
    messages = [Message(f"upstream.kind.{error.kind}", {"status": error.status or "—"})]
    if error.html:
        messages.append(Message("upstream.html_page", {"status": error.status or "—"}))
    if error.detail:
        messages.append(Message("upstream.detail", {"detail": error.detail}))
    return messages


def frame_source(stored: str | None) -> dict[str, str] | None:
    """A stored frame name (frame:<ref> or a URL) as something a page can show."""
    if not stored:
        return None
    if stored.startswith("frame:"):
        return {"ref": stored.removeprefix("frame:"), "url": ""}
    return {"ref": "", "url": stored}


def elapsed_seconds(task: TaskRecord, now: float | None = None) -> int:
    end = task.finished_at if task.finished_at is not None else (now or time.time())
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
    }


def task_status_context(task: TaskRecord, catalogue: Catalogue) -> dict[str, object]:
    """Everything _task_status.html needs to draw one moment of a task's life."""
    failure = explain_failure(task.failure_code) if task.status == "FAILED" else None
    spec = catalogue.get(task.model or "")
    estimate = task.estimated_cost
    if estimate is None and spec is not None and task.duration is not None:
        estimate = spec.price(task.duration)
    return {
        "task": task,
        "progress_percent": round((task.progress or 0.0) * 100),
        "elapsed": elapsed_seconds(task),
        "failure": failure,
        "cost": task.cost,
        "estimate": estimate,
        "currency": catalogue.currency,
        "settled": task.is_settled,
    }


def request_display(task: TaskRecord, upstream: UpstreamClient, frames: FrameStore) -> dict[str, object] | None:
    """The exact request the console sent, for developers: URL, headers (no key), body, curl."""
    if not task.request_json:
        return None
    body = json.loads(task.request_json)
    for image in body.get("promptImage", []):
        uri = image.get("uri", "")
        if uri.startswith("frame:"):
            ref = uri.removeprefix("frame:")
            path = frames.path(ref)
            size = path.stat().st_size if path else 0
            encoded_mb = f" ({size * 4 / 3 / 1024 / 1024:.2f} MB)" if size else ""
            image["uri"] = f"data:{frames.mime(ref)};base64,…{encoded_mb}"
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
