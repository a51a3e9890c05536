"""Trigger words: text in ``promptText`` that makes a task behave in a fixed way, on demand.

`TRIGGERS` is the one list of them. The simulator's behaviour, its root document and the
README table (`markdown_table`, checked by the tests) all come from it, so they cannot drift.
Matching is case-insensitive; of several failure triggers the first in the list wins, and
`[sim:slow]` combines with any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.api_messages import NOT_ENOUGH_CREDITS

Stage = Literal["preprocessing", "midway", "end"]

SLOW_FACTOR = 3.0

# When in a task's life each failure stage strikes, as the table words it.
STAGE_WORDS: dict[Stage, str] = {
    "preprocessing": "right after `PENDING`",
    "midway": "halfway through `RUNNING`",
    "end": "when `RUNNING` ends",
}


@dataclass(frozen=True)
class Outcome:
    """How and when a task fails: a trigger word's effect, or a render that went wrong."""

    stage: Stage
    code: str
    message: str


@dataclass(frozen=True)
class Trigger:
    """One trigger word and what it does; `failure` is set for the words that fail a task."""

    word: str
    failure: Outcome | None = None
    effect_text: str | None = None

    @property
    def effect(self) -> str:
        """What happens, in the README's words."""
        if self.failure is not None:
            return f"`FAILED` with `{self.failure.code}` {STAGE_WORDS[self.failure.stage]}"
        assert self.effect_text is not None
        return self.effect_text


CREDITS = Trigger(
    "[sim:credits]",
    effect_text=f'the create call answers `400 {{"error": "{NOT_ENOUGH_CREDITS}"}}`',
)
SLOW = Trigger("[sim:slow]", effect_text="`RUNNING` takes three times as long; combines with the others")

TRIGGERS: tuple[Trigger, ...] = (
    CREDITS,
    Trigger(
        "[sim:moderation]",
        Outcome("preprocessing", "INPUT_PREPROCESSING.SAFETY.TEXT", "Text prompt did not pass moderation"),
    ),
    Trigger("[sim:asset]", Outcome("preprocessing", "ASSET.INVALID", "Invalid asset: the image cannot be used")),
    Trigger("[sim:internal]", Outcome("midway", "INTERNAL", "An unexpected error occurred")),
    Trigger(
        "[sim:bad-output]",
        Outcome(
            "end",
            "INTERNAL.BAD_OUTPUT.CODE01",
            "The output did not pass quality checks; try another image or prompt",
        ),
    ),
    Trigger(
        "[sim:output-moderation]",
        Outcome("end", "SAFETY.OUTPUT.VIDEO", "The generated video did not pass moderation"),
    ),
    SLOW,
)


@dataclass(frozen=True)
class PromptEffects:
    """What the trigger words in one prompt ask for."""

    no_credits: bool
    failure: Outcome | None
    slow: bool


def read_prompt(prompt: str) -> PromptEffects:
    """The effects of every trigger word in `prompt`; the first failure in `TRIGGERS` wins."""
    text = prompt.lower()
    failure = next((t.failure for t in TRIGGERS if t.failure is not None and t.word in text), None)
    return PromptEffects(no_credits=CREDITS.word in text, failure=failure, slow=SLOW.word in text)


def markdown_table() -> str:
    """The README's trigger table, one row per trigger in list order."""
    rows = ["| in the prompt | what happens |", "|---|---|"]
    rows += [f"| `{trigger.word}` | {trigger.effect} |" for trigger in TRIGGERS]
    return "\n".join(rows) + "\n"
