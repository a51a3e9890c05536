"""Render the README screenshots: a finished task page in English and Chinese, and the form with errors.

Run with `.venv/bin/python scripts/screenshots.py [outdir]` (default docs/). Uses the built-in simulator
with its default timings, so the run also shows how long a user waits for the video.
"""

from __future__ import annotations

import shutil
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


def scene(sky_top: tuple[int, int, int], sky_bottom: tuple[int, int, int], sun_y: int) -> Image.Image:
    """A sky gradient, a sun and a sea: enough for the crossfade to read as a picture."""
    width, height = 1280, 720
    image = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        mix = y / height
        colour = tuple(round(a + (b - a) * mix) for a, b in zip(sky_top, sky_bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)
    draw.ellipse([860, sun_y, 1000, sun_y + 140], fill=(255, 226, 140))
    draw.rectangle([0, 470, width, height], fill=(20, 50, 90))
    for y in range(480, height, 18):
        draw.line([(0, y), (width, y + 6)], fill=(60, 100, 150), width=2)
    return image


def frames(folder: Path) -> tuple[Path, Path]:
    first, last = folder / "harbour-dawn.png", folder / "harbour-dusk.png"
    scene((70, 120, 200), (250, 190, 150), 300).save(first)
    scene((30, 20, 70), (240, 110, 60), 380).save(last)
    return first, last


def shoot(page, url: str, first: Path, last: Path, out: Path, prompt: str, generate: str) -> float:
    page.goto(url + "/")
    page.set_input_files("#first_frame", str(first))
    page.set_input_files("#last_frame", str(last))
    page.fill("#promptText", prompt)
    page.fill("#seed", "20261124")
    started = time.monotonic()
    page.get_by_role("button", name=generate).click()
    page.wait_for_function(VIDEO_READY, timeout=60_000)
    waited = time.monotonic() - started
    page.evaluate(
        "() => new Promise((done) => { const v = document.querySelector('video'); v.pause();"
        " v.addEventListener('seeked', done, {once: true}); v.currentTime = 2.5; })"
    )
    page.mouse.move(0, 0)
    page.wait_for_timeout(300)
    page.screenshot(path=str(out), full_page=True)
    return waited


def main() -> None:
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "docs")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch_dir = Path(scratch)
        first, last = frames(scratch_dir)
        server = LiveServer(create_app(Settings(_env_file=None, CONSOLE_DATA_DIR=scratch_dir / "data"))).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
                for locale, name, prompt, generate in (
                    ("en-US", "screenshot.png", "the harbour from dawn to dusk, slow pan right", "Generate"),
                    ("zh-CN", "screenshot-zh.png", "港口从黎明到黄昏，镜头缓慢右移", "生成"),
                ):
                    page = browser.new_page(locale=locale, viewport={"width": 1280, "height": 900})
                    waited = shoot(page, server.url, first, last, out_dir / name, prompt, generate)
                    print(f"{name}: video playing {waited:.1f} s after Generate")
                    page.close()
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(server.url + "/")
                page.fill("#seed", "not a number")
                page.get_by_role("button", name="Generate").click()
                page.locator("#seed-error").wait_for()
                page.screenshot(path=str(out_dir / "screenshot-errors.png"), full_page=True)
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
