"""What a task form shows when it is drawn again: the values as typed, the notes and errors by each
field, as messages the page words in the visitor's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.catalogue import Catalogue
from app.tasks import StoredNotes, TaskRecord, frame_ref

POSITIONS = ("first", "last")


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
