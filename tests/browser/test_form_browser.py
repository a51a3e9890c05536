"""The task form in a real Chromium: errors by their field after an HTMX swap, model switching, seed
rolling, frame previews and the page language. The built-in simulator is the upstream."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Locator, expect

from app.catalogue import SEED_MAX
from tests.browser.actions import EN, ZH, choose_ratio

FAILED_LOAD_422 = r"Failed to load resource: the server responded with a status of 422"


def generate_until_shown(page, selector: str) -> Locator:
    """Press Generate and wait for the element the answer should bring (an error swapped in by HTMX)."""
    page.get_by_role("button", name=EN["form.generate"]).click()
    shown = page.locator(selector)
    shown.wait_for()
    return shown


def test_validation_errors_render_in_place_by_their_field(pages, page, console_url, frame_files):
    pages.allow(FAILED_LOAD_422)
    first, _ = frame_files
    page.goto(console_url + "/")
    page.evaluate("() => { window.__sameDocument = true; }")

    # No first frame: the form comes back in place with the message in the first-frame card.
    page.fill("#promptText", "a quiet harbour at dawn")
    error = generate_until_shown(page, "#first_frame-fieldset .field-error")
    assert error.inner_text() == EN["errors.first_frame_required"]
    assert page.locator("#first_frame-error").count() == 1
    assert page.locator("#first_frame").get_attribute("aria-describedby") == "first_frame-error"
    assert page.input_value("#promptText") == "a quiet harbour at dawn"
    assert page.url == console_url + "/"
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded instead of swapped"

    # A seed that is not a number: message by the seed, everything else (frame included) kept.
    page.set_input_files("#first_frame", str(first))
    choose_ratio(page, "720:1280")
    page.select_option("#duration", "10")
    page.fill("#seed", "abc")
    seed_error = generate_until_shown(page, "#seed-error")
    assert seed_error.inner_text() == EN["errors.seed_not_integer"]
    assert page.locator("#first_frame-error").count() == 0
    assert page.input_value("#seed") == "abc"
    assert page.input_value("#promptText") == "a quiet harbour at dawn"
    assert page.input_value("input[name=ratio]:checked") == "720:1280"
    assert page.input_value("#duration") == "10"
    assert page.locator("input[name=first_frame_ref]").count() == 1, "the uploaded frame was not kept"
    kept = page.locator("#first_frame-fieldset [data-preview-img]").get_attribute("src") or ""
    assert kept.startswith("/frames/")
    assert page.url == console_url + "/"
    assert page.evaluate("() => window.__sameDocument === true")


def test_switching_model_updates_options_last_frame_and_estimate(page, console, tmp_path):
    catalogue = {
        "currency": "credits",
        "models": [
            {
                "id": "duo",
                "label": "Duo",
                "ratios": ["1280:720", "720:1280"],
                "durations": [5, 10],
                "positions": ["first", "last"],
                "prices": {"5": 25, "10": 50},
            },
            {
                "id": "solo",
                "label": "Solo",
                "ratios": ["960:960", "1584:672", "832:1104"],
                "durations": [3, 6, 9],
                "positions": ["first"],
                "prompt_max_units": 500,
                "prices": {"3": 7.5, "6": 15, "9": 22.5},
            },
        ],
    }
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(catalogue), "utf-8")
    url = console(CONSOLE_CATALOGUE=str(path)).url
    page.goto(url + "/")

    def options(selector: str) -> list[str]:
        return page.locator(f"{selector} option").evaluate_all("(os) => os.map(o => o.value)")

    def ratios() -> list[str]:
        """The ratio choices the form offers, in order: visible and enabled radios."""
        return page.locator("input[name=ratio]").evaluate_all(
            "(rs) => rs.filter(r => !r.disabled && r.closest('label').checkVisibility()).map(r => r.value)"
        )

    estimate = page.locator("[data-estimate]")
    last_fieldset = page.locator("#last_frame-fieldset")
    assert ratios() == ["1280:720", "720:1280"]
    assert options("#duration") == ["5", "10"]
    assert estimate.inner_text().strip() == f"{EN['form.estimate']}: 25 credits"
    assert last_fieldset.get_attribute("disabled") is None
    assert last_fieldset.locator(".last-frame-off").is_hidden()
    page.evaluate("() => { window.__sameDocument = true; }")

    page.select_option("#model", "solo")
    assert ratios() == ["960:960", "1584:672", "832:1104"]
    assert options("#duration") == ["3", "6", "9"]
    assert page.locator("#duration option").all_inner_texts() == ["3 s", "6 s", "9 s"]
    assert last_fieldset.get_attribute("disabled") is not None
    assert page.locator("#last_frame").is_disabled()
    assert last_fieldset.locator(".last-frame-off").is_visible()
    assert estimate.inner_text().strip() == f"{EN['form.estimate']}: 7.5 credits"
    assert page.locator("[data-prompt-max]").inner_text() == "500"
    page.select_option("#duration", "9")
    assert estimate.inner_text().strip() == f"{EN['form.estimate']}: 22.5 credits"

    page.select_option("#model", "duo")
    assert ratios() == ["1280:720", "720:1280"]
    assert options("#duration") == ["5", "10"]
    assert last_fieldset.get_attribute("disabled") is None
    assert page.locator("#last_frame").is_enabled()
    assert estimate.inner_text().strip() == f"{EN['form.estimate']}: 25 credits"
    assert page.evaluate("() => window.__sameDocument === true"), "switching models reloaded the page"


def test_roll_seed_fills_a_valid_seed(page, console_url):
    page.goto(console_url + "/")
    assert page.input_value("#seed") == ""
    rolled = set()
    for _ in range(3):
        page.click("[data-roll-seed]")
        value = page.input_value("#seed")
        assert re.fullmatch(r"\d+", value), value
        assert 0 <= int(value) <= SEED_MAX
        rolled.add(value)
    assert len(rolled) > 1, "three rolls gave the same seed"


def test_a_replaced_preview_frees_its_object_url(pages, page, console_url, frame_files):
    pages.allow(r"ERR_FILE_NOT_FOUND")  # the fetch of the revoked URL below, meant to fail
    first, last = frame_files
    page.goto(console_url + "/")
    preview = page.locator("#first_frame-fieldset [data-preview-img]")
    page.set_input_files("#first_frame", str(first))
    expect(preview).to_have_attribute("src", re.compile("^blob:"))
    old = preview.get_attribute("src")
    page.set_input_files("#first_frame", str(last))
    expect(preview).not_to_have_attribute("src", old or "")
    new = preview.get_attribute("src") or ""
    assert new.startswith("blob:")
    load = (
        "(url) => new Promise((done) => { const img = new Image();"
        " img.onload = () => done('alive'); img.onerror = () => done('revoked'); img.src = url; })"
    )
    assert page.evaluate(load, old) == "revoked"
    assert page.evaluate(load, new) == "alive"


def test_language_follows_browser_then_sticks_after_switching(pages, console_url):
    page = pages.new(locale="zh-CN")
    page.goto(console_url + "/")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("#task-form button[type=submit]").inner_text().strip() == ZH["form.generate"]
    assert ZH["form.generate"] != EN["form.generate"]

    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")  # the new page has loaded
    assert page.url == console_url + "/"
    assert page.locator("#task-form button[type=submit]").inner_text().strip() == EN["form.generate"]

    page.reload()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator("#task-form button[type=submit]").inner_text().strip() == EN["form.generate"]
    assert page.locator(".langs [aria-current]").inner_text() == "English"
