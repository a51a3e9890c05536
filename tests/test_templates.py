"""What the templates owe to assistive technology: ids unique per page, every input that can carry a
message marked invalid and pointing at it, and one task-status live region that polls do not replace."""

from __future__ import annotations

import json
import re
from collections import Counter
from html.parser import HTMLParser

import pytest

VALID = {"model": "gen4_turbo", "ratio": "1280:720", "duration": "5", "promptText": "waves roll in"}
HTMX = {"HX-Request": "true"}


class Elements(HTMLParser):
    """Every start tag of a page, as (tag, attributes)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))

    def by_id(self, element_id: str) -> dict[str, str | None]:
        matches = [attrs for _, attrs in self.found if attrs.get("id") == element_id]
        assert len(matches) == 1, (element_id, len(matches))
        return matches[0]

    def duplicate_ids(self) -> list[str]:
        counts = Counter(attrs["id"] for _, attrs in self.found if attrs.get("id"))
        return [element_id for element_id, n in counts.items() if n > 1]


def test_two_messages_for_one_field_have_their_own_ids_and_the_input_names_both(console, fake_upstream, png):
    fake = fake_upstream
    issues = [{"path": ["promptText"], "message": "too vague"}, {"path": ["promptText"], "message": "too short"}]
    fake.queue("create", status=400, body=json.dumps({"error": "Validation failed", "issues": issues}))
    answer = console.post("/tasks", data=VALID, headers=HTMX, files={"first_frame": ("a.png", png, "image/png")})
    assert answer.status_code == 422

    page = Elements(answer.text)
    assert page.duplicate_ids() == []
    assert re.findall(r'id="(promptText-error[^"]*)"[^>]*>([^<]*)<', answer.text) == [
        ("promptText-error", "too vague"),
        ("promptText-error-2", "too short"),
    ]
    prompt = page.by_id("promptText")
    assert prompt["aria-invalid"] == "true"
    assert prompt["aria-describedby"] == "promptText-error promptText-error-2"


@pytest.mark.parametrize(
    "data, field, inputs",
    [
        ({"first_frame_url": "http://example.com/a.png"}, "first_frame", ["first_frame", "first_frame_url"]),
        ({"ratio": "7:3"}, "ratio", None),  # None: every ratio radio the form offers
        ({"duration": "7"}, "duration", ["duration"]),
        ({"model": "no_such_model"}, "model", ["model"]),
        ({"seed": "-1"}, "seed", ["seed"]),
        ({"notify_hook": "not a url"}, "notify_hook", ["notify_hook"]),
    ],
)
def test_every_input_of_a_field_with_a_message_is_invalid_and_described_by_it(sim_console, png, data, field, inputs):
    files = None if "first_frame_url" in data else {"first_frame": ("a.png", png, "image/png")}
    answer = sim_console.post("/tasks", data={**VALID, **data}, headers=HTMX, files=files)
    assert answer.status_code == 422, answer.text

    page = Elements(answer.text)
    assert page.duplicate_ids() == []
    page.by_id(f"{field}-error")
    if inputs is None:
        inputs = [attrs["id"] for tag, attrs in page.found
                  if tag == "input" and attrs.get("name") == field and "disabled" not in attrs]
        assert len(inputs) > 1
    for name in inputs:
        attrs = page.by_id(name)
        assert (attrs.get("aria-invalid"), attrs.get("aria-describedby")) == ("true", f"{field}-error"), name
    others = [attrs["id"] for tag, attrs in page.found
              if tag in ("input", "select", "textarea") and attrs.get("id") not in inputs and "aria-invalid" in attrs]
    assert others == []


def test_a_form_without_messages_marks_nothing_invalid(sim_console):
    html = sim_console.get("/").text
    assert "aria-invalid" not in html and "aria-describedby" not in html
    assert Elements(html).duplicate_ids() == []


def test_the_status_live_region_is_outside_the_box_the_poll_replaces(sim_console, png):
    created = sim_console.post("/tasks", data=VALID, files={"first_frame": ("a.png", png, "image/png")})
    task_url = created.headers["location"]
    page = sim_console.get(task_url).text

    live = Elements(page).by_id("task-status-live")
    assert (live["aria-live"], live["role"]) == ("polite", "status")
    box = Elements(page).by_id("task-status")
    assert "aria-live" not in box and box.get("hx-swap") == "outerHTML"
    fragment = sim_console.get(task_url + "/status", headers=HTMX).text
    assert "task-status-live" not in fragment and "aria-live" not in fragment
    assert "data-announce" in fragment
