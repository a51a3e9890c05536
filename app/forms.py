"""The task form: read the posted fields, check them against the catalogue, build the submission.

Field names are a contract (scripts post to /tasks): first_frame, last_frame,
first_frame_url, last_frame_url, promptText, model, ratio, duration, seed, watermark,
notify_hook. Frames that passed validation are kept server-side and offered back by
reference (first_frame_ref, last_frame_ref), so a form re-rendered with errors loses
nothing even though browsers cannot re-fill a file input.

Reading the body itself is app/posted_form.py; what the re-drawn form shows is app/form_values.py.
"""

from __future__ import annotations

from contextlib import suppress

from PIL import Image, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from app.aspects import aspect_name, cropped_share, differs_much, ratio_shape
from app.catalogue import Catalogue
from app.form_values import POSITIONS, FormErrors, FormValues, Message
from app.images import ImageProblem, parse_data_uri
from app.intake import FrameIntake, check_submission, make_submission
from app.posted_form import PostedForm
from app.storage import FrameStore
from app.task_submission import Frame, TaskSubmission

SCALAR_FIELDS = ("promptText", "model", "ratio", "duration", "seed", "notify_hook")


async def parse_task_form(
    form: FormData | PostedForm,
    *,
    catalogue: Catalogue,
    frames: FrameStore | FrameIntake,
    max_upload_bytes: int,
) -> tuple[FormValues, TaskSubmission | None, FormErrors]:
    """Read and check a posted task form; a submission is returned only when there is no error.

    `frames` is where frames go and what bounds their checks (a FrameIntake: the decode budget,
    the pixel ceiling, the resolver); a bare FrameStore gets the defaults.
    """
    posted = form if isinstance(form, PostedForm) else PostedForm(form)
    form = posted.data
    intake = frames if isinstance(frames, FrameIntake) else FrameIntake(frames)
    values = _read_values(form)
    errors = FormErrors()
    for name in sorted(posted.undecodable):
        _add_undecodable(errors, name)

    duration = _parse_int(values.duration, errors, "duration", "duration_not_integer")
    seed: int | None = None
    if values.seed.strip():
        seed = _parse_int(values.seed, errors, "seed", "seed_not_integer")

    chosen: list[Frame] = []
    for position in POSITIONS:
        frame = await _read_frame(form, position, values, errors, intake, max_upload_bytes)
        if frame is not None:
            chosen.append(frame)

    frame_errors_seen = any(f"{p}_frame" in errors.fields for p in POSITIONS)
    positions = [f.position for f in chosen]
    if frame_errors_seen and "first" not in positions:
        positions = ["first", *positions]  # the first frame's own error already says enough
    hook = values.notify_hook.strip()
    for issue in check_submission(
        catalogue,
        model=values.model,
        ratio=values.ratio,
        duration=duration if duration is not None else -1,
        positions=positions,
        prompt=values.promptText,
        seed=seed,
        notify_hook=hook,
    ):
        if issue.field == "duration" and "duration" in errors.fields:
            continue
        name = f"{issue.params['position']}_frame" if issue.field == "promptImage" else issue.field
        errors.add(name, Message(f"errors.{issue.code}", issue.params))

    spec = catalogue.get(values.model)
    # Only a ratio the model offers is a W:H the crop arithmetic can read (an unknown model's is unchecked).
    if spec is not None and values.ratio in spec.ratios:
        values.sizes = await run_in_threadpool(_stored_sizes, chosen, intake.frames)
        _note_crops(values)

    if errors:
        return values, None, errors
    submission = make_submission(
        catalogue,
        model=values.model,
        ratio=values.ratio,
        duration=duration,
        prompt=values.promptText,
        seed=seed,
        watermark=values.watermark,
        notify_hook=hook,
        frames=chosen,
    )
    return values, submission, errors


def _stored_sizes(chosen: list[Frame], frames: FrameStore) -> dict[str, tuple[int, int]]:
    """The pixel size of each stored frame, read from its header (stored frames are already upright)."""
    sizes: dict[str, tuple[int, int]] = {}
    for frame in chosen:
        path = frames.path(frame.ref) if frame.ref else None
        if path is not None:
            with suppress(OSError, UnidentifiedImageError), Image.open(path) as stored:
                sizes[frame.position] = stored.size
    return sizes


def _note_crops(values: FormValues) -> None:
    """Say so by a frame when the chosen ratio crops much of it away (the upstream keeps the centre)."""
    for position, (width, height) in values.sizes.items():
        if differs_much(width, height, values.ratio):
            values.notes[position].append(
                Message(
                    "notes.note_crop",
                    {
                        "frame": aspect_name(width, height),
                        "video": ratio_shape(values.ratio).name,
                        "percent": int(cropped_share(width, height, values.ratio) * 100 + 0.5),  # as Math.round
                    },
                )
            )


def _add_undecodable(errors: FormErrors, name: str) -> None:
    for position in POSITIONS:
        if name.startswith(f"{position}_frame"):
            errors.add(f"{position}_frame", Message("errors.text_not_utf8"))
            return
    if name in SCALAR_FIELDS or name == "watermark":
        errors.add(name, Message("errors.text_not_utf8"))
    else:
        errors.general.append(Message("errors.field_not_utf8", {"field": name}))


def _read_values(form: FormData) -> FormValues:
    def text(name: str) -> str:
        value = form.get(name)
        return value if isinstance(value, str) else ""

    values = FormValues(
        model=text("model").strip(),
        ratio=text("ratio").strip(),
        duration=text("duration"),
        seed=text("seed"),
        promptText=text("promptText"),
        notify_hook=text("notify_hook"),
    )
    values.watermark = text("watermark").lower() in ("1", "true", "on", "yes")
    for position in POSITIONS:
        values.urls[position] = text(f"{position}_frame_url").strip()
        if text(f"{position}_frame_clear").lower() not in ("1", "true", "on", "yes"):
            values.refs[position] = text(f"{position}_frame_ref").strip()
    return values


def _parse_int(raw: str, errors: FormErrors, name: str, code: str) -> int | None:
    text = raw.strip()
    if text.isascii() and text.lstrip("-").isdigit() and len(text) <= 20:
        return int(text)
    errors.add(name, Message(f"errors.{code}"))
    return None


async def _read_frame(
    form: FormData,
    position: str,
    values: FormValues,
    errors: FormErrors,
    intake: FrameIntake,
    max_upload_bytes: int,
) -> Frame | None:
    """The frame for one position: a new upload, else a URL, else the one kept from before."""
    name = f"{position}_frame"
    upload = form.get(name)
    has_upload = isinstance(upload, UploadFile) and bool(upload.filename or upload.size)
    url = values.urls[position]
    if has_upload and url:
        errors.add(name, Message("errors.both_file_and_url"))
        return None
    try:
        if has_upload:
            assert isinstance(upload, UploadFile)
            if upload.size is not None and upload.size > max_upload_bytes:
                raise ImageProblem("upload_too_large", max_mb=round(max_upload_bytes / 1024 / 1024, 1))
            return await _store_image(await upload.read(), position, values, intake)
        if url.startswith("data:"):
            _, raw = parse_data_uri(url)
            frame = await _store_image(raw, position, values, intake)
            values.urls[position] = ""
            return frame
        if url:
            frame = await intake.from_url(url, position)
            values.refs[position] = ""
            return frame
        if values.refs[position]:
            return intake.from_ref(values.refs[position], position)
    except ImageProblem as problem:
        values.refs[position] = ""
        errors.add(name, Message(f"errors.{problem.code}", problem.params))
    return None


async def _store_image(raw: bytes, position: str, values: FormValues, intake: FrameIntake) -> Frame:
    frame, notes = await intake.from_bytes(raw, position)
    values.refs[position] = frame.ref or ""
    values.notes[position] = [Message(f"notes.{key}", params) for key, params in notes]
    return frame


def errors_from_upstream(issues: list[tuple[list[str | int], str]], frames: list[Frame]) -> FormErrors:
    """Put the upstream's validation issues next to the fields they name."""
    errors = FormErrors()
    for path, message in issues:
        head = path[0] if path else None
        if head == "promptImage":
            index = path[1] if len(path) > 1 and isinstance(path[1], int) else 0
            position = frames[index].position if 0 <= index < len(frames) else "first"
            errors.add(f"{position}_frame", Message.raw(message))
        elif head in SCALAR_FIELDS or head == "watermark":
            errors.add(str(head), Message.raw(message))
        else:
            where = ".".join(str(p) for p in path)
            errors.general.append(Message.raw(f"{where}: {message}" if where else message))
    return errors
