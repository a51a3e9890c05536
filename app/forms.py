"""The task form: read what was posted, check it against the catalogue, build the upstream body.

Field names are a contract (scripts post to /tasks): first_frame, last_frame,
first_frame_url, last_frame_url, promptText, model, ratio, duration, seed, watermark,
notify_hook. Frames that passed validation are kept server-side and offered back by
reference (first_frame_ref, last_frame_ref), so a form re-rendered with errors loses
nothing even though browsers cannot re-fill a file input.
"""

from __future__ import annotations

from contextlib import aclosing, suppress
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from PIL import Image, UnidentifiedImageError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import FormParser, MultiPartException, MultiPartParser, parse_options_header
from starlette.requests import Request

from app.aspects import aspect_name, cropped_share, differs_much, ratio_shape
from app.catalogue import Catalogue
from app.images import ImageProblem, parse_data_uri
from app.intake import FrameIntake, check_submission, make_submission
from app.storage import FrameStore
from app.task_submission import Frame, TaskSubmission
from app.tasks import StoredNotes, TaskRecord, frame_ref

POSITIONS = ("first", "last")
SCALAR_FIELDS = ("promptText", "model", "ratio", "duration", "seed", "notify_hook")


class FormUnreadable(Exception):
    """The body is not a form we can parse (malformed multipart, a part over its size)."""


@dataclass
class PostedForm:
    """A parsed form, and the names of the text fields whose bytes were not valid in their charset."""

    data: FormData
    undecodable: frozenset[str] = frozenset()


async def read_form(request: Request, *, max_files: int, max_fields: int, max_part_size: int) -> PostedForm:
    """Parse a urlencoded or multipart body, keeping note of text that is not valid UTF-8.

    Starlette decodes such bytes as Latin-1, which would send mojibake upstream; here the value is
    dropped and its field named, so the form can say which field to type again.
    Raises FormUnreadable; anything the body stream raises (a client gone, a body over its cap)
    passes through, with the temporary files of the parts read so far closed.
    """
    content_type, _ = parse_options_header(request.headers.get("content-type"))
    parser: _StrictMultiPartParser | _StrictFormParser
    try:
        async with aclosing(request.stream()) as stream:
            if content_type == b"multipart/form-data":
                parser = _StrictMultiPartParser(
                    request.headers, stream, max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
                )
            elif content_type == b"application/x-www-form-urlencoded":
                parser = _StrictFormParser(request.headers, stream, max_fields=max_fields, max_part_size=max_part_size)
            else:
                return PostedForm(FormData())
            data = await parser.parse()
    except MultiPartException:
        raise FormUnreadable() from None
    return PostedForm(data, frozenset(parser.undecodable))


class _StrictMultiPartParser(MultiPartParser):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.undecodable: set[str] = set()

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode(self._charset or "utf-8")
            except (UnicodeDecodeError, LookupError):
                self.undecodable.add(part.field_name)
                part.data = bytearray()
        super().on_part_end()


class _StrictFormParser(FormParser):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.undecodable: set[str] = set()

    def on_field_end(self) -> None:
        try:
            name = _form_decode(self._field_name)
        except UnicodeDecodeError:
            name = None
        try:
            _form_decode(self._field_value)
        except UnicodeDecodeError:
            if name is not None:
                self.undecodable.add(name)
            self._field_value = bytearray()
        super().on_field_end()


def _form_decode(raw: bytearray) -> str:
    """A urlencoded name or value as UTF-8, strictly (Starlette's parser would guess)."""
    return unquote_to_bytes(bytes(raw).replace(b"+", b" ")).decode("utf-8")


@dataclass(frozen=True)
class Message:
    """A message for the page: a locale key under errors./notes. and its parameters."""

    key: str
    params: dict[str, object] = field(default_factory=dict)

    @classmethod
    def raw(cls, text: str) -> Message:
        return cls("errors.raw", {"text": text})


@dataclass
class FormValues:
    """What the user typed, kept as strings so a re-rendered form shows it unchanged."""

    model: str = ""
    ratio: str = ""
    duration: str = ""
    seed: str = ""
    promptText: str = ""  # noqa: N815 - the API's and the form's field name
    watermark: bool = False
    notify_hook: str = ""
    urls: dict[str, str] = field(default_factory=lambda: dict.fromkeys(POSITIONS, ""))
    refs: dict[str, str] = field(default_factory=lambda: dict.fromkeys(POSITIONS, ""))
    notes: dict[str, list[Message]] = field(default_factory=lambda: {p: [] for p in POSITIONS})
    # Upright pixel size of each stored frame, when known: for the crop warning.
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    # The task this form was pre-filled from ("Edit and run again"), so kept frames say where they came from.
    edit_of: str = ""

    @classmethod
    def defaults(cls, catalogue: Catalogue) -> FormValues:
        model = catalogue.default_model
        return cls(model=model.id, ratio=model.ratios[0], duration=str(model.durations[0]))

    def stored_notes(self) -> StoredNotes:
        """The notes about prepared frames, as a task record keeps them."""
        return {p: [(m.key, m.params) for m in ms] for p, ms in self.notes.items() if ms}


@dataclass
class FormErrors:
    fields: dict[str, list[Message]] = field(default_factory=dict)
    general: list[Message] = field(default_factory=list)

    def add(self, name: str, message: Message) -> None:
        self.fields.setdefault(name, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)


def values_from_task(task: TaskRecord, catalogue: Catalogue) -> FormValues:
    """A form pre-filled from an earlier task, frames included, to edit and run again."""
    values = FormValues.defaults(catalogue)
    values.model = task.model or values.model
    values.ratio = task.ratio or values.ratio
    values.duration = str(task.duration) if task.duration else values.duration
    values.seed = "" if task.seed is None else str(task.seed)
    values.promptText = task.prompt or ""
    values.watermark = bool(task.watermark)
    values.notify_hook = task.notify_hook or ""
    values.edit_of = task.id
    for position, stored in (("first", task.first_frame), ("last", task.last_frame)):
        ref = frame_ref(stored)
        if ref:
            values.refs[position] = ref
        elif stored:
            values.urls[position] = stored
    return values


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
