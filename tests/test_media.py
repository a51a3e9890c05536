"""The media cache (app/media.py): videos fetched from the upstream's CDN into the store, whole or not at all."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from app.backoff import Backoff
from app.media import VideoDownloads, VideoStore, mp4_problem
from app.simulator.video import render_video
from app.upstream import UpstreamClient, UpstreamError
from tests.fake_upstream import FAKE_MP4, FakeUpstream, mp4_box
from tests.helpers import SECRET


@pytest.fixture
def videos(tmp_path) -> VideoStore:
    return VideoStore(tmp_path / "videos")


def stored(videos: VideoStore) -> list[str]:
    return sorted(p.name for p in videos.folder.iterdir())


@pytest.fixture
def fetch(fake_upstream: FakeUpstream, videos: VideoStore) -> Callable[..., Any]:
    """Download a URL as the video of a task, through a real client on loopback."""

    def call(url: str, task_id: str = "task-1", *, timeout: float = 5.0, **options: Any) -> str:
        async def main() -> str:
            async with httpx.AsyncClient(follow_redirects=True) as http:
                client = UpstreamClient(http, fake_upstream.api_url, SECRET, timeout=timeout)
                downloads = VideoDownloads(videos, client, retry=Backoff(base=1.0, cap=60.0))
                return await downloads.fetch(task_id, url, **options)

        return asyncio.run(main())

    return call


def failure(fetch: Callable[..., Any], *args: Any, **kwargs: Any) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        fetch(*args, **kwargs)
    return caught.value


def test_a_video_is_stored_under_its_task_id(fetch, fake_upstream, videos):
    assert fetch(fake_upstream.output_url("task-1")) == "task-1.mp4"
    assert videos.find("task-1") is not None and videos.find("task-1").read_bytes() == FAKE_MP4
    assert stored(videos) == ["task-1.mp4"]


def test_an_expired_cdn_link_leaves_no_file_and_keeps_an_older_one(fetch, fake_upstream, videos):
    fake_upstream.cdn_expired = True
    videos.path_for("old").write_bytes(b"the earlier download")
    assert failure(fetch, fake_upstream.output_url("new"), "new").status == 403
    assert failure(fetch, fake_upstream.output_url("old"), "old").status == 403
    assert videos.path_for("old").read_bytes() == b"the earlier download"
    assert stored(videos) == ["old.mp4"]


def test_a_video_over_the_size_limit_is_refused_and_nothing_is_kept(fetch, fake_upstream, videos):
    error = failure(fetch, fake_upstream.output_url("big"), "big", max_bytes=1000)
    assert (error.kind, error.detail) == ("protocol", "the video is larger than 1000 bytes")
    assert stored(videos) == []


def test_a_video_the_cdn_encoded_wrongly_is_an_upstream_error_and_nothing_is_kept(fetch, fake_upstream, videos):
    gzip = {"content-encoding": "gzip"}
    fake_upstream.queue("cdn", status=200, body=FAKE_MP4, content_type="video/mp4", headers=gzip)
    error = failure(fetch, fake_upstream.output_url("task-1"))
    assert (error.kind, error.status) == ("network", None)
    assert error.detail.startswith("DecodingError")
    assert stored(videos) == []


def cut_off_cdn(way: str) -> Starlette:
    """A CDN that sends the first kilobyte of a longer video, then drops the connection or stalls."""

    async def video(request) -> StreamingResponse:
        async def chunks() -> object:
            yield FAKE_MP4[:1024]
            if way == "stall":
                await asyncio.sleep(1.0)
            else:
                raise ConnectionResetError("the CDN went away mid-file")

        declared = {"content-length": str(len(FAKE_MP4) * 8)}
        return StreamingResponse(chunks(), media_type="video/mp4", headers=declared)

    return Starlette(routes=[Route("/cdn/clip.mp4", video)])


@pytest.mark.parametrize("way, kind", [("drop", "network"), ("stall", "timeout")])
def test_a_cdn_failing_mid_file_leaves_no_partial_file(fetch, serve, videos, way, kind):
    cdn = serve(cut_off_cdn(way))
    error = failure(fetch, f"{cdn.url}/cdn/clip.mp4", "clip", timeout=0.3)
    assert (error.kind, error.status) == (kind, None)
    assert stored(videos) == []


@pytest.mark.parametrize("task_id", ["../console", "a/b", "", ".hidden", "x" * 200])
def test_a_name_that_is_not_a_task_id_never_becomes_a_path(videos, task_id):
    assert videos.find(task_id) is None
    with pytest.raises(ValueError):
        videos.path_for(task_id)



# --- a whole MP4 or nothing ---------------------------------------------------------------------------


def cdn_sending(body: bytes, *, declared: int | None = None) -> Starlette:
    """A CDN that answers 200 with `body`, claiming `declared` bytes in Content-Length."""

    async def video(request) -> Response:
        headers = {"content-length": str(len(body) if declared is None else declared)}
        return Response(body, media_type="video/mp4", headers=headers)

    return Starlette(routes=[Route("/cdn/clip.mp4", video)])


def fetch_in_process(app: Starlette, videos: VideoStore, task_id: str = "clip") -> str:
    """Download through an in-process ASGI transport, which (unlike h11) does not police Content-Length."""

    async def main() -> str:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cdn.internal") as http:
            client = UpstreamClient(http, "http://cdn.internal", SECRET)
            downloads = VideoDownloads(videos, client, retry=Backoff(base=1.0, cap=60.0))
            return await downloads.fetch(task_id, "http://cdn.internal/cdn/clip.mp4")

    return asyncio.run(main())


def test_a_body_shorter_than_its_content_length_is_refused_even_in_process(videos):
    with pytest.raises(UpstreamError) as caught:
        fetch_in_process(cdn_sending(FAKE_MP4[:1000], declared=len(FAKE_MP4)), videos)
    assert caught.value.kind == "protocol"
    assert caught.value.detail == f"the download was cut short: 1000 of {len(FAKE_MP4)} bytes"
    assert stored(videos) == []


NOT_WHOLE = [
    (FAKE_MP4[:1000], f"it is cut short inside its mdat box (1000 bytes, {len(FAKE_MP4)} needed)"),
    (FAKE_MP4[:30], "it ends inside a box header at byte 24"),
    (b"", "it is empty"),
    (b"<html><title>Access Denied</title></html>", "it is not an MP4 file (it does not start with an ftyp box)"),
    (mp4_box(b"ftyp", b"isom") + mp4_box(b"mdat", b"x" * 64), "it has no moov box"),
    (mp4_box(b"ftyp", b"isom") + b"\x00\x00\x00\x04moov", "its moov box at byte 12 has an impossible size"),
]


@pytest.mark.parametrize("body, problem", NOT_WHOLE)
def test_a_file_that_is_not_a_whole_mp4_is_refused_even_with_a_matching_length(serve, fetch, videos, body, problem):
    cdn = serve(cdn_sending(body))
    error = failure(fetch, f"{cdn.url}/cdn/clip.mp4", "clip")
    assert (error.kind, error.detail) == ("protocol", f"the downloaded video is not whole: {problem}")
    assert stored(videos) == []


def test_real_encoder_output_is_a_whole_mp4_and_large_or_open_ended_boxes_are_understood(tmp_path):
    real = tmp_path / "real.mp4"
    render_video(Image.new("RGB", (64, 64), (200, 40, 40)), None, "1280:720", 1, real, max_side=64)
    assert mp4_problem(real) is None
    large = tmp_path / "large.mp4"
    # A 64-bit box size (size field 1) and a last box with size 0 ("to the end of the file").
    large.write_bytes(
        mp4_box(b"ftyp", b"isom")
        + struct.pack(">I4sQ", 1, b"moov", 16 + 8) + b"m" * 8
        + b"\x00\x00\x00\x00mdat" + b"d" * 9
    )
    assert mp4_problem(large) is None
