"""Copy as code: the snippets are valid Python and shell, carry no key and no frame bytes, and each one,
run for real against a live simulator with the frame in a local file, sends exactly the request the
console sent."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from app.catalogue import load_catalogue
from app.codegen import snippets
from app.simulator import SimulatorSettings, create_simulator_app
from tests.helpers import VALID_FORM, LiveServer, image_bytes

SIM_KEY = "sim-key-CODEGEN-7f1e2d"
REF = "ab" * 32 + ".png"
BODY: dict[str, Any] = {
    "promptImage": [
        {"uri": f"frame:{REF}", "position": "first"},
        {"uri": "https://cdn.example.com/last.jpg", "position": "last"},
    ],
    "model": "gen4_turbo",
    "ratio": "1280:720",
    "duration": 5,
    "seed": 42,
    "watermark": False,
    "promptText": 'a "cat" on $HOME `ls` \\ 猫 \ud83d\ude00',
    "notify_hook": "https://hooks.example.com/x",
}


def test_python_snippets_compile_and_keep_every_field():
    code = snippets(BODY, base_url="https://api.example.com/runwayml", api_version="2024-11-06")
    for kind in ("httpx", "runwayml"):
        compile(code[kind], f"{kind}.py", "exec")
        assert 'Path("first-frame.png")' in code[kind]
        assert "https://cdn.example.com/last.jpg" in code[kind]
        assert "RUNWAYML_API_SECRET" in code[kind]
        assert "frame:" not in code[kind] and "base64," not in code[kind].replace("base64,{", "")
    assert "runway_version" not in code["runwayml"]  # the SDK sends 2024-11-06 by itself
    assert "extra_body" in code["runwayml"] and "notify_hook" in code["runwayml"]
    other = snippets(BODY, base_url="https://api.example.com", api_version="2025-01-01")
    assert 'runway_version="2025-01-01"' in other["runwayml"]


def test_a_prompt_with_a_lone_surrogate_still_compiles():
    body = {**BODY, "promptText": "broken \ud800 half"}
    code = snippets(body, base_url="https://api.example.com", api_version="2024-11-06")
    compile(code["httpx"], "httpx.py", "exec")
    for kind in ("curl", "httpx", "runwayml"):
        code[kind].encode("utf-8")  # the page and the file download must be writable


def test_curl_snippet_is_valid_shell():
    code = snippets(BODY, base_url="https://api.example.com/runwayml", api_version="2024-11-06")["curl"]
    bash = shutil.which("bash")
    if bash is None:
        skip_unless_ci("bash")
    assert subprocess.run([bash, "-n"], input=code, text=True, capture_output=True).returncode == 0
    assert 'FIRST_FRAME=first-frame.png' in code and "$RUNWAYML_API_SECRET" in code


class RecordCreates:
    """ASGI wrapper around the simulator keeping the JSON body of every create it receives."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies: list[dict[str, Any]] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/v1/image_to_video"):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        self.bodies.append(json.loads(body))
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@pytest.fixture
def live_setup(open_console, serve: Callable[..., LiveServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A simulator on loopback that demands a key, a console in front of it, and one task made through it."""
    simulator = RecordCreates(
        create_simulator_app(
            load_catalogue(),
            SimulatorSettings(pending_seconds=0.05, running_seconds=0.2, video_max_side=96, api_secret=SIM_KEY),
            tmp_path / "sim",
        )
    )
    server = serve(simulator)
    console = open_console(RUNWAYML_BASE_URL=server.url, RUNWAYML_API_SECRET=SIM_KEY)
    response = console.post(
        "/tasks",
        data={**VALID_FORM, "seed": "1234", "promptText": 'waves "roll" in $slowly'},
        files={"first_frame": ("photo.png", image_bytes(320, 200), "image/png")},
    )
    assert response.status_code == 303, response.text
    task_id = response.headers["location"].rsplit("/", 1)[1]
    sent = simulator.bodies[0]
    # The reader's copy of the frame: the stored one, in the current directory (the test's tmp_path).
    stored = console.get(f"/tasks/{task_id}/request.json").json()["promptImage"][0]["uri"]
    assert stored == sent["promptImage"][0]["uri"]
    ref = console.get(f"/tasks/{task_id}").text.split("/frames/", 1)[1].split('"', 1)[0]
    Path("first-frame.png").write_bytes(console.get(f"/frames/{ref}").content)
    monkeypatch.setenv("RUNWAYML_API_SECRET", SIM_KEY)
    return console, task_id, simulator, sent


def run_python(code: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "snippet.py", "exec"), {"__name__": "__main__"})  # noqa: S102 - the code under test
    return out.getvalue()


def test_the_sdk_snippet_runs_against_a_live_simulator(live_setup, monkeypatch):
    console, task_id, simulator, sent = live_setup
    monkeypatch.setattr("runwayml.lib.polling.POLL_TIME", 0.05)  # the SDK waits 6 s between polls otherwise
    monkeypatch.setattr("runwayml.lib.polling.POLL_JITTER", 0)
    code = console.get(f"/tasks/{task_id}/code/runwayml").text
    assert SIM_KEY not in code and "base64," not in code.replace("base64,{", "")

    printed = run_python(code)

    assert printed.startswith("SUCCEEDED"), printed
    assert simulator.bodies[-1] == sent  # byte for byte the request the console sent, frame included


def test_the_httpx_snippet_runs_against_a_live_simulator(live_setup):
    console, task_id, simulator, sent = live_setup
    code = console.get(f"/tasks/{task_id}/code/httpx").text
    assert "POLL_SECONDS = 5\n" in code

    printed = run_python(code.replace("POLL_SECONDS = 5\n", "POLL_SECONDS = 0.05\n"))

    assert printed.startswith("SUCCEEDED"), printed
    assert simulator.bodies[-1] == sent


def test_the_curl_snippet_runs_against_a_live_simulator(live_setup, tmp_path):
    console, task_id, simulator, sent = live_setup
    if shutil.which("curl") is None or shutil.which("bash") is None:
        skip_unless_ci("curl and bash")
    code = console.get(f"/tasks/{task_id}/code/curl").text
    assert SIM_KEY not in code

    run = subprocess.run(["bash", "-e"], input=code, text=True, capture_output=True, cwd=tmp_path, timeout=30)

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["id"]
    assert simulator.bodies[-1] == sent


def test_task_page_shows_the_code_tabs_and_the_last_upstream_answer(live_setup):
    console, task_id, _, _ = live_setup
    page = console.get(f"/tasks/{task_id}").text
    for kind in ("curl", "httpx", "runwayml"):
        assert f'id="code-{kind}-text"' in page
    assert "client.image_to_video.create(" in page and "wait_for_task_output()" in page
    last = page.split('class="request last-response"', 1)[1].split("</pre>", 1)[0]
    assert f"&#34;id&#34;: &#34;{task_id}&#34;" in last  # the create's answer, or a poll's since
    assert SIM_KEY not in page
    assert console.get(f"/tasks/{task_id}/code/nope").status_code == 404
    assert console.get("/tasks/unknown-task/code/curl").status_code == 404


def skip_unless_ci(tools: str) -> None:
    """Skip on a machine without the tools; in CI their absence is a failure, not a silent pass."""
    if os.environ.get("CI"):
        pytest.fail(f"{tools} must be installed for CI to run the curl snippet")
    pytest.skip(f"{tools} not installed")
