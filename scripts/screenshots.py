"""Render the README screenshots from a real run on the built-in simulator, in Chromium:

- screenshot.png, screenshot-zh.png: a finished task page at 1280 px, in English and Chinese;
- screenshot-form.png: the form at 1280 px with a portrait photo and a landscape ratio (crop warning);
- screenshot-phone.png, screenshot-phone-zh.png: the form at 390 px, the ratio chosen for the photo;
- screenshot-errors.png: a rejected submit, the summary of messages focused at the top;
- screenshot-compare.png: a comparison of two models on the same frames, finished, at 1280 px;
- screenshot-gallery.png, screenshot-gallery-zh.png, screenshot-gallery-phone.png: /tasks with the
  finished tasks of the run, at 1280 px in English and Chinese and at 390 px;
- screenshot-share.png, screenshot-share-phone.png: a task's share link opened in a fresh browser
  context (no cookies), at 1280 px and 390 px.

Run with `.venv/bin/python scripts/screenshots.py [outdir]` (default docs/). Chinese needs a CJK font:
Debian's `fonts-wqy-microhei`, installed here with apt when missing and running as root (as scripts/test
does for chromium); otherwise the script says so and stops, rather than render boxes for every character.
The simulator runs with its default timings, so the run also shows how long a user waits for the video
(and the whole run takes about a minute). Every shot waits on a condition: a video that can show a frame,
a card that has settled, a poster that has loaded.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.config import Settings  # noqa: E402
from app.main import create_app  # noqa: E402
from tests.browser.conftest import CHROMIUM_ARGS  # noqa: E402
from tests.helpers import LiveServer  # noqa: E402

VIDEO_READY = "() => { const v = document.querySelector('video'); return !!v && v.readyState >= 2; }"
ALL_VIDEOS_READY = (
    "(n) => { const vs = [...document.querySelectorAll('[data-sync-video]')];"
    " return vs.length === n && vs.every(v => v.readyState >= 2); }"
)
# Every card finished with its video, and no live update left to come.
GALLERY_SETTLED = (
    "(n) => { const cs = [...document.querySelectorAll('article.card')];"
    " return cs.length === n && cs.every(c => c.dataset.status === 'SUCCEEDED' && c.querySelector('video[poster]'))"
    " && !document.querySelector('#gallery-live[hx-get]'); }"
)
# Resolves once every card's poster is decoded, so the shot shows pictures rather than empty boxes.
POSTERS_DECODED = (
    "() => Promise.all([...document.querySelectorAll('video[poster]')].map((v) =>"
    " { const i = new Image(); i.src = v.poster; return i.decode(); }))"
)
SEEK_ALL = (
    "(at) => Promise.all([...document.querySelectorAll('video')].map((v) => new Promise((done) =>"
    " { v.pause(); v.addEventListener('seeked', done, {once: true}); v.currentTime = at; })))"
)
# No video still downloading, so the controls show a finished load rather than a half-drawn progress bar.
VIDEOS_IDLE = "() => [...document.querySelectorAll('video')].every(v => v.networkState !== v.NETWORK_LOADING)"
COMPARE_URL = r"/compare/[0-9a-f]{32}$"
MAX_PNG_BYTES = 400_000
CJK_FONT_PACKAGE = "fonts-wqy-microhei"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def has_cjk_font() -> bool:
    if shutil.which("fc-list") is None:
        return False
    listed = subprocess.run(["fc-list", ":lang=zh-cn", "family"], capture_output=True, text=True, check=False)
    return bool(listed.stdout.strip())


def ensure_cjk_font() -> None:
    """Install Debian's WenQuanYi Micro Hei when no Chinese font is present and we may; else explain and stop."""
    if has_cjk_font():
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {CJK_FONT_PACKAGE} for the Chinese screenshots…", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", CJK_FONT_PACKAGE],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            stdout=subprocess.DEVNULL,
        )
        if has_cjk_font():
            return
    sys.exit(f"screenshots: no Chinese font found; install one first (apt-get install {CJK_FONT_PACKAGE})")


def gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        mix = y / height
        colour = tuple(round(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)
    return image


def scene(sky_top: tuple[int, int, int], sky_bottom: tuple[int, int, int], sun_y: int) -> Image.Image:
    """A sky gradient, a sun and a sea: enough for the crossfade to read as a picture."""
    image = gradient((1280, 720), sky_top, sky_bottom)
    draw = ImageDraw.Draw(image)
    draw.ellipse([860, sun_y, 1000, sun_y + 140], fill=(255, 226, 140))
    draw.rectangle([0, 470, 1280, 720], fill=(20, 50, 90))
    for y in range(480, 720, 18):
        draw.line([(0, y), (1280, y + 6)], fill=(60, 100, 150), width=2)
    return image


def lighthouse() -> Image.Image:
    """An upright phone photo (1080×1920): a lighthouse against the evening sky."""
    image = gradient((1080, 1920), (40, 50, 110), (240, 150, 110))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 1500, 1080, 1920], fill=(25, 55, 95))
    draw.polygon([(470, 1500), (610, 1500), (585, 820), (495, 820)], fill=(235, 235, 230))
    for y in (950, 1150, 1350):
        draw.polygon([(478, y + 80), (602, y + 80), (598, y), (482, y)], fill=(200, 40, 40))
    draw.rectangle([480, 740, 600, 820], fill=(60, 60, 70))
    draw.ellipse([505, 755, 575, 805], fill=(255, 236, 150))
    draw.polygon([(470, 740), (610, 740), (540, 670)], fill=(60, 60, 70))
    return image


def frames(folder: Path) -> tuple[Path, Path, Path]:
    first, last, portrait = folder / "harbour-dawn.png", folder / "harbour-dusk.png", folder / "lighthouse.jpg"
    scene((70, 120, 200), (250, 190, 150), 300).save(first)
    scene((30, 20, 70), (240, 110, 60), 380).save(last)
    lighthouse().save(portrait, quality=90)
    return first, last, portrait


def wait_for_ratio_choice(page) -> None:
    page.wait_for_function("() => document.querySelector('[data-ratio-note]').textContent.trim() !== ''")


def shoot_task(page, url: str, first: Path, last: Path, out: Path, prompt: str) -> float:
    """The finished task page, paused mid-video; returns the seconds from Generate to a playable video."""
    page.goto(url + "/")
    page.set_input_files("#first_frame", str(first))
    page.set_input_files("#last_frame", str(last))
    page.fill("#promptText", prompt)
    page.fill("#seed", "20261124")
    started = time.monotonic()
    page.locator("#task-form button[type=submit]").click()
    page.wait_for_function(VIDEO_READY, timeout=60_000)
    waited = time.monotonic() - started
    page.evaluate(
        "() => new Promise((done) => { const v = document.querySelector('video'); v.pause();"
        " v.addEventListener('seeked', done, {once: true}); v.currentTime = 2.5; })"
    )
    page.mouse.move(0, 0)
    page.screenshot(path=str(out), full_page=True, caret="initial")
    return waited


def shoot_form(page, url: str, portrait: Path, out: Path, prompt: str) -> None:
    """Desktop: a portrait photo, then a landscape ratio chosen by hand: the warning and the kept band."""
    page.goto(url + "/")
    page.set_input_files("#first_frame", str(portrait))
    wait_for_ratio_choice(page)
    page.fill("#promptText", prompt)
    page.locator("label.ratio-option:has(input[value='1280:720'])").click()
    page.locator("[data-crop-warning]").wait_for()
    page.mouse.move(0, 0)
    page.locator("#promptText").blur()
    # A viewport as tall as the page rather than full_page: the sticky Generate bar then sits where it belongs.
    height = page.evaluate("() => document.documentElement.scrollHeight")
    page.set_viewport_size({"width": DESKTOP["width"], "height": height})
    page.screenshot(path=str(out), caret="initial")


def shoot_phone(page, url: str, portrait: Path, out: Path, prompt: str) -> None:
    """Phone: the prompt, the ratio chosen for the photo and why, Generate in the sticky bar."""
    page.goto(url + "/")
    page.set_input_files("#first_frame", str(portrait))
    wait_for_ratio_choice(page)
    page.fill("#promptText", prompt)
    page.locator("[data-field=promptText]").evaluate(
        "(field) => window.scrollTo(0, field.getBoundingClientRect().top + window.scrollY - 12)"
    )
    page.locator("#promptText").blur()
    page.screenshot(path=str(out), caret="initial")


def start_comparison(
    page, url: str, first: Path, last: Path | None, prompt: str, *, models: tuple[str, ...] = (), seeds: str = ""
) -> None:
    """Through the form's Compare disclosure, as a user would: one POST /tasks with `model` twice or `seeds`."""
    page.goto(url + "/")
    page.set_input_files("#first_frame", str(first))
    if last is not None:
        page.set_input_files("#last_frame", str(last))
    wait_for_ratio_choice(page)
    page.fill("#promptText", prompt)
    page.locator("#compare-fields summary").click()
    for model in models:
        page.locator(f'[data-compare-model][value="{model}"]').check()
    if seeds:
        page.fill("#seeds", seeds)
    page.locator("#task-form button[type=submit]").click()
    page.wait_for_url(re.compile(re.escape(url) + COMPARE_URL))
    page.wait_for_function(ALL_VIDEOS_READY, arg=2, timeout=60_000)


def still(page, out: Path, *, full_page: bool) -> None:
    """A shot of a page with videos: once none is downloading, the controls' fades fast-forwarded to their end."""
    page.wait_for_function(VIDEOS_IDLE, timeout=60_000)
    page.mouse.move(0, 0)
    page.screenshot(path=str(out), full_page=full_page, caret="initial", animations="disabled")


def shoot_compare(page, out: Path) -> None:
    page.evaluate(SEEK_ALL, 2.5)
    still(page, out, full_page=True)


def shoot_gallery(page, url: str, count: int, out: Path, *, full_page: bool) -> None:
    page.goto(url + "/tasks")
    page.wait_for_function(GALLERY_SETTLED, arg=count, timeout=60_000)
    page.evaluate(POSTERS_DECODED)
    page.wait_for_load_state("networkidle")
    if not full_page:  # a phone screen: from the count and costs down, over the first cards
        page.locator("#gallery-count").evaluate(
            "(el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 12)"
        )
    still(page, out, full_page=full_page)


def share_link(page, task_url: str) -> str:
    """Make the task's share link from its page (POST /tasks/{id}/share) and read it back."""
    page.goto(task_url)
    page.locator("#share button[type=submit]").click()
    return page.locator("#share-url").input_value()


def shoot_shared(page, link: str, out: Path, *, full_page: bool) -> None:
    page.goto(link)
    page.wait_for_function(VIDEO_READY, timeout=60_000)
    page.evaluate(SEEK_ALL, 2.5)
    still(page, out, full_page=full_page)


def main() -> None:
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    out_dir.mkdir(parents=True, exist_ok=True)
    ensure_cjk_font()
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        first, last, portrait = frames(scratch_dir)
        server = LiveServer(create_app(Settings(_env_file=None, CONSOLE_DATA_DIR=scratch_dir / "data"))).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
                task_urls = []
                for locale, name, prompt in (
                    ("en-US", "screenshot.png", "the harbour from dawn to dusk, slow pan right"),
                    ("zh-CN", "screenshot-zh.png", "港口从黎明到黄昏，镜头缓慢右移"),
                ):
                    page = browser.new_page(locale=locale, viewport=DESKTOP)
                    waited = shoot_task(page, server.url, first, last, out_dir / name, prompt)
                    task_urls.append(page.url)
                    print(f"{name}: video playing {waited:.1f} s after Generate")
                    page.close()

                # Two comparisons: two models on the harbour (shot), two seeds on the lighthouse (for the gallery).
                page = browser.new_page(locale="en-US", viewport=DESKTOP)
                start_comparison(page, server.url, portrait, None, "the beam sweeps the sea as night falls", seeds="2")
                start_comparison(page, server.url, first, last, "the tide turns as the sun goes down",
                                 models=("gen3a_turbo",))
                shoot_compare(page, out_dir / "screenshot-compare.png")
                link = share_link(page, task_urls[0])
                page.close()

                page = browser.new_page(locale="en-US", viewport=DESKTOP)
                shoot_gallery(page, server.url, 6, out_dir / "screenshot-gallery.png", full_page=True)
                page.close()
                page = browser.new_page(locale="zh-CN", viewport=DESKTOP)
                shoot_gallery(page, server.url, 6, out_dir / "screenshot-gallery-zh.png", full_page=True)
                page.close()
                page = browser.new_page(locale="en-US", viewport=PHONE, device_scale_factor=2)
                shoot_gallery(page, server.url, 6, out_dir / "screenshot-gallery-phone.png", full_page=False)
                page.close()

                # browser.new_page opens a fresh context each time: the shared page as a stranger sees it.
                page = browser.new_page(locale="en-US", viewport=DESKTOP)
                shoot_shared(page, link, out_dir / "screenshot-share.png", full_page=True)
                page.close()
                page = browser.new_page(locale="en-US", viewport=PHONE, device_scale_factor=2)
                shoot_shared(page, link, out_dir / "screenshot-share-phone.png", full_page=False)
                page.close()

                page = browser.new_page(locale="en-US", viewport=DESKTOP)
                shoot_form(page, server.url, portrait, out_dir / "screenshot-form.png",
                           "the beam sweeps the sea as night falls")
                page.close()

                for locale, name, prompt in (
                    ("en-US", "screenshot-phone.png", "the beam sweeps the sea as night falls"),
                    ("zh-CN", "screenshot-phone-zh.png", "夜幕降临，灯塔的光扫过海面"),
                ):
                    page = browser.new_page(locale=locale, viewport=PHONE, device_scale_factor=2)
                    shoot_phone(page, server.url, portrait, out_dir / name, prompt)
                    page.close()

                page = browser.new_page(locale="en-US", viewport=DESKTOP)
                page.goto(server.url + "/")
                page.fill("#promptText", "a quiet harbour at dawn")
                page.fill("#seed", "not a number")
                page.locator("#task-form button[type=submit]").click()
                page.locator("#form-errors:focus").wait_for()
                page.screenshot(path=str(out_dir / "screenshot-errors.png"), caret="initial")
                browser.close()
        finally:
            server.stop()
    for path in sorted(out_dir.glob("screenshot*.png")):
        size = path.stat().st_size
        warning = " — larger than a README image should be" if size > MAX_PNG_BYTES else ""
        print(f"wrote {path} ({size // 1024} KB){warning}")


if __name__ == "__main__":
    main()
