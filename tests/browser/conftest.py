"""Real-browser fixtures: one Chromium per test module, a fresh context per page, no JS or CSP error tolerated.

Chromium comes from the system: Debian's chromium-headless-shell, else its chromium (see BROWSERS);
Playwright never downloads one here.
Every console error and uncaught page error fails the test that caused it, except messages a test
declares as expected with ``pages.allow(pattern)`` (e.g. the 422 answer of a deliberately invalid form).

Under pytest-xdist, scripts/test gives each browser module whole to one worker, which runs its tests
one after the other with one Chromium (tests/scheduling.py).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.browser.actions import PAGE_REFRESH_SECONDS
from tests.helpers import TEST_PASSWORDS, LiveServer, image_bytes

# Debian's old headless shell is the build Playwright itself runs for headless tests: it draws no
# browser UI and costs about a third of the CPU that full Chromium in headless mode does (measured on
# the compare and gallery modules: 8.7 s against 20.4 s), which made the browser tests the largest cost
# of the suite. Full Chromium serves where the shell is not installed.
BROWSERS = ("chromium-headless-shell", "chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}
ACTION_TIMEOUT_MS = 10_000


def browser_executable() -> str | None:
    """The first of BROWSERS installed on this machine, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def launch_chromium(playwright):
    """The system Chromium with flags fit for containers and CI (no sandbox, no GPU, no phoning home)."""
    return playwright.chromium.launch(executable_path=browser_executable(), args=CHROMIUM_ARGS)


class BrowserPages:
    """Opens pages in fresh contexts and records every console error and page error they produce."""

    def __init__(self, browser) -> None:
        self.browser = browser
        self.contexts: list = []
        self.problems: list[str] = []
        self.allowed: list[re.Pattern[str]] = []
        self.reported = 0

    def new(self, **context_options: object):
        """A page in its own context (own cookies, locale, JS setting); closed after the test."""
        options: dict[str, object] = {"viewport": VIEWPORT, **context_options}
        context = self.browser.new_context(**options)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self._record(f"page error: {error}"))
        return page

    def allow(self, pattern: str) -> None:
        """Expect console errors matching this regex (e.g. the failed-load line of a deliberate 422)."""
        self.allowed.append(re.compile(pattern))

    def _on_console(self, message) -> None:
        if message.type == "error":
            location = message.location or {}
            self._record(f"console error: {message.text} (at {location.get('url', '?')})")

    def _record(self, text: str) -> None:
        if not any(pattern.search(text) for pattern in self.allowed):
            self.problems.append(text)

    def flush(self) -> None:
        """Let Playwright deliver events still in flight (any round trip to the browser does)."""
        for context in self.contexts:
            try:
                context.cookies()
            except Exception:  # noqa: BLE001 - a context closed by the test has nothing more to say
                pass

    def unreported(self) -> list[str]:
        fresh = self.problems[self.reported :]
        self.reported = len(self.problems)
        return fresh

    def close(self) -> None:
        for context in reversed(self.contexts):
            try:
                context.close()
            except Exception:  # noqa: BLE001 - already closed
                pass
        self.contexts.clear()


# Module scope, not session: Playwright's sync API keeps an event loop running on this thread while
# it is open, and asyncio.run() in any later test on the same worker would refuse to start.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if browser_executable() is None:
        if os.environ.get("CI"):
            pytest.fail(
                "neither chromium-headless-shell nor chromium is installed, but CI must run the browser tests"
                " (apt-get install chromium-headless-shell)"
            )
        pytest.skip("chromium not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def pages(browser, serve, request: pytest.FixtureRequest) -> Iterator[BrowserPages]:
    # Asking for `serve` sets it up first, so it is torn down last: the test's servers stop only once
    # these pages are closed, and a page still polling its task never sees its server go away.
    opened = BrowserPages(browser)
    request.node.browser_pages = opened
    yield opened
    opened.flush()
    late = opened.unreported()
    opened.close()
    if late:
        pytest.fail("the browser reported errors:\n" + "\n".join(late), pytrace=False)


@pytest.fixture
def page(pages: BrowserPages):
    """A fresh page (own context) at 1280×900."""
    return pages.new()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail the test itself (not only its teardown) when the browser logged an error during it."""
    result = yield
    opened: BrowserPages | None = getattr(item, "browser_pages", None)
    if opened is not None:
        opened.flush()
        problems = opened.unreported()
        if problems:
            raise AssertionError("the browser reported errors:\n" + "\n".join(problems))
    return result


@pytest.fixture
def console(make_settings, serve) -> Callable[..., LiveServer]:
    """Serve a fresh console (simulator upstream, fast timings) with settings overridden by env-var name."""
    from app.main import create_app

    def start(**overrides: object) -> LiveServer:
        settings = make_settings(**{"CONSOLE_PAGE_REFRESH_SECONDS": PAGE_REFRESH_SECONDS, **overrides})
        return serve(create_app(settings, passwords=TEST_PASSWORDS))

    return start


@pytest.fixture
def console_url(console) -> str:
    """The URL of a fresh console with the built-in simulator as upstream."""
    return console().url


@pytest.fixture
def frame_files(tmp_path: Path) -> tuple[Path, Path]:
    """A first and a last frame, as PNG files of different colours."""
    first = tmp_path / "first.png"
    last = tmp_path / "last.png"
    first.write_bytes(image_bytes(640, 384, (40, 90, 200)))
    last.write_bytes(image_bytes(640, 384, (200, 80, 40)))
    return first, last
