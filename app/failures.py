"""Plain-language explanations for upstream failure codes, grouped by dotted prefix.

The set of codes is open-ended, so an unknown code is explained by the longest known
prefix it starts with, and by a generic text when none matches.
"""

from __future__ import annotations

from dataclasses import dataclass

# Longest prefix wins; the group names are message keys under failure.<group>.
FAILURE_GROUPS: dict[str, str] = {
    "INPUT_PREPROCESSING.SAFETY": "input_safety",
    "SAFETY.INPUT": "input_safety",
    "SAFETY.OUTPUT": "output_safety",
    "INTERNAL.BAD_OUTPUT": "bad_output",
    "INPUT_PREPROCESSING.INTERNAL": "internal",
    "INTERNAL": "internal",
    "ASSET": "asset",
    "CONSOLE.SUBMISSION_INTERRUPTED": "interrupted",
}
RETRY_HELPS = {"internal"}


@dataclass(frozen=True)
class FailureExplanation:
    group: str
    retry_helps: bool


def explain_failure(code: str | None) -> FailureExplanation:
    """Which group a failure code belongs to and whether retrying as-is is worth it."""
    segments = (code or "").strip().upper().split(".")
    for length in range(len(segments), 0, -1):
        group = FAILURE_GROUPS.get(".".join(segments[:length]))
        if group:
            return FailureExplanation(group, group in RETRY_HELPS)
    return FailureExplanation("unknown", False)
