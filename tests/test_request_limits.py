"""Request body caps (app/request_limits.py, wired in app/main.py): refused before they are read."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from app.config import Settings
from app.main import create_app
from app.request_limits import BodyLimits
from tests.helpers import VALID_FORM, console_dns, image_bytes, wait_until

MB = 1024 * 1024


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where multipart parts spill to disk (Starlette's SpooledTemporaryFile), watched by the test."""
    folder = tmp_path / "spool"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def open_files_in(folder: Path) -> list[str]:
    """Files this process holds open under `folder` (spooled parts are unlinked but still open)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            found.append(target)
    return found


def test_a_stated_length_over_the_cap_is_refused_before_anything_is_read(make_settings):
    from fastapi.testclient import TestClient

    app = create_app(make_settings(CONSOLE_MAX_UPLOAD_MB=20), resolver=console_dns)
    read: list[dict] = []
    sent: list[dict] = []

    async def receive() -> dict:
        read.append({})
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/tasks",
        "raw_path": b"/tasks",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"multipart/form-data; boundary=x"),
            (b"content-length", str(1024 * MB).encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    with TestClient(app) as client:  # the lifespan runs; the request itself is driven by hand
        scope["state"] = dict(client.app_state)
        client.portal.call(app, scope, receive, send)
    assert read == []
    assert sent[0]["status"] == 413
    page = b"".join(m.get("body", b"") for m in sent[1:]).decode()
    assert "larger than 41 MB" in page  # two 20 MB frames and the rest of the form


def test_the_task_form_cap_says_its_limit_in_the_visitors_language(open_console, fake_upstream):
    console = open_console(fake_upstream, CONSOLE_MAX_UPLOAD_MB=0.25)  # cap: 2 × 0.25 + 1 = 1.5 MB
    big = {"first_frame": ("big.bmp", b"BM" + b"\0" * (2 * MB), "image/bmp")}
    response = console.post("/tasks", data=VALID_FORM, files=big)
    assert response.status_code == 413 and "larger than 1.5 MB" in response.text
    zh = console.post("/tasks", data=VALID_FORM, files=big, headers={"accept-language": "zh-CN"})
    assert zh.status_code == 413 and "1.5 MB 的上限" in zh.text
    htmx = console.post("/tasks", data=VALID_FORM, files=big, headers={"HX-Request": "true"})
    assert htmx.headers["hx-retarget"] == "body" and htmx.headers["hx-reswap"] == "innerHTML"
    api = console.post("/tasks", data=VALID_FORM, files=big, headers={"accept": "application/json"})
    assert api.status_code == 413 and "error" in api.json()
    assert fake_upstream.calls("POST") == []
    # Within the cap the same form goes through.
    assert (
        console.post(
            "/tasks", data=VALID_FORM, files={"first_frame": ("f.png", image_bytes(), "image/png")}
        ).status_code
        == 303
    )


def test_a_chunked_body_is_cut_at_the_cap_and_leaves_no_temp_file(open_console, fake_upstream, spool_dir):
    console = open_console(fake_upstream, CONSOLE_MAX_UPLOAD_MB=0.5)  # cap: 2 MB
    boundary = "cut-here"

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="first_frame"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        for _ in range(64):  # 4 MB, never announced
            yield b"\0" * (64 * 1024)

    response = console.post(
        "/tasks", content=body(), headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 413 and "larger than 2 MB" in response.text
    assert fake_upstream.calls("POST") == []
    assert open_files_in(spool_dir) == [] and list(spool_dir.iterdir()) == []


def test_each_route_class_has_its_own_cap(open_console, fake_upstream):
    console = open_console(fake_upstream, CONSOLE_MAX_FORM_KB=8, CONSOLE_MAX_JSON_MB=0.01)
    small_form = console.post(
        "/tasks/abc/cancel", content=b"x=" + b"y" * 9000, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert small_form.status_code == 413 and "larger than 0.01 MB" in small_form.text
    json_body = console.post(
        "/tasks/abc/cancel",
        content=b'{"a": "' + b"y" * 20000 + b'"}',
        headers={"content-type": "application/json", "accept": "application/json"},
    )
    assert json_body.status_code == 413
    assert (
        console.post(
            "/tasks/abc/cancel", content=b"x=y", headers={"content-type": "application/x-www-form-urlencoded"}
        ).status_code
        == 404
    )


def test_limits_by_path_hold_under_a_root_path():
    limits = BodyLimits(default=10, json=20, by_path={"/tasks": 30})
    scope = {"path": "/runway/tasks", "root_path": "/runway", "headers": []}
    assert limits.for_scope(scope) == 30
    assert limits.for_scope({"path": "/runway/x", "root_path": "/runway", "headers": []}) == 10
    json_scope = {"path": "/x", "headers": [(b"content-type", b"application/json; charset=utf-8")]}
    assert limits.for_scope(json_scope) == 20


def test_a_client_leaving_mid_upload_leaves_no_temp_file_and_no_traceback(make_settings, spool_dir, caplog):
    settings: Settings = make_settings(CONSOLE_MAX_UPLOAD_MB=20)
    app = create_app(settings, resolver=console_dns)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # log_config=None: uvicorn's own errors reach the root logger, and so caplog.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    caplog.set_level(logging.INFO)
    thread.start()
    wait_until(lambda: server.started)
    try:
        boundary = "gone"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="first_frame"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port)) as client:
            client.sendall(
                b"POST /tasks HTTP/1.1\r\nHost: console\r\n"
                + f"Content-Type: multipart/form-data; boundary={boundary}\r\n".encode()
                + f"Content-Length: {10 * MB}\r\n\r\n".encode()
                + head
            )
            for _ in range(48):  # 3 MB: past the 1 MB a part is kept in memory, so it is on disk now
                client.sendall(b"\0" * (64 * 1024))
            wait_until(lambda: open_files_in(spool_dir) != [])
        wait_until(lambda: open_files_in(spool_dir) == [])
        wait_until(lambda: any("client left" in r.getMessage() for r in caplog.records))
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    assert list(spool_dir.iterdir()) == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
