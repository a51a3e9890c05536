"""Test helpers importable from any test module (fixtures live in conftest.py)."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable

import pytest
import uvicorn
from PIL import Image


class LiveServer:
    """An ASGI app served by uvicorn on a free loopback port in a background thread."""

    def __init__(self, app, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = _free_port(host)
        config = uvicorn.Config(app, host=host, port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def image_bytes(
    width: int = 640,
    height: int = 384,
    color: tuple[int, int, int] = (40, 90, 200),
    image_format: str = "PNG",
    **save_options: object,
) -> bytes:
    """A small real image with a shape on it, encoded in the given format."""
    image = Image.new("RGB", (width, height), color)
    for x in range(width // 4, width // 2):
        for y in range(height // 4, height // 2, 7):
            image.putpixel((x, y), (250, 220, 40))
    buffer = io.BytesIO()
    image.save(buffer, image_format, **save_options)
    return buffer.getvalue()


def wait_until(condition: Callable[[], object], timeout: float = 20.0, step: float = 0.05) -> None:
    """Poll a condition until it holds; fail the test if it never does within `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(step)
