"""Record the request HTMX sends for a RUNNING task's status fragment, from a real chromium.

The fragment suite replays exactly this request with wrk, so the console does the work a real
tab makes it do (HX-* headers, the browser's Accept and Accept-Encoding...). Run it again when
the page or htmx changes: `.venv/bin/python -m bench.capture_htmx` (writes HTMX_REQUEST_FILE).
Uses Debian's chromium through Playwright (executable_path), never a downloaded browser.
"""

from __future__ import annotations

import json
import platform
import re
import tempfile
import time
from pathlib import Path

from bench.procs import LASTING_TASKS_ENV, Server
from bench.suite_status import create_active_task

HTMX_REQUEST_FILE = Path(__file__).with_name("data") / "htmx_status_request.json"
CHROMIUM = "/usr/bin/chromium"
# Where the task id, the console's origin and the status version the page showed were in the captured
# request; filled in again on replay.
TASK_ID, ORIGIN, VERSION = "{task_id}", "{origin}", "{version}"
VERSION_PARAM = re.compile(r"(?<=[?&]v=)[^&]+")
# Set by the network stack per connection (wrk sets its own Host), or private to the visitor.
DROPPED = {"host", "connection", "content-length", "cookie"}


def load() -> dict:
    return json.loads(HTMX_REQUEST_FILE.read_text())


def replay_headers(captured: dict, origin: str, task_id: str) -> dict[str, str]:
    """The captured headers, for this run's console and task."""
    return {
        name: value.replace(ORIGIN, origin).replace(TASK_ID, task_id) for name, value in captured["headers"].items()
    }


def replay_path(captured: dict, task_id: str, version: str) -> str:
    """The poll's path for this run's task, carrying `version` where the page put the one it showed."""
    return captured["path"].replace(TASK_ID, task_id).replace(VERSION, version)


def shown_version(html: str) -> str:
    """The status version a task page (or a status box) carries in its hx-get URL."""
    match = re.search(r'hx-get="[^"]*/status\?v=([^"&]+)"', html)
    if match is None:
        raise RuntimeError("the page's status box carries no version (hx-get …/status?v=…)")
    return match.group(1)


def capture(image: bytes) -> dict:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="runway-capture-") as scratch:
        work = Path(scratch)
        env = {"CONSOLE_DATA_DIR": work / "data", **LASTING_TASKS_ENV}  # the built-in simulator reads them
        with Server("serve", work, env) as console:
            task_id = create_active_task(console.url, image)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM)
                try:
                    page = browser.new_page()
                    page.goto(f"{console.url}/tasks/{task_id}")
                    # The fragment refreshes itself every few seconds; the first refresh is the request.
                    with page.expect_request(
                        lambda r: f"/tasks/{task_id}/status" in r.url, timeout=30_000
                    ) as info:
                        pass
                    request = info.value
                    headers = request.all_headers()
                    response = request.response()
                    status = response.status if response is not None else None
                    version = browser.version
                    htmx_version = page.evaluate("() => (window.htmx && window.htmx.version) || null")
                finally:
                    browser.close()
    path = request.url.removeprefix(console.url)
    kept = {
        name: value.replace(console.url, ORIGIN).replace(task_id, TASK_ID)
        for name, value in sorted(headers.items())
        if name.lower() not in DROPPED and not name.startswith(":")
    }
    return {
        "captured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "browser": f"chromium {version} (headless, Playwright)",
        "htmx": htmx_version,
        "platform": platform.platform(),
        "method": request.method,
        "path": VERSION_PARAM.sub(VERSION, path.replace(task_id, TASK_ID)),
        "status_seen": status,
        "dropped_headers": sorted(DROPPED),
        "headers": kept,
    }


def main() -> None:
    from bench.fixtures import small_png

    captured = capture(small_png())
    HTMX_REQUEST_FILE.parent.mkdir(parents=True, exist_ok=True)
    HTMX_REQUEST_FILE.write_text(json.dumps(captured, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(captured, indent=2))


if __name__ == "__main__":
    main()
