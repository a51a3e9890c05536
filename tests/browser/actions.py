"""What the browser tests do again and again: the messages, filling the form, waiting for the video."""

from __future__ import annotations

import re
from pathlib import Path

from app.i18n import load_messages

VIDEO_TIMEOUT_MS = 30_000
# Pages in browser tests ask for news four times as often as by default: the tests wait on them.
PAGE_REFRESH_SECONDS = 0.5
VIDEO_READY = "() => { const v = document.querySelector('video'); return !!v && v.readyState >= 2; }"

EN = load_messages()["en"]
ZH = load_messages()["zh-CN"]


def task_url_pattern(base: str) -> re.Pattern[str]:
    return re.compile(re.escape(base) + r"/tasks/[A-Za-z0-9-]+$")


def fill_and_generate(page, first: Path, last: Path | None, prompt: str) -> None:
    """Attach frames, check their previews appeared, type the prompt and press Generate."""
    page.set_input_files("#first_frame", str(first))
    if last is not None:
        page.set_input_files("#last_frame", str(last))
    for position, attached in (("first", True), ("last", last is not None)):
        if attached:
            preview = page.locator(f"#{position}_frame-fieldset [data-preview-img]")
            page.wait_for_function(
                "(img) => img.src.startsWith('blob:') && !img.hidden && img.complete && img.naturalWidth > 0",
                arg=preview.element_handle(),
            )
    page.fill("#promptText", prompt)
    page.get_by_role("button", name=EN["form.generate"]).click()


def choose_ratio(page, value: str) -> None:
    """Click a ratio choice as a person would: on its label (the radio inside is drawn by the label)."""
    page.locator(f"label.ratio-option:has(input[value='{value}'])").click()
    assert page.input_value("input[name=ratio]:checked") == value


def wait_for_playing_video(page) -> dict[str, object]:
    page.wait_for_function(VIDEO_READY, timeout=VIDEO_TIMEOUT_MS)
    return page.evaluate(
        "() => { const v = document.querySelector('video');"
        " return {src: v.currentSrc, duration: v.duration, width: v.videoWidth, height: v.videoHeight}; }"
    )
