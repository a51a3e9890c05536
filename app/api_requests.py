"""Bodies from API clients, read and checked before anything goes upstream: JSON within a size
limit, an image-to-video create, an upload's start.

The rules are the form's (app.intake: the same frame checks, catalogue rules and callback check);
only the reading (JSON, `promptImage` as a string or a list of {uri, position}, `runway://` uploads)
and the wording (the API's own messages, Runway's {path, message} issues) are the API's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.requests import Request as StarletteRequest

from app.api_errors import api_error, invalid_request
from app.api_messages import issue_message
from app.api_uploads import BodyTooLarge, filename_problem, limited_receive
from app.catalogue import RELAY_OPTIONAL_FIELDS, Catalogue, RuleIssue
from app.images import ImageProblem
from app.intake import FrameIntake, check_submission, make_submission
from app.task_submission import Frame, TaskSubmission
from app.tasks import StoredNotes

UPLOAD_SCHEME = "runway://"
# Problems only the console's API meets; the rest are worded as the Runway API words them.
CONSOLE_ISSUES = {
    "upload_too_large": "Invalid asset: the image is larger than {max_mb} MB; "
    "send larger files through POST /v1/uploads",
    "frame_ref_missing": "Invalid upload URI: no such upload, or it has expired",
}

# A `runway://` URI from this console's POST /v1/uploads, turned into its stored frame ref (None: unusable).
UploadLookup = Callable[[str], str | None]


def api_message(code: str, params: dict[str, object]) -> str:
    template = CONSOLE_ISSUES.get(code)
    if template is not None:
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError):
            return template
    return issue_message(code, **params)


class InvalidRequest(Exception):
    """The body breaks the rules; `issues` are in Runway's {path, message} shape."""

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        super().__init__("validation failed")
        self.issues = issues


@dataclass
class _Reading:
    issues: list[dict[str, Any]] = field(default_factory=list)
    unreadable: set[str] = field(default_factory=set)

    def add(self, path: list[str | int], code: str, **params: object) -> None:
        self.issues.append({"path": path, "message": api_message(code, params)})

    def value(self, body: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool) -> Any:
        value = body.get(name)
        if value is None:  # null is "left out": clients serialising optional fields send it
            if required:
                self.add([name], "field_required")
                self.unreadable.add(name)
            return None
        if kind is int:
            # JSON has one number type: 5.0 is 5, as the (JavaScript) API sees it.
            if isinstance(value, float) and value.is_integer() and math.isfinite(value):
                return int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            self.add([name], f"{name}_not_integer" if name in ("duration", "seed") else "field_type")
            self.unreadable.add(name)
            return None
        if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
            self.add([name], "field_type")
            self.unreadable.add(name)
            return None
        return value


async def read_json_body(request: Request, max_bytes: int) -> object:
    """The request's JSON body, counted as it arrives; 413 past `max_bytes`, 400 when it is not JSON."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise api_error(413, "Request body is too large")
    limited = StarletteRequest(request.scope, limited_receive(request.receive, max_bytes))
    try:
        raw = await limited.body()
    except BodyTooLarge:
        raise api_error(413, "Request body is too large") from None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):  # RecursionError: [[[[… nested too deep
        raise invalid_request([{"path": [], "message": api_message("body_not_json", {})}]) from None


def read_upload_start(body: object) -> str:
    """The file name a POST /v1/uploads body announces; raises the validation failure listing what is wrong."""
    if not isinstance(body, dict):
        raise invalid_request([{"path": [], "message": api_message("body_not_object", {})}])
    issues = []
    code = filename_problem(body.get("filename"))
    if code:
        issues.append({"path": ["filename"], "message": api_message(code, {})})
    if body.get("type") != "ephemeral":
        code = "field_required" if body.get("type") is None else "upload_type"
        issues.append({"path": ["type"], "message": api_message(code, {})})
    if issues:
        raise invalid_request(issues)
    return str(body["filename"])


@dataclass
class _ImageRef:
    uri: str
    position: str
    path: list[str | int]


async def read_create_body(
    body: object,
    *,
    catalogue: Catalogue,
    intake: FrameIntake,
    uploads: UploadLookup,
    max_image_bytes: int,
) -> tuple[TaskSubmission, StoredNotes]:
    """The submission a body asks for, with notes about fitted frames; raises InvalidRequest."""
    reading = _Reading()
    if not isinstance(body, dict):
        reading.add([], "body_not_object")
        raise InvalidRequest(reading.issues)
    model = reading.value(body, "model", str, required=True)
    ratio = reading.value(body, "ratio", str, required=True)
    duration = reading.value(body, "duration", int, required=False)
    seed = reading.value(body, "seed", int, required=False)
    prompt = reading.value(body, "promptText", str, required=False) or ""
    spec = catalogue.get(model) if model is not None else None
    if duration is None and "duration" not in reading.unreadable and spec is not None and spec.default_duration is None:
        reading.add(["duration"], "field_required")
        reading.unreadable.add("duration")
    for name in RELAY_OPTIONAL_FIELDS:
        if body.get(name) is not None and spec is not None and not spec.accepts(name):
            reading.add([name], "field_unrecognized", name=name)
            reading.unreadable.add(name)
    watermark = (
        reading.value(body, "watermark", bool, required=False) if "watermark" not in reading.unreadable else None
    )
    hook = reading.value(body, "notify_hook", str, required=False) if "notify_hook" not in reading.unreadable else None
    refs = _image_refs(body, reading)

    frames: list[Frame] = []
    notes: StoredNotes = {}
    for ref in refs:
        try:
            frame, fitted = await _frame(ref, intake, uploads, max_image_bytes)
        except ImageProblem as problem:
            reading.add(ref.path, problem.code, **problem.params)
            continue
        frames.append(frame)
        if fitted:
            notes[ref.position] = [(f"notes.{key}", params) for key, params in fitted]

    positions = [ref.position for ref in refs]
    issues = check_submission(
        catalogue,
        model=model or "",
        ratio=ratio or "",
        duration=duration,
        positions=positions,
        prompt=prompt,
        seed=seed,
        notify_hook=(hook or "").strip(),
    )
    _add_rule_issues(reading, issues, refs)
    if reading.issues:
        raise InvalidRequest(reading.issues)
    assert model is not None and ratio is not None
    frames.sort(key=lambda frame: frame.position != "first")
    submission = make_submission(
        catalogue,
        model=model,
        ratio=ratio,
        duration=duration,
        prompt=prompt,
        seed=seed,
        watermark=bool(watermark),
        notify_hook=(hook or "").strip(),
        frames=frames,
    )
    return submission, notes


def _image_refs(body: dict[str, Any], reading: _Reading) -> list[_ImageRef]:
    value = body.get("promptImage")
    if value is None:
        reading.add(["promptImage"], "field_required")
        reading.unreadable.add("promptImage")
        return []
    if isinstance(value, str):
        return [_ImageRef(value, "first", ["promptImage"])]
    if not isinstance(value, list):
        reading.add(["promptImage"], "field_type")
        reading.unreadable.add("promptImage")
        return []
    refs: list[_ImageRef] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            reading.add(["promptImage", index], "field_type")
            reading.unreadable.add("promptImage")
            continue
        uri, position = item.get("uri"), item.get("position")
        for name, given in (("uri", uri), ("position", position)):
            if not isinstance(given, str):
                reading.add(["promptImage", index, name], "field_required" if given is None else "field_type")
                reading.unreadable.add("promptImage")
        if isinstance(uri, str) and isinstance(position, str):
            refs.append(_ImageRef(uri, position, ["promptImage", index, "uri"]))
    return refs


async def _frame(
    ref: _ImageRef, intake: FrameIntake, uploads: UploadLookup, max_image_bytes: int
) -> tuple[Frame, list[tuple[str, dict[str, object]]]]:
    """The frame an image reference names; raises ImageProblem as the form would."""
    uri = ref.uri
    if uri.startswith(UPLOAD_SCHEME):
        stored = uploads(uri)
        if stored is None:
            raise ImageProblem("upload_unknown")
        return intake.from_ref(stored, ref.position), []
    if uri[:5].lower() == "data:":
        # Base64 is 4/3 of the bytes: refuse before decoding what would be too large anyway.
        if len(uri) > max_image_bytes * 4 // 3 + 256:
            raise ImageProblem("upload_too_large", max_mb=round(max_image_bytes / 1024 / 1024, 1))
        return await intake.from_data_uri(uri, ref.position)
    return await intake.from_url(uri, ref.position), []


def _add_rule_issues(reading: _Reading, issues: list[RuleIssue], refs: list[_ImageRef]) -> None:
    """The catalogue's findings at Runway's paths: a frame's position problem at that item."""
    for issue in issues:
        if issue.field in reading.unreadable:
            continue
        path: list[str | int] = [issue.field]
        position = issue.params.get("position")
        if issue.code in ("position_not_allowed", "position_repeated"):
            matching = [r for r in refs if r.position == position]
            chosen = matching[-1] if matching else None
            if chosen is not None and len(chosen.path) == 3:
                path = [*chosen.path[:2], "position"]
        reading.add(path, issue.code, **issue.params)
