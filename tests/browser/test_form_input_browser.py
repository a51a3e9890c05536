"""Input on the task form in a real Chromium, at desktop and phone sizes: frames dropped or pasted onto
their cards, the ratio chosen from the first frame's upright shape, messages that come into view and go
when their field changes (with and without JavaScript), the sticky Generate bar, the keyboard, the
simulator notice, upload progress and local times. The built-in simulator is the upstream."""

from __future__ import annotations

import base64
import io
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.actions import EN, ZH, choose_ratio
from tests.helpers import image_bytes

FAILED_LOAD_422 = r"Failed to load resource: the server responded with a status of 422"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SIZES = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])

# Builds a File from base64 in the page and hands it over the way a browser would: a drop event on a
# card, or a paste event on whatever has focus, each carrying a DataTransfer.
DROP = """([selector, b64, name, type]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const card = document.querySelector(selector);
  for (const kind of ["dragenter", "dragover", "drop"]) {
    card.dispatchEvent(new DragEvent(kind, { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }
}"""
PASTE = """([b64, name, type]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const target = document.activeElement || document.body;
  const paste = new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true });
  return target.dispatchEvent(paste);
}"""
CHOSEN_FILE = "(input) => input.files.length ? input.files[0].name : ''"
PREVIEW_SHOWN = "(img) => img.src.startsWith('blob:') && !img.hidden && img.complete && img.naturalWidth > 0"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def rotated_portrait_jpeg() -> bytes:
    """900×600 pixels as stored, EXIF orientation 6: an upright 600×900 portrait photo, as phones write them."""
    image = Image.open(io.BytesIO(image_bytes(900, 600, (200, 120, 40), image_format="JPEG")))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def checked_ratio(page) -> str:
    return page.input_value("input[name=ratio]:checked")


def wait_for_preview(page, position: str) -> None:
    img = page.locator(f"#{position}_frame-fieldset [data-preview-img]")
    page.wait_for_function(PREVIEW_SHOWN, arg=img.element_handle())


@SIZES
def test_a_file_dropped_on_a_card_becomes_that_cards_frame(pages, console_url, viewport):
    page = pages.new(viewport=viewport)
    page.goto(console_url + "/")
    page.evaluate(DROP, ["#last_frame-fieldset", b64(image_bytes(640, 384)), "dropped.png", "image/png"])
    wait_for_preview(page, "last")
    assert page.locator("#last_frame").evaluate(CHOSEN_FILE) == "dropped.png"
    assert page.locator("#first_frame").evaluate(CHOSEN_FILE) == ""
    expect(page.locator("#last_frame-fieldset [data-frame-clear]")).to_be_visible()

    page.click("#last_frame-fieldset [data-frame-clear]")
    assert page.locator("#last_frame").evaluate(CHOSEN_FILE) == ""
    expect(page.locator("#last_frame-fieldset [data-preview-img]")).to_be_hidden()
    expect(page.locator("#last_frame-fieldset [data-preview-empty]")).to_be_visible()


def test_a_pasted_image_goes_to_the_first_empty_card_or_the_focused_one(page, console_url):
    page.goto(console_url + "/")
    page.focus("#promptText")
    assert page.evaluate(PASTE, [b64(image_bytes(640, 384)), "one.png", "image/png"]) is False  # handled
    wait_for_preview(page, "first")
    assert page.locator("#first_frame").evaluate(CHOSEN_FILE) == "one.png"

    page.focus("#promptText")
    page.evaluate(PASTE, [b64(image_bytes(640, 384, (200, 40, 40))), "two.png", "image/png"])
    wait_for_preview(page, "last")
    assert page.locator("#last_frame").evaluate(CHOSEN_FILE) == "two.png"
    assert page.locator("#first_frame").evaluate(CHOSEN_FILE) == "one.png"

    # Both full: the card that has the focus takes it.
    page.focus("#first_frame_url")
    page.evaluate(PASTE, [b64(image_bytes(640, 384, (40, 200, 40))), "three.png", "image/png"])
    page.wait_for_function("() => document.querySelector('#first_frame').files[0].name === 'three.png'")
    assert page.locator("#last_frame").evaluate(CHOSEN_FILE) == "two.png"

    # Text pasted into the prompt stays text.
    page.focus("#promptText")
    page.evaluate(
        "() => { const t = new DataTransfer(); t.setData('text/plain', 'hello');"
        " return document.activeElement.dispatchEvent(new ClipboardEvent('paste', {clipboardData: t,"
        " bubbles: true, cancelable: true})); }"
    )
    assert page.locator("#first_frame").evaluate(CHOSEN_FILE) == "three.png"


@SIZES
def test_a_portrait_photo_picks_a_portrait_ratio_and_says_so(pages, console_url, viewport):
    page = pages.new(viewport=viewport)
    page.goto(console_url + "/")
    assert checked_ratio(page) == "1280:720"
    note = page.locator("[data-ratio-note]")
    expect(note).to_be_hidden()

    page.set_input_files(
        "#first_frame", files=[{"name": "phone.jpg", "mimeType": "image/jpeg", "buffer": rotated_portrait_jpeg()}]
    )
    expect(note).to_have_text(EN["form.ratio_chosen_portrait"].format(ratio="3:4"))
    assert checked_ratio(page) == "832:1104"  # 600×900 upright is 0.67: 3:4 (0.75) is closer than 9:16 (0.56)
    warning = page.locator("[data-crop-warning]")
    crop = page.locator("#first_frame-fieldset [data-crop-box]")
    expect(warning).to_be_hidden()
    expect(crop).to_be_hidden()

    # Changed by hand to a landscape ratio: a warning, and the kept band outlined on the preview.
    choose_ratio(page, "1280:720")
    expect(note).to_be_hidden()
    expect(warning).to_be_visible()
    expect(warning).to_have_text(EN["form.crop_warning"].format(frame="2:3", video="16:9", percent=63))
    expect(crop).to_be_visible()
    img_box = page.locator("#first_frame-fieldset [data-preview-img]").bounding_box()
    crop_box = crop.bounding_box()
    assert abs(crop_box["width"] - img_box["width"]) < 2
    assert crop_box["height"] == pytest.approx(img_box["height"] * (600 / 1280 * 720) / 900, abs=2)

    # A later frame does not override the user's choice.
    page.set_input_files("#first_frame", files=[{"name": "p.png", "mimeType": "image/png",
                                                 "buffer": image_bytes(400, 700)}])
    expect(warning).to_have_text(EN["form.crop_warning"].format(frame="9:16", video="16:9", percent=68))
    assert checked_ratio(page) == "1280:720"

    choose_ratio(page, "720:1280")
    expect(warning).to_be_hidden()
    expect(crop).to_be_hidden()


def test_switching_model_keeps_the_frame_shape(page, console_url):
    page.goto(console_url + "/")
    page.set_input_files("#first_frame", files=[{"name": "p.png", "mimeType": "image/png",
                                                 "buffer": image_bytes(400, 700)}])
    page.wait_for_function("() => document.querySelector('input[name=ratio]:checked').value === '720:1280'")
    page.select_option("#model", "gen3a_turbo")
    assert checked_ratio(page) == "768:1280"
    expect(page.locator("[data-ratio-note]")).to_have_text(EN["form.ratio_chosen_portrait"].format(ratio="3:5"))


def run_rejected_submit(page, url: str) -> None:
    """A bad seed at the bottom of a long form, Generate pressed from the bottom of the page."""
    page.goto(url + "/")
    page.fill("#promptText", "a quiet harbour at dawn")
    page.fill("#seed", "abc")
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    page.locator("#task-form button[type=submit]").click()


@SIZES
def test_a_rejected_submit_brings_the_messages_into_view_and_focus(pages, console_url, viewport):
    pages.allow(FAILED_LOAD_422)
    page = pages.new(viewport=viewport)
    run_rejected_submit(page, console_url)
    summary = page.locator("#form-errors")
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    links = summary.get_by_role("link")
    expect(links).to_have_text([
        f"{EN['form.first_frame']}: {EN['errors.first_frame_required']}",
        f"{EN['form.seed']}: {EN['errors.seed_not_integer']}",
    ])

    links.nth(1).click()
    expect(page.locator("#seed")).to_be_focused()
    expect(page.locator("#seed-error")).to_be_in_viewport()

    # The seed's message goes as soon as the seed changes; the frame's stays until the frame does.
    page.fill("#seed", "42")
    expect(page.locator("#seed-error")).to_have_count(0)
    assert page.locator("#seed").get_attribute("aria-invalid") is None
    expect(links).to_have_count(1)
    page.evaluate(DROP, ["#first_frame-fieldset", b64(image_bytes()), "f.png", "image/png"])
    expect(page.locator("#first_frame-error")).to_have_count(0)
    expect(page.locator("#first_frame-fieldset")).not_to_have_class(re.compile("has-error"))
    expect(summary).to_have_count(0)


@SIZES
def test_without_javascript_the_summary_is_focused_and_links_to_each_field(pages, console_url, viewport):
    pages.allow(FAILED_LOAD_422)
    page = pages.new(viewport=viewport, java_script_enabled=False)
    run_rejected_submit(page, console_url)
    page.wait_for_url(console_url + "/tasks")
    summary = page.locator("#form-errors")
    expect(summary).to_be_focused()
    expect(summary).to_be_in_viewport()
    page.get_by_role("link", name=re.compile(re.escape(EN["errors.seed_not_integer"]))).click()
    expect(page.locator("#seed")).to_be_in_viewport()
    assert page.url.endswith("/tasks#seed")


def test_a_refused_frame_keeps_its_preview_beside_its_message(pages, page, console_url):
    pages.allow(FAILED_LOAD_422)
    page.goto(console_url + "/")
    page.set_input_files("#first_frame", files=[{"name": "wide.png", "mimeType": "image/png",
                                                 "buffer": image_bytes(900, 300)}])
    wait_for_preview(page, "first")
    page.locator("#task-form button[type=submit]").click()
    error = page.locator("#first_frame-error")
    expect(error).to_contain_text("0.5 to 2")
    card = page.locator("#first_frame-fieldset")
    expect(card).to_have_class(re.compile("frame-rejected"))
    wait_for_preview(page, "first")
    assert page.locator("#first_frame").evaluate(CHOSEN_FILE) == ""  # not sent again by itself


def submit_directly(console_url: str, prompt: str) -> str:
    """A task made without the browser (loopback POST); returns its page's path."""
    answer = httpx.post(
        console_url + "/tasks",
        data={"model": "gen4_turbo", "ratio": "1280:720", "duration": "5", "promptText": prompt},
        files={"first_frame": ("f.png", image_bytes(), "image/png")},
    )
    assert answer.status_code == 303
    return answer.headers["location"]


def test_on_a_phone_generate_stays_in_reach_and_targets_are_big_enough(pages, console_url):
    submit_directly(console_url, "a very long prompt that a recent-tasks line shows on one line " * 3)
    page = pages.new(viewport=PHONE)
    page.goto(console_url + "/")
    expect(page.locator(".task-list")).to_be_visible()
    generate = page.locator("#task-form button[type=submit]")
    for where in ("0", "document.body.scrollHeight / 3", "document.querySelector('#seed').offsetTop - 200"):
        page.evaluate(f"() => window.scrollTo(0, {where})")
        expect(generate).to_be_in_viewport(ratio=1)
    small = page.evaluate(
        """() => Array.from(document.querySelectorAll(
            '#task-form button, #task-form select, #task-form textarea, #task-form summary, .ratio-option,'
            + ' #task-form input:not([type=hidden]):not([type=radio]):not([type=checkbox]), label.inline,'
            + ' .sim-dismiss, .topbar a'))
          .filter((el) => el.checkVisibility())
          .map((el) => [el.outerHTML.slice(0, 60), el.getBoundingClientRect().height])
          .filter(([, height]) => height < 44)"""
    )
    assert small == []
    overflowing = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflowing <= 0


@pytest.mark.parametrize("locale, messages", [("en-US", EN), ("zh-CN", ZH)], ids=["en", "zh-CN"])
def test_on_a_phone_no_word_is_broken_and_the_notice_is_short(pages, console_url, locale, messages):
    page = pages.new(viewport=PHONE, locale=locale)
    page.goto(console_url + "/")
    banner = page.locator("[data-sim-banner]")
    expect(banner).to_have_text(re.compile(re.escape(messages["upstream.simulator_banner_short"])))
    assert banner.bounding_box()["height"] < 80
    styles = page.evaluate(
        """() => Array.from(document.querySelectorAll('body *')).filter((el) => el.checkVisibility())
          .map((el) => getComputedStyle(el)).filter((s) => s.wordBreak === 'break-all' || s.hyphens === 'auto')
          .length"""
    )
    assert styles == 0


def test_the_simulator_notice_once_dismissed_stays_dismissed(pages, console_url):
    page = pages.new(viewport=PHONE)
    page.goto(console_url + "/")
    banner = page.locator("[data-sim-banner]")
    expect(banner).to_be_visible()
    page.get_by_role("button", name=EN["upstream.dismiss"]).click()
    expect(banner).to_be_hidden()
    page.reload()
    expect(page.locator("#task-form")).to_be_visible()
    expect(banner).to_be_hidden()


def test_keyboard_only_reaches_a_ratio_and_chooses_it_with_arrows(page, console_url):
    page.goto(console_url + "/")
    page.focus("#duration")
    page.keyboard.press("Tab")
    focused = page.locator("input[name=ratio]:focus")
    expect(focused).to_have_count(1)
    assert focused.get_attribute("value") == "1280:720"
    outline = page.evaluate("() => getComputedStyle(document.activeElement.closest('label')).outlineStyle")
    assert outline != "none", "the focused ratio has no visible focus"
    page.keyboard.press("ArrowRight")
    assert checked_ratio(page) == "720:1280"
    page.keyboard.press("ArrowRight")
    assert checked_ratio(page) == "1104:832"
    page.keyboard.press("ArrowLeft")
    assert checked_ratio(page) == "720:1280"
    page.keyboard.press("Tab")
    expect(page.locator("#seed")).to_be_focused()

    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea, button'))
          .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.textContent.trim())
          .map((el) => el.outerHTML.slice(0, 80))"""
    )
    assert unlabelled == []


def test_large_uploads_show_their_progress(pages, page, console_url, tmp_path: Path):
    pages.allow(FAILED_LOAD_422)
    noise = Image.frombytes("RGB", (1000, 1000), os.urandom(3_000_000))
    big = tmp_path / "big.png"
    noise.save(big)
    page.goto(console_url + "/")
    page.evaluate(
        "() => { window.__progress = [];"
        " document.addEventListener('htmx:xhr:progress', () => {"
        "  const box = document.querySelector('[data-upload-progress]');"
        "  window.__progress.push([box.hidden, box.querySelector('progress').value,"
        "   box.querySelector('[data-upload-percent]').textContent]); }); }"
    )
    page.set_input_files("#first_frame", str(big))
    page.fill("#seed", "abc")
    page.locator("#task-form button[type=submit]").click()
    expect(page.locator("#seed-error")).to_be_visible()
    seen = page.evaluate("() => window.__progress")
    shown = [entry for entry in seen if not entry[0]]
    assert shown, seen
    assert shown[-1][1] == 100 and shown[-1][2] == EN["form.uploading"].format(percent=100)
    assert [value for _, value, _ in shown] == sorted(value for _, value, _ in shown)
    expect(page.locator("[data-upload-progress]")).to_be_hidden()  # over once the answer is in


def test_times_are_shown_in_the_viewers_time_zone(pages, console_url):
    page = pages.new(timezone_id="Asia/Shanghai", locale="en-US")
    page.goto(console_url + submit_directly(console_url, "tz"))
    shown = page.locator("time[datetime]").first
    expect(shown).to_have_attribute("data-localised", "true")
    utc = datetime.fromisoformat(shown.get_attribute("datetime").replace("Z", "+00:00"))
    local = utc.astimezone(timezone(timedelta(hours=8)))
    assert f"{local:%H:%M}" in shown.inner_text()
    assert f"{utc:%H:%M}" in (shown.get_attribute("title") or "") and "UTC" in shown.get_attribute("title")
