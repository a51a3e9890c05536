"""A simulated upstream: the Runway image-to-video API as a real ASGI app, with no GPU behind it.

It speaks the same routes, bodies, statuses and errors as the real API (see RUNWAY_API.md),
validates requests with the console's own catalogue rules, and renders a short but real
H.264 video from the input frames. Time advances lazily on each request, so tests can drive
it with a fake clock. Outputs are served from ``/outputs/<id>.mp4`` behind signed, expiring
URLs, like the real CDN.

Trigger words put anywhere in ``promptText`` (case-insensitive) make a task behave in a
fixed way, so every path of a client can be exercised on demand:

| trigger | effect |
| --- | --- |
| `[sim:credits]` | the create call answers `400 {"error": "You do not have enough credits to run this task."}` |
| `[sim:moderation]` | `FAILED` with `INPUT_PREPROCESSING.SAFETY.TEXT` right after `PENDING` (never `RUNNING`) |
| `[sim:asset]` | `FAILED` with `ASSET.INVALID` right after `PENDING` (never `RUNNING`) |
| `[sim:internal]` | `FAILED` with `INTERNAL` halfway through `RUNNING` |
| `[sim:bad-output]` | `FAILED` with `INTERNAL.BAD_OUTPUT.CODE01` when `RUNNING` ends |
| `[sim:output-moderation]` | `FAILED` with `SAFETY.OUTPUT.VIDEO` when `RUNNING` ends |
| `[sim:slow]` | `RUNNING` takes three times as long; combines with any other trigger |

When several failure triggers are present, the first in the table wins. An image given as
an https URL is fetched when the video is rendered (5 s timeout); if that fails the task
ends `FAILED` with `ASSET.INVALID`, which is what always happens without internet access.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
from PIL import Image, ImageOps
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from app import images
from app.catalogue import Catalogue, RuleIssue, check_request
from app.config import Settings
from app.i18n import Translator
from app.simulator_video import ZOOM_END, output_size, render_video
from app.timestamps import utc_iso

log = logging.getLogger(__name__)

PENDING, THROTTLED, RUNNING = "PENDING", "THROTTLED", "RUNNING"
SUCCEEDED, FAILED, CANCELLED = "SUCCEEDED", "FAILED", "CANCELLED"
ACTIVE = (PENDING, THROTTLED, RUNNING)

DOC_URL = "https://docs.dev.runwayml.com/api"
# Two 5 MB data URIs plus the other fields, with room to spare; anything larger is abuse.
BODY_MAX_BYTES = 16 * 1024 * 1024
# RUNWAY_API.md: "a URL image at most 16 MB".
URL_IMAGE_MAX_BYTES = 16 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 5.0
SLOW_FACTOR = 3.0
CREDITS_TRIGGER = "[sim:credits]"
SLOW_TRIGGER = "[sim:slow]"
NOT_ENOUGH_CREDITS = "You do not have enough credits to run this task."
TASK_ID_LENGTH = 36

Stage = Literal["preprocessing", "midway", "end"]


@dataclass(frozen=True)
class Outcome:
    """How and when a task fails: a trigger word's effect, or a render that went wrong."""

    stage: Stage
    code: str
    message: str


FAILURE_TRIGGERS: dict[str, Outcome] = {
    "[sim:moderation]": Outcome(
        "preprocessing", "INPUT_PREPROCESSING.SAFETY.TEXT", "Text prompt did not pass moderation"
    ),
    "[sim:asset]": Outcome("preprocessing", "ASSET.INVALID", "Invalid asset: the image cannot be used"),
    "[sim:internal]": Outcome("midway", "INTERNAL", "An unexpected error occurred"),
    "[sim:bad-output]": Outcome(
        "end",
        "INTERNAL.BAD_OUTPUT.CODE01",
        "The output did not pass quality checks; try another image or prompt",
    ),
    "[sim:output-moderation]": Outcome("end", "SAFETY.OUTPUT.VIDEO", "The generated video did not pass moderation"),
}


@dataclass(frozen=True)
class SimulatorConfig:
    """How the simulator paces tasks and renders videos."""

    pending_seconds: float = 1.0
    running_seconds: float = 6.0
    concurrency: int = 2
    url_ttl_seconds: float = 86400.0
    video_max_side: int = 640
    api_secret: str | None = field(default=None, repr=False)
    fps: int = 24

    def __post_init__(self) -> None:
        if self.pending_seconds < 0 or self.running_seconds < 0:
            raise ValueError("pending_seconds and running_seconds cannot be negative")
        if self.concurrency < 1 or self.fps < 1 or self.video_max_side < 2 or self.url_ttl_seconds <= 0:
            raise ValueError("concurrency, fps, video_max_side and url_ttl_seconds must be positive")

    @classmethod
    def from_settings(cls, settings: Settings) -> SimulatorConfig:
        """The simulator part of the operator's settings."""
        secret = settings.sim_api_secret
        return cls(
            pending_seconds=settings.sim_pending_seconds,
            running_seconds=settings.sim_running_seconds,
            concurrency=settings.sim_concurrency,
            url_ttl_seconds=settings.sim_url_ttl_seconds,
            video_max_side=settings.sim_video_max_side,
            api_secret=secret.get_secret_value() if secret is not None else None,
        )


@dataclass
class Frame:
    """One input frame as the renderer needs it: decoded already, or still to fetch."""

    position: str
    label: str
    image: Image.Image | None = None
    url: str | None = None


@dataclass
class TaskRequest:
    """A create body that passed validation."""

    ratio: str
    duration: int
    prompt: str
    frames: list[Frame]
    credits: float | None


class ValidationFailed(Exception):
    """The body breaks the API's rules; `issues` are in Runway's {path, message} shape."""

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        super().__init__("validation failed")
        self.issues = issues


class NotEnoughCredits(Exception):
    """The `[sim:credits]` trigger: refuse the task as an empty account would."""


class SimulatorClosed(Exception):
    """The render executor is shut down; no new task can be accepted."""


@dataclass
class RenderResult:
    """What the render worker produced, stamped with the simulator clock when it finished."""

    done_at: float
    path: Path | None = None
    failure: Outcome | None = None


@dataclass
class Task:
    """One task's state; only touched under the simulator's lock."""

    id: str
    created_wall: float
    created_at: float
    run_seconds: float
    outcome: Outcome | None
    status: str = PENDING
    started_at: float | None = None
    failure: Outcome | None = None
    render: RenderResult | None = None
    future: Future[None] | None = None


class Simulator:
    """All simulator state; every method is safe to call from any thread."""

    def __init__(
        self,
        catalogue: Catalogue,
        config: SimulatorConfig,
        workdir: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.catalogue = catalogue
        self.config = config
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.clock = clock
        self.wall = wall
        self._translate = Translator("en")
        self._url_secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._tasks: dict[str, Task] = {}
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simulator-render")

    def close(self) -> None:
        """Stop accepting renders and wait for the one in progress, if any."""
        with self._lock:
            self._closed = True
        self._executor.shutdown(wait=True, cancel_futures=True)

    def message(self, code: str, **params: object) -> str:
        """The English text of an errors.* key, as the upstream words its issues."""
        return self._translate(f"errors.{code}", **params)

    def check_key(self, authorization: str | None) -> str | None:
        """Why the Authorization header is refused, or None when it is accepted."""
        scheme, _, key = (authorization or "").strip().partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return "Missing API key: send Authorization: Bearer <key>"
        secret = self.config.api_secret
        # Starlette decodes headers as latin-1; re-encoding gives back the bytes sent.
        if secret is not None and not hmac.compare_digest(key.encode("latin-1", "replace"), secret.encode("utf-8")):
            return "Invalid API key"
        return None

    def validate(self, body: object) -> TaskRequest:
        """Check a create body like the upstream; raise ValidationFailed with every issue."""
        return _Validator(self.catalogue, self._translate, self.config.video_max_side).run(body)

    def create(self, request: TaskRequest) -> tuple[str, float | None]:
        """Start a task for a validated request; return its id and estimated credits."""
        prompt = request.prompt.lower()
        if CREDITS_TRIGGER in prompt:
            raise NotEnoughCredits
        outcome = next((o for word, o in FAILURE_TRIGGERS.items() if word in prompt), None)
        run_seconds = self.config.running_seconds * (SLOW_FACTOR if SLOW_TRIGGER in prompt else 1.0)
        with self._lock:
            if self._closed:
                raise SimulatorClosed
            now = self.clock()
            self._advance(now)
            task = Task(
                id=str(uuid.uuid4()),
                created_wall=self.wall(),
                created_at=now,
                run_seconds=run_seconds,
                outcome=outcome,
            )
            if outcome is None:
                task.future = self._executor.submit(
                    self._render, task.id, request.frames, request.ratio, request.duration
                )
            self._tasks[task.id] = task
        return task.id, request.credits

    def get(self, task_id: str, base_url: str) -> dict[str, Any] | None:
        """The task as the API shows it, or None if there is no such task."""
        with self._lock:
            now = self.clock()
            self._advance(now)
            task = self._tasks.get(task_id)
            if task is None:
                return None
            return self._describe(task, now, base_url)

    def cancel_or_delete(self, task_id: str) -> bool:
        """Cancel an unfinished task or forget a finished one; False if there is no such task."""
        with self._lock:
            now = self.clock()
            self._advance(now)
            task = self._tasks.get(task_id)
            if task is None:
                return False
            if task.status in ACTIVE:
                task.status = CANCELLED
                if task.future is not None:
                    task.future.cancel()
                self._discard_video(task)
                self._fill_slots(now)
            else:
                del self._tasks[task_id]
                self._discard_video(task)
            return True

    def sign(self, task_id: str, expires: int) -> str:
        """The signature that makes an output URL valid until `expires` (unix seconds)."""
        message = f"{task_id}.mp4:{expires}".encode()
        return hmac.new(self._url_secret, message, hashlib.sha256).hexdigest()

    def output_url(self, task_id: str, base_url: str) -> str:
        """A fresh signed URL for a task's video, valid for the configured time."""
        expires = int(self.wall() + self.config.url_ttl_seconds)
        return f"{base_url}outputs/{task_id}.mp4?exp={expires}&sig={self.sign(task_id, expires)}"

    def output_file(self, task_id: str) -> Path | None:
        """The rendered video of a task that succeeded, if it is still there."""
        with self._lock:
            self._advance(self.clock())
            task = self._tasks.get(task_id)
            if task is None or task.status != SUCCEEDED or task.render is None:
                return None
            path = task.render.path
        return path if path is not None and path.is_file() else None

    def _describe(self, task: Task, now: float, base_url: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": task.id,
            "status": task.status,
            "createdAt": utc_iso(task.created_wall),
        }
        if task.status == RUNNING:
            data["progress"] = self._progress(task, now)
        elif task.status == SUCCEEDED:
            data["output"] = [self.output_url(task.id, base_url)]
        elif task.status == FAILED and task.failure is not None:
            data["failure"] = task.failure.message
            data["failureCode"] = task.failure.code
        return data

    def _progress(self, task: Task, now: float) -> float:
        assert task.started_at is not None
        if task.run_seconds <= 0:
            return 0.99
        # Full progress is only ever shown as SUCCEEDED; a late render holds the bar at 0.99.
        return round(min(0.99, max(0.0, (now - task.started_at) / task.run_seconds)), 3)

    def _next_event(self, task: Task) -> float | None:
        """When the task next changes status on its own; None if it waits for something else."""
        if task.status == PENDING:
            return task.created_at + self.config.pending_seconds
        if task.status != RUNNING:
            return None
        assert task.started_at is not None
        end = task.started_at + task.run_seconds
        if task.outcome is not None:
            if task.outcome.stage == "midway":
                return task.started_at + task.run_seconds / 2
            return end
        if task.render is None:
            return None
        if task.render.failure is not None:
            return max(task.started_at, task.render.done_at)
        return max(end, task.render.done_at)

    def _advance(self, now: float) -> None:
        """Replay every status change due by `now`, in time order, so slots free up correctly."""
        while True:
            due = [
                (when, index, task)
                for index, task in enumerate(self._tasks.values())
                if (when := self._next_event(task)) is not None and when <= now
            ]
            if not due:
                return
            when, _, task = min(due, key=lambda item: (item[0], item[1]))
            self._fire(task, when)

    def _fire(self, task: Task, when: float) -> None:
        if task.status == PENDING:
            if task.outcome is not None and task.outcome.stage == "preprocessing":
                self._fail(task, task.outcome)
            else:
                task.status = THROTTLED
        elif task.outcome is not None:
            self._fail(task, task.outcome)
        elif task.render is not None and task.render.failure is not None:
            self._fail(task, task.render.failure)
        else:
            task.status = SUCCEEDED
        self._fill_slots(when)

    def _fail(self, task: Task, outcome: Outcome) -> None:
        task.status = FAILED
        task.failure = outcome
        self._discard_video(task)

    def _fill_slots(self, when: float) -> None:
        running = sum(1 for task in self._tasks.values() if task.status == RUNNING)
        for task in self._tasks.values():
            if running >= self.config.concurrency:
                return
            if task.status == THROTTLED:
                task.status = RUNNING
                task.started_at = when
                running += 1

    def _discard_video(self, task: Task) -> None:
        if task.render is not None and task.render.path is not None:
            task.render.path.unlink(missing_ok=True)
            task.render.path = None

    def _render(self, task_id: str, frames: list[Frame], ratio: str, duration: int) -> None:
        """Render worker: fetch URL frames, write the video, and hand the result back."""
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.status not in ACTIVE:
                return
        path = self.workdir / f"{task_id}.mp4"
        result: RenderResult
        try:
            pictures = [frame.image if frame.image is not None else _fetch_frame(frame) for frame in frames]
            render_video(
                pictures[0],
                pictures[1] if len(pictures) > 1 else None,
                ratio,
                duration,
                path,
                max_side=self.config.video_max_side,
                fps=self.config.fps,
            )
            result = RenderResult(done_at=self.clock(), path=path)
        except AssetUnavailable as exc:
            result = RenderResult(done_at=self.clock(), failure=Outcome("end", "ASSET.INVALID", str(exc)))
        except Exception:
            log.exception("simulator render of task %s failed", task_id)
            path.unlink(missing_ok=True)
            result = RenderResult(
                done_at=self.clock(),
                failure=Outcome("end", "INTERNAL", "An unexpected error occurred"),
            )
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.status not in ACTIVE:
                path.unlink(missing_ok=True)
                return
            task.render = result


class AssetUnavailable(Exception):
    """An input image URL could not be fetched or decoded; the message is the task's failure."""


def _fetch_frame(frame: Frame) -> Image.Image:
    assert frame.url is not None
    try:
        with httpx.Client(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client:
            with client.stream("GET", frame.url) as response:
                response.raise_for_status()
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > URL_IMAGE_MAX_BYTES:
                        raise AssetUnavailable(f"The image at {frame.label} is larger than 16 MB")
        return _upright(images.open_image(bytes(data)))
    except AssetUnavailable:
        raise
    except Exception:
        # Whatever went wrong (DNS, TLS, status, bytes), the upstream reports it as a bad asset.
        raise AssetUnavailable(f"Could not fetch the image at {frame.label}") from None


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says, or as stored when the EXIF is unreadable."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        # Broken EXIF makes Pillow raise SyntaxError and friends; the pixels are still usable.
        return image


def _shrink_for_video(image: Image.Image, ratio: str, max_side: int) -> Image.Image:
    """The smallest copy that still covers the video at its deepest zoom.

    Frames wait in the render queue; keeping them at full size would let a burst of tasks
    hold gigabytes of pixels.
    """
    width, height = output_size(ratio, max_side)
    scale = max(width * ZOOM_END / image.width, height * ZOOM_END / image.height)
    image = image.convert("RGB")
    if scale >= 1:
        return image
    size = (max(1, math.ceil(image.width * scale)), max(1, math.ceil(image.height * scale)))
    return image.resize(size, Image.LANCZOS)


def _without_lone_surrogates(text: str) -> str:
    """The text with each lone surrogate (legal in JSON, not in UTF-16 encoders) as U+FFFD.

    Both count as one UTF-16 unit, so the prompt length the catalogue measures is unchanged.
    """
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class _Validator:
    """One pass over a create body, collecting every issue instead of stopping at the first."""

    def __init__(self, catalogue: Catalogue, translate: Translator, max_side: int) -> None:
        self.catalogue = catalogue
        self.translate = translate
        self.max_side = max_side
        self.issues: list[dict[str, Any]] = []
        # Fields whose value could not be read: the catalogue's rules would only repeat that.
        self.unreadable: set[str] = set()

    def add(self, path: list[str | int], code: str, **params: object) -> None:
        self.issues.append({"path": path, "message": self.translate(f"errors.{code}", **params)})

    def run(self, body: object) -> TaskRequest:
        if not isinstance(body, dict):
            self.add([], "body_not_object")
            raise ValidationFailed(self.issues)
        model = self.string(body, "model", required=True)
        ratio = self.string(body, "ratio", required=True)
        duration = self.integer(body, "duration", "duration_not_integer", required=True)
        seed = self.integer(body, "seed", "seed_not_integer", required=False)
        prompt = self.string(body, "promptText", required=False) or ""
        self.typed(body, "watermark", bool)
        self.typed(body, "notify_hook", str)
        self.typed(body, "contentModeration", dict)
        frames, positions, item_index = self.prompt_images(body)

        rule_issues = check_request(
            self.catalogue,
            model=model or "",
            ratio=ratio or "",
            duration=duration,
            positions=positions,
            prompt=_without_lone_surrogates(prompt),
            seed=seed,
        )
        self.add_rule_issues(rule_issues, positions, item_index)
        if self.issues:
            raise ValidationFailed(self.issues)
        assert model is not None and ratio is not None and duration is not None
        spec = self.catalogue.get(model)
        assert spec is not None
        price = spec.price(duration) if self.catalogue.currency == "credits" else None
        order = {"first": 0, "last": 1}
        frames.sort(key=lambda frame: order[frame.position])
        for frame in frames:
            if frame.image is not None:
                frame.image = _shrink_for_video(frame.image, ratio, self.max_side)
        return TaskRequest(ratio=ratio, duration=duration, prompt=prompt, frames=frames, credits=price)

    def present(self, body: dict[str, Any], name: str, required: bool) -> bool:
        # null is treated as left out: clients serialising optional fields send it.
        if body.get(name) is not None:
            return True
        if required:
            self.add([name], "field_required")
            self.unreadable.add(name)
        return False

    def string(self, body: dict[str, Any], name: str, *, required: bool) -> str | None:
        if not self.present(body, name, required):
            return None
        value = body[name]
        if not isinstance(value, str):
            self.add([name], "field_type")
            self.unreadable.add(name)
            return None
        return value

    def integer(self, body: dict[str, Any], name: str, code: str, *, required: bool) -> int | None:
        if not self.present(body, name, required):
            return None
        value = body[name]
        # JSON has one number type: 5.0 is the same number as 5, as the real (JavaScript) API sees it.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        self.add([name], code)
        self.unreadable.add(name)
        return None

    def typed(self, body: dict[str, Any], name: str, kind: type) -> None:
        if self.present(body, name, False) and not isinstance(body[name], kind):
            self.add([name], "field_type")

    def prompt_images(self, body: dict[str, Any]) -> tuple[list[Frame], list[str], list[int]]:
        """The frames, the positions the catalogue should check, and each position's item index."""
        if not self.present(body, "promptImage", True):
            return [], [], []
        value = body["promptImage"]
        if isinstance(value, str):
            frame = self.frame(value, "first", "promptImage", ["promptImage"])
            return [frame] if frame is not None else [], ["first"], [-1]
        if not isinstance(value, list):
            self.add(["promptImage"], "field_type")
            self.unreadable.add("promptImage")
            return [], [], []
        frames: list[Frame] = []
        positions: list[str] = []
        item_index: list[int] = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                self.add(["promptImage", index], "field_type")
                self.unreadable.add("promptImage")
                continue
            position = self.string_at(item, "position", ["promptImage", index, "position"])
            uri = self.string_at(item, "uri", ["promptImage", index, "uri"])
            if position is None:
                self.unreadable.add("promptImage")
                continue
            positions.append(position)
            item_index.append(index)
            if uri is not None:
                frame = self.frame(uri, position, f"promptImage[{index}]", ["promptImage", index, "uri"])
                if frame is not None and position in ("first", "last"):
                    frames.append(frame)
        return frames, positions, item_index

    def string_at(self, item: dict[str, Any], name: str, path: list[str | int]) -> str | None:
        value = item.get(name)
        if value is None:
            self.add(path, "field_required")
            return None
        if not isinstance(value, str):
            self.add(path, "field_type")
            return None
        return value

    def frame(self, uri: str, position: str, label: str, path: list[str | int]) -> Frame | None:
        """Check one image reference; decode data URIs now so a bad one fails the create."""
        if uri[:5].lower() != "data:":
            problem = images.check_image_url(uri)
            if problem is not None:
                self.add(path, problem.code, **problem.params)
                return None
            return Frame(position=position, label=label, url=uri)
        if len(uri) > images.DATA_URI_MAX_BYTES:
            max_mb = images.DATA_URI_MAX_BYTES / 1024 / 1024
            self.add(path, "data_uri_too_large", size_mb=len(uri) / 1024 / 1024, max_mb=max_mb)
            return None
        try:
            _, raw = images.parse_data_uri(uri)
            image = _upright(images.open_image(raw))
        except images.ImageProblem as problem:
            self.add(path, problem.code, **problem.params)
            return None
        width, height = image.size
        if not images.RATIO_MIN <= width / height <= images.RATIO_MAX:
            self.add(path, "image_ratio", width=width, height=height, ratio=f"{width / height:.2f}")
            return None
        if max(width, height) > images.SIDE_MAX:
            self.add(path, "image_side_too_big", width=width, height=height, max=images.SIDE_MAX)
            return None
        return Frame(position=position, label=label, image=image)

    def add_rule_issues(self, rule_issues: list[RuleIssue], positions: list[str], item_index: list[int]) -> None:
        """Add the catalogue's findings, pointing position problems at the array item concerned."""
        reported: set[int] = set()
        for issue in rule_issues:
            if issue.field in self.unreadable:
                continue
            path: list[str | int] = [issue.field]
            params = dict(issue.params)
            slot: int | None = None
            if issue.code == "position_not_allowed":
                slot = next(
                    (i for i, p in enumerate(positions) if p == params.get("position") and i not in reported),
                    None,
                )
            elif issue.code == "position_repeated":
                slot = next((i for i, p in enumerate(positions) if p in positions[:i]), None)
                if slot is not None:
                    params["position"] = positions[slot]
            if slot is not None:
                reported.add(slot)
                if item_index[slot] >= 0:
                    path = ["promptImage", item_index[slot], "position"]
            self.add(path, issue.code, **params)


class ApiJSON(JSONResponse):
    """JSON that is always valid UTF-8: messages can echo a lone surrogate from a client's body."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _validation_error(issues: list[dict[str, Any]]) -> ApiJSON:
    return ApiJSON({"error": "Validation of body failed", "issues": issues, "docUrl": DOC_URL}, status_code=400)


def _error(status: int, message: str) -> ApiJSON:
    return ApiJSON({"error": message}, status_code=status)


def _cdn_error(status: int, code: str, message: str) -> Response:
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>\n'
    return Response(body, status_code=status, media_type="application/xml")


def _public_base(request: Request) -> str:
    """This app's own base URL, ending in '/'.

    Built from root_path rather than request.base_url: inside a Mount, base_url names the
    outermost app, and output links must point at this one.
    """
    root = request.scope.get("root_path", "").rstrip("/")
    return str(request.url.replace(path=f"{root}/", query="", fragment=""))


def _is_task_id(value: str) -> bool:
    if len(value) != TASK_ID_LENGTH:
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


async def _read_json(request: Request) -> object:
    """The body as JSON; raises ValueError for anything unreadable, OverflowError if too big."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_MAX_BYTES:
        raise OverflowError
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > BODY_MAX_BYTES:
            raise OverflowError
    try:
        return json.loads(bytes(data))
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8, bad syntax and integers too long for Python to parse.
        raise ValueError from None


def create_simulator_app(
    catalogue: Catalogue,
    config: SimulatorConfig,
    workdir: Path,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> Starlette:
    """The simulated API; its state lives on `app.state.simulator`, ready before any request."""
    simulator = Simulator(catalogue, config, workdir, clock=clock, wall=wall)

    def refuse(request: Request) -> ApiJSON | None:
        reason = simulator.check_key(request.headers.get("authorization"))
        return _error(401, reason) if reason else None

    async def describe_service(request: Request) -> Response:
        """Say what this is, so nobody mistakes it for the real upstream."""
        return ApiJSON(
            {
                "service": "runway-console simulator",
                "simulated": True,
                "description": "A stand-in for the Runway image-to-video API; videos are "
                "crossfades or zooms of the input frames, not generated.",
                "endpoints": ["POST /v1/image_to_video", "GET /v1/tasks/{id}", "DELETE /v1/tasks/{id}"],
                "models": [model.id for model in catalogue.models],
                "triggers": [CREDITS_TRIGGER, *FAILURE_TRIGGERS, SLOW_TRIGGER],
            }
        )

    async def create_task(request: Request) -> Response:
        """Validate an image-to-video request and queue a task for it."""
        if (refusal := refuse(request)) is not None:
            return refusal
        try:
            body = await _read_json(request)
        except OverflowError:
            return _error(413, "Request body is too large")
        except ValueError:
            return _validation_error([{"path": [], "message": simulator.message("body_not_json")}])
        try:
            task_request = await run_in_threadpool(simulator.validate, body)
            task_id, credits = simulator.create(task_request)
        except ValidationFailed as exc:
            return _validation_error(exc.issues)
        except NotEnoughCredits:
            return _error(400, NOT_ENOUGH_CREDITS)
        except SimulatorClosed:
            return _error(503, "The simulator is shutting down")
        answer: dict[str, Any] = {"id": task_id}
        if credits is not None and math.isfinite(credits):
            answer["estimatedCost"] = {"credits": int(credits) if float(credits).is_integer() else credits}
        return ApiJSON(answer)

    async def get_task(request: Request) -> Response:
        """Show a task's current status, advancing the simulation to now first."""
        if (refusal := refuse(request)) is not None:
            return refusal
        task = simulator.get(request.path_params["task_id"], _public_base(request))
        return ApiJSON(task) if task is not None else _error(404, "Task not found")

    async def delete_task(request: Request) -> Response:
        """Cancel a task that is still going, or delete one that has finished."""
        if (refusal := refuse(request)) is not None:
            return refusal
        if not simulator.cancel_or_delete(request.path_params["task_id"]):
            return _error(404, "Task not found")
        return Response(status_code=204)

    async def download_output(request: Request) -> Response:
        """Serve a rendered video to anyone holding a valid, unexpired signed URL."""
        name: str = request.path_params["name"]
        task_id = name.removesuffix(".mp4")
        expires = request.query_params.get("exp", "")
        signature = request.query_params.get("sig", "")
        if not name.endswith(".mp4") or not _is_task_id(task_id):
            return _cdn_error(404, "NoSuchKey", "The specified key does not exist.")
        if not (expires.isascii() and expires.isdigit() and len(expires) <= 15):
            return _cdn_error(403, "AccessDenied", "Access denied")
        expected = simulator.sign(task_id, int(expires))
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            return _cdn_error(403, "AccessDenied", "Access denied")
        if int(expires) < simulator.wall():
            return _cdn_error(403, "AccessDenied", "Request has expired")
        path = await run_in_threadpool(simulator.output_file, task_id)
        if path is None:
            return _cdn_error(404, "NoSuchKey", "The specified key does not exist.")
        return FileResponse(path, media_type="video/mp4")

    async def answer_http_error(request: Request, exc: Exception) -> Response:
        """Unknown routes and methods answer in the API's JSON error shape."""
        assert isinstance(exc, HTTPException)
        return ApiJSON({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    async def answer_crash(request: Request, exc: Exception) -> Response:
        """A bug must still answer JSON, never a bare traceback page."""
        return _error(500, "Internal simulator error")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(simulator.close)

    app = Starlette(
        routes=[
            Route("/", describe_service, methods=["GET"]),
            Route("/v1/image_to_video", create_task, methods=["POST"]),
            Route("/v1/tasks/{task_id}", get_task, methods=["GET"]),
            Route("/v1/tasks/{task_id}", delete_task, methods=["DELETE"]),
            Route("/outputs/{name}", download_output, methods=["GET"]),
        ],
        exception_handlers={HTTPException: answer_http_error, Exception: answer_crash},
        lifespan=lifespan,
    )
    app.state.simulator = simulator
    return app
