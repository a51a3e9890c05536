"""The media cache (app/media.py): videos fetched from the upstream's CDN into the store, whole or not at all."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

from app.backoff import Backoff
from app.media import VideoDownloads, VideoStore
from app.upstream import UpstreamClient, UpstreamError
from tests.fake_upstream import FAKE_MP4, FakeUpstream
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

