"""The render step: frames given by URL are fetched on loopback, and failures are the upstream's."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image
from starlette.applications import Starlette
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from app.netguard import NetPolicy
from app.simulator.render import AssetUnavailable, Frame, fetch_frame, render_frames, shrink_for_video
from tests.helpers import LiveServer
from tests.simulator.support import FIRST, KEY, body

# The image host is on loopback, which the simulator only reaches when told it may.
LOCAL = NetPolicy(allow_private=True)


def png(size: tuple[int, int], colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def image_host() -> Iterator[str]:
    """A loopback server with an image, a redirect, a missing file and bytes that are no image."""

    async def image(request):
        return Response(png((80, 40), "green"), media_type="image/png")

    async def moved(request):
        return RedirectResponse("/image.png")

    async def text(request):
        return Response(b"not an image", media_type="image/png")

    app = Starlette(routes=[Route("/image.png", image), Route("/moved.png", moved), Route("/text.png", text)])
    server = LiveServer(app).start()
    yield server.url
    server.stop()


def test_an_image_url_is_fetched_and_decoded(image_host):
    picture = fetch_frame(Frame("first", "promptImage", url=f"{image_host}/image.png"), policy=LOCAL)
    assert picture.size == (80, 40)
    assert picture.getpixel((10, 10))[:3] == (0, 128, 0)


@pytest.mark.parametrize("path", ["/missing.png", "/moved.png", "/text.png"])
def test_an_image_that_cannot_be_had_is_an_invalid_asset(image_host, path):
    with pytest.raises(AssetUnavailable) as caught:
        fetch_frame(Frame("last", "promptImage[1]", url=f"{image_host}{path}"), policy=LOCAL)
    assert str(caught.value) == "Could not fetch the image at promptImage[1]"


def test_an_image_over_the_size_limit_is_refused_while_downloading(image_host):
    with pytest.raises(AssetUnavailable) as caught:
        fetch_frame(Frame("first", "promptImage", url=f"{image_host}/image.png"), max_bytes=100, policy=LOCAL)
    assert "larger than" in str(caught.value) and "promptImage" in str(caught.value)


def test_a_failed_fetch_fails_the_render_and_leaves_no_file(image_host, tmp_path):
    frames = [Frame("first", "promptImage", url=f"{image_host}/missing.png")]
    failure = render_frames(frames, "1280:720", 1, tmp_path / "out.mp4", max_side=64, policy=LOCAL)
    assert failure is not None and (failure.stage, failure.code) == ("end", "ASSET.INVALID")
    assert list(tmp_path.iterdir()) == []


def test_a_render_error_is_an_internal_failure(tmp_path):
    frames = [Frame("first", "promptImage", image=Image.new("RGB", (64, 36)))]
    failure = render_frames(frames, "not-a-ratio", 1, tmp_path / "out.mp4", max_side=64)
    assert failure is not None and failure.code == "INTERNAL"
    assert list(tmp_path.iterdir()) == []


def test_a_fetched_frame_renders_like_a_decoded_one(image_host, tmp_path):
    frames = [Frame("first", "promptImage", url=f"{image_host}/image.png")]
    assert render_frames(frames, "1280:720", 1, tmp_path / "out.mp4", max_side=64, policy=LOCAL) is None
    assert (tmp_path / "out.mp4").read_bytes()[4:8] == b"ftyp"


def test_an_image_on_a_private_address_is_not_fetched_unless_allowed(image_host):
    # The real API cannot see anyone's local network; neither does the simulator by default.
    with pytest.raises(AssetUnavailable):
        fetch_frame(Frame("first", "promptImage", url=f"{image_host}/image.png"))
    assert fetch_frame(Frame("first", "promptImage", url=f"{image_host}/image.png"), policy=LOCAL).size == (80, 40)


@pytest.mark.parametrize("uri", ["https://localhost:1/b.png", "https://127.1/b.png", "https://u:p@example.com/b.png"])
def test_an_image_url_inside_is_refused_when_the_task_is_created(client, uri):
    payload = body(promptImage=[{"uri": FIRST, "position": "first"}, {"uri": uri, "position": "last"}])
    response = client.post("/v1/image_to_video", json=payload, headers=KEY)
    assert response.status_code == 400
    assert response.json()["issues"][0]["path"] == ["promptImage", 1, "uri"]
    assert response.json()["issues"][0]["message"].startswith("Invalid url")


def test_small_frames_are_kept_and_large_ones_shrunk_to_cover_the_zoom():
    small = shrink_for_video(Image.new("L", (100, 50)), "1280:720", 128)
    assert small.size == (100, 50) and small.mode == "RGB"
    portrait = shrink_for_video(Image.new("RGB", (900, 1600)), "720:1280", 128)
    assert portrait.size == (81, 144)
