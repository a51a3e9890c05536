"""The media cache (app/media.py, app/media_download.py, app/mp4.py): videos fetched from the upstream's
CDN into the store, whole or not at all, and only from where the upstream may send us: a hostile
upstream's outputs reach nothing inside."""

from __future__ import annotations

import asyncio
import re
import struct
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from app.backoff import Backoff
from app.media import VideoCache, VideoStore
from app.media_download import MediaPolicy, MediaRefused, VideoDownloads
from app.mp4 import mp4_problem
from app.netguard import NetPolicy, guarded_async_client
from app.simulator.video import render_video
from app.storage import SqliteTaskStore
from app.tasks import TaskOrigin, TaskRecord, TaskStatus
from app.upstream import UpstreamClient
from app.upstream_errors import UpstreamError
from tests.fake_upstream import FAKE_MP4, FakeUpstream, mp4_box
from tests.helpers import SECRET, FakeClock, console_dns, create_task, real_mp4, wait_until

JSON = {"Accept": "application/json"}


@pytest.fixture
def videos(tmp_path) -> VideoStore:
    return VideoStore(tmp_path / "videos")


def stored(videos: VideoStore) -> list[str]:
    return sorted(p.name for p in videos.folder.iterdir())


@pytest.fixture
def fetch(fake_upstream: FakeUpstream, videos: VideoStore) -> Callable[..., Any]:
    """Download a URL as the video of a task, through the guarded client the console builds.

    The fake upstream's origin is trusted (as the console trusts its upstream's); `trust` adds
    hosts as CONSOLE_MEDIA_HOSTS would.
    """

    def call(
        url: str, task_id: str = "task-1", *, timeout: float = 5.0, max_bytes: int = 1 << 20, trust: tuple = ()
    ) -> str:
        policy = MediaPolicy(NetPolicy.build([fake_upstream.base_url, *trust]), fake_upstream.base_url, max_bytes)

        async def main() -> str:
            async with guarded_async_client(policy.net, resolver=console_dns, follow_redirects=True) as http:
                client = UpstreamClient(http, fake_upstream.api_url, SECRET, timeout=timeout)
                downloads = VideoDownloads(videos, client, retry=Backoff(base=1.0, cap=60.0), policy=policy)
                return await downloads.fetch(task_id, url)

        return asyncio.run(main())

    return call


def failure(fetch: Callable[..., Any], *args: Any, **kwargs: Any) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        fetch(*args, **kwargs)
    return caught.value


def refusal(fetch: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(MediaRefused) as caught:
        fetch(*args, **kwargs)
    return caught.value.reason


@pytest.fixture
def inside(serve) -> Any:
    """A loopback server standing for something inside (an admin page, a metadata service): it
    records every request, and the console must never send it one."""
    seen: list[str] = []

    async def anything(request) -> Response:
        seen.append(request.url.path)
        return Response(FAKE_MP4, media_type="video/mp4")

    server = serve(Starlette(routes=[Route("/{path:path}", anything)]))
    server.seen = seen
    return server


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


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "streamed"])
def test_a_video_over_the_size_limit_is_refused_and_nothing_is_kept(fetch, fake_upstream, videos, streamed):
    fake_upstream.video = FAKE_MP4 + b"\0" * 300_000
    fake_upstream.stream_video = streamed
    assert refusal(fetch, fake_upstream.output_url("big"), "big", max_bytes=200_000) == "too_large"
    assert stored(videos) == []


@pytest.mark.parametrize(
    "body", [b"<!doctype html><html><title>Sign in</title></html>", b"", b"\x00\x00\x00\x18ftyx" + b"\0" * 64]
)
def test_what_is_not_an_mp4_is_discarded(fetch, fake_upstream, videos, body):
    fake_upstream.queue("cdn", status=200, body=body, content_type="video/mp4")
    assert refusal(fetch, fake_upstream.output_url("task-1")) == "not_mp4"
    assert stored(videos) == []


@pytest.mark.parametrize(
    "make_url, reason",
    [
        (lambda port: f"http://127.0.0.1:{port}/x.mp4", "not_https"),
        (lambda port: f"https://127.0.0.1:{port}/x.mp4", "address"),
        (lambda port: f"https://127.1:{port}/x.mp4", "address"),
        (lambda port: f"https://2130706433:{port}/x.mp4", "address"),
        (lambda port: f"https://0x7f000001:{port}/x.mp4", "address"),
        (lambda port: f"https://[::1]:{port}/x.mp4", "address"),
        (lambda port: f"https://[::ffff:127.0.0.1]:{port}/x.mp4", "address"),
        (lambda port: f"https://localhost:{port}/x.mp4", "address"),
        (lambda port: f"https://a.localhost:{port}/x.mp4", "address"),
        (lambda port: "https://169.254.169.254/latest/meta-data/", "address"),
        (lambda port: "https://10.0.0.1/x.mp4", "address"),
        (lambda port: f"https://user:pw@cdn.example.com:{port}/x.mp4", "address"),
        (lambda port: "javascript:alert(1)", "scheme"),
        (lambda port: "file:///etc/passwd", "scheme"),
        (lambda port: "ftp://cdn.example.com/x.mp4", "scheme"),
    ],
)
def test_an_output_url_inside_is_never_requested(fetch, inside, videos, make_url, reason):
    assert refusal(fetch, make_url(inside.port)) == reason
    assert inside.seen == [] and stored(videos) == []


@pytest.mark.parametrize(
    "host", ["rebind.example.com", "intranet.example.com", "mixed.example.com", "v6local.example.com"]
)
def test_a_name_that_resolves_inside_is_refused_at_connect_time(fetch, inside, videos, host):
    # The URL looks public; only the address DNS gives is private, and that is where the guard looks.
    assert refusal(fetch, f"https://{host}:{inside.port}/x.mp4") == "address"
    assert inside.seen == [] and stored(videos) == []


@pytest.mark.parametrize("where", ["http://127.0.0.1:{port}/x.mp4", "https://localhost:{port}/x.mp4"])
def test_a_redirect_into_loopback_is_not_followed(fetch, fake_upstream, inside, videos, where):
    fake_upstream.queue("cdn", status=302, headers={"location": where.format(port=inside.port)})
    assert refusal(fetch, fake_upstream.output_url("task-1")) in ("not_https", "address")
    assert inside.seen == [] and stored(videos) == []


def test_redirects_within_the_upstream_are_followed_but_not_forever(fetch, fake_upstream, videos):
    fake_upstream.queue("cdn", status=302, headers={"location": "/cdn/task-1.mp4"})
    assert fetch(fake_upstream.output_url("task-1")) == "task-1.mp4"
    for _ in range(6):
        fake_upstream.queue("cdn", status=302, headers={"location": "/cdn/task-2.mp4"})
    assert refusal(fetch, fake_upstream.output_url("task-2"), "task-2") == "redirects"


def test_a_host_the_operator_lists_may_be_private(fetch, inside, videos):
    assert fetch(f"http://127.0.0.1:{inside.port}/lan.mp4", trust=(f"127.0.0.1:{inside.port}",)) == "task-1.mp4"
    assert inside.seen == ["/lan.mp4"]


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
    error = failure(fetch, f"{cdn.url}/cdn/clip.mp4", "clip", timeout=0.3, trust=(cdn.url,))
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
    (mp4_box(b"ftyp", b"isom") + mp4_box(b"mdat", b"x" * 64), "it has no moov box"),
    (mp4_box(b"ftyp", b"isom") + b"\x00\x00\x00\x04moov", "its moov box at byte 12 has an impossible size"),
]


@pytest.mark.parametrize("body, problem", NOT_WHOLE)
def test_a_file_that_is_not_a_whole_mp4_is_refused_even_with_a_matching_length(serve, fetch, videos, body, problem):
    cdn = serve(cdn_sending(body))
    error = failure(fetch, f"{cdn.url}/cdn/clip.mp4", "clip", trust=(cdn.url,))
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
        + struct.pack(">I4sQ", 1, b"moov", 16 + 8)
        + b"m" * 8
        + b"\x00\x00\x00\x00mdat"
        + b"d" * 9
    )
    assert mp4_problem(large) is None


# --- a hostile upstream, through the console ------------------------------------------------------


def settled_page(console: Any, task_id: str, marker: str, lang: str = "en") -> str:
    """The task page once the download has failed in the way `marker` (a phrase of its message) says."""
    page = ""

    def says_why() -> bool:
        nonlocal page
        page = console.get(f"/tasks/{task_id}", params={"lang": lang}).text
        return marker in page

    wait_until(says_why)
    return page


def test_an_output_on_a_loopback_server_is_not_fetched_and_the_page_says_why(open_console, fake_upstream, inside):
    fake_upstream.output_base = inside.url  # another port on loopback: not the upstream's origin
    console = open_console(fake_upstream)
    task_id = create_task(console)
    settled_page(console, task_id, "plain http on a host other than the upstream")
    zh = settled_page(console, task_id, "不在上游自己的主机上", lang="zh-CN")
    assert "结果链接" in zh
    assert console.get(f"/tasks/{task_id}/video.mp4").status_code == 404
    assert inside.seen == []


def test_an_html_page_served_as_the_video_is_never_served(open_console, fake_upstream):
    fake_upstream.video = b"<!doctype html><html><body>login</body></html>"
    console = open_console(fake_upstream)
    task_id = create_task(console)
    settled_page(console, task_id, "is not an MP4 video")
    settled_page(console, task_id, "不是 MP4 视频", lang="zh-CN")
    assert console.get(f"/tasks/{task_id}/video.mp4").status_code == 404
    # A retry may be writing its .part right now; what matters is that no video is kept.
    assert [p.name for p in (console.app.state.settings.data_dir / "videos").iterdir() if p.suffix != ".part"] == []


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "streamed"])
def test_an_oversize_video_is_discarded(open_console, fake_upstream, streamed):
    fake_upstream.video = FAKE_MP4 + b"\0" * 200_000
    fake_upstream.stream_video = streamed
    console = open_console(fake_upstream, CONSOLE_MAX_VIDEO_MB=0.1)
    task_id = create_task(console)
    settled_page(console, task_id, "larger than this server accepts")
    assert console.get(f"/tasks/{task_id}/video.mp4").status_code == 404
    # A retry may be writing its .part right now; what matters is that no video is kept.
    assert [p.name for p in (console.app.state.settings.data_dir / "videos").iterdir() if p.suffix != ".part"] == []


@pytest.mark.parametrize("output", ["javascript:alert(document.domain)", "data:text/html,<script>x</script>"])
def test_an_output_that_is_not_a_web_address_is_never_a_link(open_console, fake_upstream, output):
    console = open_console(fake_upstream)
    task_id = create_task(console)
    fake_upstream.final_status[task_id] = {"output": [output]}  # before its first poll, 0.2 s away
    page = settled_page(console, task_id, "is not an http(s) address")
    # The upstream's own answer may be shown as text (escaped); what matters is that nothing links to it.
    assert not re.search(r"""(href|src)\s*=\s*["']?\s*(javascript|data):""", page, re.I)
    wait_until(lambda: 'data-settled="true"' in console.get(f"/tasks/{task_id}").text, timeout=30)
    page = console.get(f"/tasks/{task_id}").text
    assert "the task succeeded but the video could not be fetched" in page.lower()
    assert "original link" not in page
    assert not re.search(r"""(href|src)\s*=\s*["']?\s*(javascript|data):""", page, re.I)
    assert output not in console.get(f"/tasks/{task_id}", headers={"accept": "application/json"}).text


def test_parts_a_crash_left_are_removed_at_start_up(make_settings, tmp_path):
    from fastapi.testclient import TestClient

    from app.main import create_app

    data = tmp_path / "data"
    (data / "videos").mkdir(parents=True)
    (data / "frames").mkdir()
    left = [data / "videos" / ".task-1.mp4.k3j2.part", data / "frames" / f".{'a' * 64}.png.x9.part"]
    kept = [data / "videos" / "task-2.mp4", data / "frames" / f"{'b' * 64}.png"]
    for path in left + kept:
        path.write_bytes(b"some bytes")
    with TestClient(create_app(make_settings(CONSOLE_DATA_DIR=data), resolver=console_dns)):
        assert [path.exists() for path in left] == [False, False]
        assert [path.exists() for path in kept] == [True, True]
# --- posters ----------------------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path) -> Iterator[SqliteTaskStore]:
    opened = SqliteTaskStore(tmp_path / "console.db")
    yield opened
    opened.close()


def cached_task(store: SqliteTaskStore, videos: VideoStore, task_id: str, content: bytes, **fields: Any) -> None:
    videos.path_for(task_id).write_bytes(content)
    store.insert(
        TaskRecord(
            id=task_id, origin=TaskOrigin.CONSOLE, created_at="", submitted_at=1.0, updated_at=1.0,
            status=TaskStatus.SUCCEEDED, video_file=f"{task_id}.mp4", video_bytes=len(content), **fields,
        )
    )


def test_a_poster_is_one_jpeg_frame_of_the_video_beside_it_made_once(store, videos):
    cached_task(store, videos, "task-1", real_mp4())
    cache = VideoCache(videos, store, max_bytes=None)
    assert cache.add_poster("task-1") == "task-1.poster.jpg"
    poster = videos.find_poster("task-1")
    assert poster is not None and poster.parent == videos.folder
    with Image.open(poster) as image:
        assert image.format == "JPEG" and image.size == (128, 72)
        assert image.getpixel((4, 4))[2] > 150  # the blue of the frame the video was made from
    made = poster.stat().st_mtime_ns
    task = store.get("task-1")
    assert task is not None and task.poster_file == "task-1.poster.jpg"
    assert cache.poster(task) == poster and poster.stat().st_mtime_ns == made
    assert not [p for p in videos.folder.iterdir() if p.name.endswith(".part")]


def test_a_video_that_cannot_be_decoded_gets_no_poster_and_is_not_tried_again(store, videos):
    cached_task(store, videos, "task-1", FAKE_MP4)
    cache = VideoCache(videos, store, max_bytes=None)
    assert cache.add_poster("task-1") is None
    task = store.get("task-1")
    assert task is not None and task.poster_failed and task.poster_file is None
    videos.path_for("task-1").write_bytes(real_mp4())  # even if it changed, the verdict stands
    assert cache.poster(task) is None and videos.find_poster("task-1") is None


# --- the cache cap -----------------------------------------------------------------------------------

def test_the_cap_evicts_the_least_recently_viewed_videos_first_and_keeps_their_posters(store, videos):
    clock = FakeClock()
    cache = VideoCache(videos, store, max_bytes=2500, clock=clock)
    for task_id in ("a", "b", "c", "d"):
        cached_task(store, videos, task_id, b"x" * 1000)
        (videos.folder / videos.poster_name(task_id)).write_bytes(b"jpeg")
    for task_id in ("c", "a", "d", "b"):  # viewed in this order: c is the least recently viewed
        clock.advance(120)
        cache.viewed(store.get(task_id))
    assert cache.enforce() == ["c", "a"]
    assert sorted(p.name for p in videos.folder.glob("*.mp4")) == ["b.mp4", "d.mp4"]
    for task_id in ("a", "c"):
        task = store.get(task_id)
        assert task.video_file is None and task.evicted_at == clock.now and task.is_evicted
        assert videos.find_poster(task_id) is not None
    assert cache.total_bytes() == 2000 and cache.enforce() == []


def test_the_video_just_fetched_stays_even_when_it_alone_is_over_the_cap(store, videos):
    cache = VideoCache(videos, store, max_bytes=500, clock=FakeClock())
    cached_task(store, videos, "old", b"x" * 400)
    cached_task(store, videos, "new", b"x" * 1000)
    assert cache.enforce(keep="new") == ["old"]
    assert videos.find("new") is not None


def test_a_video_fetched_before_sizes_were_recorded_is_measured_from_its_file(store, videos):
    cached_task(store, videos, "legacy", b"x" * 900)
    store.update("legacy", video_bytes=None)
    assert VideoCache(videos, store, max_bytes=1000).enforce() == []
    assert store.get("legacy").video_bytes == 900


def test_without_a_cap_nothing_is_evicted(store, videos):
    cached_task(store, videos, "a", b"x" * 5000)
    assert VideoCache(videos, store, max_bytes=None).enforce() == []


def test_views_are_written_at_most_once_a_minute(store, videos):
    clock = FakeClock()
    cache = VideoCache(videos, store, max_bytes=None, clock=clock)
    cached_task(store, videos, "a", b"x")
    cache.viewed(store.get("a"))
    first = store.get("a").last_viewed_at
    clock.advance(30)
    cache.viewed(store.get("a"))
    assert store.get("a").last_viewed_at == first
    clock.advance(31)
    cache.viewed(store.get("a"))
    assert store.get("a").last_viewed_at == clock.now


# --- the cache in the running console: evicted, fetched again, or expired upstream -----------------

def test_an_evicted_video_is_fetched_again_from_a_fresh_task_document_when_viewed(open_console, fake_upstream):
    # Room for one fake video (2,072 bytes) and not two.
    console = open_console(fake_upstream, CONSOLE_MAX_CACHE_MB=0.003)
    first = create_task(console)
    wait_until(lambda: console.get(f"/tasks/{first}", headers=JSON).json()["video"])
    second = create_task(console)
    wait_until(lambda: console.get(f"/tasks/{second}", headers=JSON).json()["video"])
    assert console.get(f"/tasks/{first}/video.mp4").status_code == 404
    gets_before = len(fake_upstream.calls("GET", f"/v1/tasks/{first}"))
    page = console.get(f"/tasks/{first}")  # viewing it asks for it again
    assert page.status_code == 200
    wait_until(lambda: console.get(f"/tasks/{first}/video.mp4").status_code == 200)
    assert len(fake_upstream.calls("GET", f"/v1/tasks/{first}")) > gets_before
    assert console.get(f"/tasks/{first}/video.mp4").content == FAKE_MP4
    assert console.get(f"/tasks/{second}/video.mp4").status_code == 404  # now the other one made room


@pytest.mark.parametrize("lang, words", [("en", "it has expired upstream"), ("zh-CN", "已在上游过期")])
def test_an_evicted_video_the_upstream_no_longer_has_is_said_to_have_expired(open_console, fake_upstream, lang, words):
    gone_at_once = {"CONSOLE_GONE_AFTER_404S": 1, "CONSOLE_GONE_AFTER_SECONDS": 0}
    console = open_console(fake_upstream, CONSOLE_MAX_CACHE_MB=0.003, **gone_at_once)
    first = create_task(console)
    wait_until(lambda: console.get(f"/tasks/{first}", headers=JSON).json()["video"])
    second = create_task(console)
    wait_until(lambda: console.get(f"/tasks/{second}", headers=JSON).json()["video"])
    del fake_upstream.tasks[first]
    console.get(f"/tasks/{first}")
    wait_until(lambda: console.get(f"/tasks/{first}", headers=JSON).json()["gone"])
    page = console.get(f"/tasks/{first}", headers={"Accept-Language": lang}).text
    assert words in page
