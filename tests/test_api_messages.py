"""The simulator's error texts: the API's wording, one for every problem the shared checks report."""

from __future__ import annotations

import re

import pytest

from app.api_messages import ISSUES, KNOWN_VERSIONS, issue_message, version_problem
from tests.helpers import REPO

APP = REPO / "app"
# The problem codes the checks the simulator shares with the console can report.
SHARED_CHECKS = {
    "catalogue.py": re.compile(r'RuleIssue\(\s*"\w+",\s*"(\w+)"'),
    "images.py": re.compile(r'ImageProblem\(\s*"(\w+)"'),
    "simulator/validation.py": re.compile(r'self\.add\([^,]+,\s*"(\w+)"'),
}
FORM_WORDING = ("upload an image", "leave blank", "or blank", "choose", "crop it", "please", "the form")


def reported_codes() -> set[str]:
    return {
        code for name, pattern in SHARED_CHECKS.items() for code in pattern.findall((APP / name).read_text("utf-8"))
    }


def test_every_problem_the_shared_checks_report_has_an_api_message():
    codes = reported_codes()
    assert {"model_unknown", "image_type", "field_required", "position_repeated"} <= codes
    assert codes - set(ISSUES) == set()


@pytest.mark.parametrize("code", sorted(ISSUES))
def test_no_message_borrows_the_web_forms_wording(code):
    text = ISSUES[code].lower()
    assert not any(phrase in text for phrase in FORM_WORDING), text


def test_messages_fill_in_their_parameters_and_survive_missing_ones():
    assert issue_message("ratio_not_allowed", model="gen4_turbo", allowed="1280:720") == (
        "Invalid ratio for gen4_turbo: expected one of 1280:720"
    )
    assert issue_message("ratio_not_allowed") == ISSUES["ratio_not_allowed"]
    assert issue_message("no_such_code") == "Invalid input"


def test_the_version_header_is_named_when_missing_or_unknown():
    assert version_problem(KNOWN_VERSIONS[0]) is None
    assert version_problem(f" {KNOWN_VERSIONS[0]} ") is None
    for value in (None, "", "2099-01-01", "x" * 500):
        problem = version_problem(value)
        assert problem is not None and "X-Runway-Version" in problem and len(problem) < 200
