"""How stored media files are answered (app/media_responses.py): whole, by range, and a file that went
away between the handler finding it and the response reading it (an eviction, a delete) is a 404."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app import media_responses

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

CONTENT = bytes(range(256)) * 64

ANSWERS: dict[str, Callable[[Path], Response]] = {
    "task video": lambda path: media_responses.task_video(path, "abc", download=False, accel_prefix=None),
    "download": lambda path: media_responses.task_video(path, "abc", download=True, accel_prefix=None),
    "poster": media_responses.poster,
    "frame": lambda path: media_responses.frame(path, "image/png"),
    "api video": lambda path: media_responses.api_video(path, "abc"),
    "shared": media_responses.shared_media,
}


def client_for(path: Path, answer: Callable[[Path], Response], *, vanish: bool) -> TestClient:
    async def handler(request: Request) -> Response:
        response = answer(path)  # the handler has found the file…
        if vanish:
            path.unlink()  # …and the cache lets it go before the response reads it
        return response

    return TestClient(Starlette(routes=[Route("/file", handler)]), raise_server_exceptions=True)


@pytest.mark.parametrize("kind", ANSWERS)
def test_a_stored_file_is_served_whole_and_by_range(tmp_path, kind):
    path = tmp_path / "file.bin"
    path.write_bytes(CONTENT)
    client = client_for(path, ANSWERS[kind], vanish=False)
    assert client.get("/file").content == CONTENT
    part = client.get("/file", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == CONTENT[100:200]


@pytest.mark.parametrize("kind", ANSWERS)
def test_a_file_gone_before_it_is_read_is_a_404_not_a_500(tmp_path, kind):
    path = tmp_path / "file.bin"
    path.write_bytes(CONTENT)
    answer = client_for(path, ANSWERS[kind], vanish=True).get("/file")
    assert answer.status_code == 404


def test_nginx_is_handed_the_file_by_name():
    answer = media_responses.task_video(Path("/data/videos/abc.mp4"), "abc", download=True, accel_prefix="/_media/")
    assert answer.headers["x-accel-redirect"] == "/_media/abc.mp4"
    assert answer.headers["content-disposition"] == 'attachment; filename="runway-abc.mp4"'
