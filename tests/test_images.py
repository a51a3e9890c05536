import asyncio
import base64
import io
import os

import pytest
from PIL import Image, ImageChops

from app.image_preparation import _downscale, prepare_image
from app.images import (
    DATA_URI_MAX_BYTES,
    SIDE_MAX,
    ImageProblem,
    ImageSize,
    check_image_url,
    data_uri_length,
    measure_image,
    parse_data_uri,
)
from app.pixel_budget import PixelBudget
from tests.helpers import image_bytes


@pytest.mark.parametrize("image_format, mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_accepted_types_are_kept_byte_for_byte(image_format, mime):
    raw = image_bytes(image_format=image_format)
    prepared = prepare_image(raw)
    assert prepared.mime == mime and prepared.data == raw and prepared.notes == []
    assert prepared.data_uri().startswith(f"data:{mime};base64,")


def test_type_is_detected_by_content_not_by_name():
    # A PNG is a PNG whatever it is called: prepare_image never sees a file name.
    assert prepare_image(image_bytes(image_format="PNG")).mime == "image/png"


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"", "image_empty"),
        (b"GIF89a" + b"\x00" * 40, "image_unreadable"),
        (b"%PDF-1.7 not an image", "image_unreadable"),
        (image_bytes(image_format="PNG")[:200], "image_unreadable"),
    ],
)
def test_unusable_bytes_are_refused(raw, code):
    with pytest.raises(ImageProblem) as caught:
        prepare_image(raw)
    assert caught.value.code == code


def test_gif_is_refused_by_type():
    with pytest.raises(ImageProblem) as caught:
        prepare_image(image_bytes(image_format="GIF"))
    assert caught.value.code == "image_type" and caught.value.params["found"] == "GIF"


@pytest.mark.parametrize("size, ok", [((200, 100), True), ((100, 200), True), ((201, 100), False), ((100, 201), False)])
def test_ratio_must_be_between_half_and_two(size, ok):
    raw = image_bytes(*size)
    if ok:
        assert prepare_image(raw).width == size[0]
    else:
        with pytest.raises(ImageProblem) as caught:
            prepare_image(raw)
        assert caught.value.code == "image_ratio"


def test_exif_orientation_is_applied_before_checking():
    # Stored 300×200 with orientation 6 (rotate 90°): the upstream must receive the upright 200×300.
    image = Image.new("RGB", (300, 200), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    prepared = prepare_image(buffer.getvalue())
    assert (prepared.width, prepared.height) == (200, 300)
    assert [key for key, _ in prepared.notes] == ["note_exif_rotated"]
    assert Image.open(io.BytesIO(prepared.data)).size == (200, 300)


def test_ratio_is_checked_on_the_upright_image():
    image = Image.new("RGB", (100, 300), (10, 200, 30))  # orientation 8 turns it into 300×100
    exif = Image.Exif()
    exif[0x0112] = 8
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    with pytest.raises(ImageProblem) as caught:
        prepare_image(buffer.getvalue())
    assert caught.value.params["width"] == 300 and caught.value.params["height"] == 100


def test_an_upload_over_the_data_uri_limit_is_reencoded_to_fit():
    noisy = Image.frombytes("RGB", (1800, 1400), os.urandom(1800 * 1400 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, "PNG")
    raw = buffer.getvalue()
    assert data_uri_length(len(raw), "image/png") > DATA_URI_MAX_BYTES
    prepared = prepare_image(raw)
    assert prepared.mime == "image/jpeg"
    assert len(prepared.data_uri()) <= DATA_URI_MAX_BYTES
    assert "note_reencoded" in [key for key, _ in prepared.notes]


def test_a_small_limit_forces_a_downscale_and_says_so():
    noisy = Image.frombytes("RGB", (800, 600), os.urandom(800 * 600 * 3))
    buffer = io.BytesIO()
    noisy.save(buffer, "PNG")
    prepared = prepare_image(buffer.getvalue(), max_encoded=200_000)
    assert len(prepared.data_uri()) <= 200_000
    assert prepared.width < 800 and abs(prepared.width / prepared.height - 800 / 600) < 0.02
    assert [key for key, _ in prepared.notes] == ["note_reencoded", "note_downscaled"]


def test_transparent_png_becomes_white_not_black_when_reencoded():
    image = Image.frombytes("RGBA", (600, 600), os.urandom(600 * 600 * 4))
    image.putalpha(0)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    prepared = prepare_image(buffer.getvalue(), max_encoded=len(buffer.getvalue()))
    assert Image.open(io.BytesIO(prepared.data)).convert("RGB").getpixel((10, 10)) == (255, 255, 255)


def test_data_uri_round_trip_and_errors():
    raw = image_bytes()
    mime, data = parse_data_uri("data:image/png;base64," + base64.b64encode(raw).decode())
    assert (mime, data) == ("image/png", raw)
    for bad, code in [
        ("data:image/png,abc", "data_uri_invalid"),
        ("data:image/png;base64,@@@", "data_uri_invalid"),
        ("data:image/gif;base64,R0lG", "image_type"),
        ("nonsense", "data_uri_invalid"),
    ]:
        with pytest.raises(ImageProblem) as caught:
            parse_data_uri(bad)
        assert caught.value.code == code


@pytest.mark.parametrize(
    "url, code",
    [
        ("https://cdn.example.com/a.png", None),
        ("http://cdn.example.com/a.png", "url_not_https"),
        ("https://203.0.113.7/a.png", "url_ip_host"),
        ("https://[2001:db8::1]/a.png", "url_ip_host"),
        ("https://", "url_invalid"),
        ("https://example.com/a b.png", "url_invalid"),
        ("https://example.com/" + "a" * 2048, "url_too_long"),
    ],
)
def test_image_urls_follow_the_upstream_rules(url, code):
    problem = check_image_url(url)
    assert (problem.code if problem else None) == code


@pytest.mark.parametrize("image_format", ["PNG", "WEBP"])
def test_broken_exif_is_read_as_upright_not_a_crash(image_format):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buffer, image_format, exif=b"XM\x00*\x00\x00\x00\x08\x00\x00")
    prepared = prepare_image(buffer.getvalue())
    assert (prepared.width, prepared.height) == (40, 30)


# --- decoding bounded by memory ---------------------------------------------------------------


def test_the_header_gives_size_and_cost_before_any_pixel_is_decoded():
    size = measure_image(image_bytes(640, 384))
    assert (size.width, size.height, size.image_format, size.decode_cost) == (640, 384, "PNG", 640 * 384)
    # Downscaled on the way: the full-size bitmap and its smaller copy are held together.
    giant = ImageSize(8940, 8940, "PNG")
    assert giant.decode_cost == 8940 * 8940 + 7999 * 7999


def test_an_image_over_the_pixel_ceiling_is_refused_from_its_header():
    with pytest.raises(ImageProblem) as caught:
        measure_image(image_bytes(400, 300), max_pixels=100_000)
    assert (caught.value.code, caught.value.params) == ("image_pixels", {"max": 100_000})


def test_an_image_over_the_side_limit_is_downscaled_to_it():
    # A JPEG: at 42 MP the cheapest format to make, decode and write again (half the CPU of a PNG).
    prepared = prepare_image(image_bytes(SIDE_MAX + 400, 5000, image_format="JPEG"))
    assert (prepared.width, prepared.height) == (SIDE_MAX, int(5000 * SIDE_MAX / (SIDE_MAX + 400)))


def test_a_banded_downscale_matches_a_whole_one():
    source = Image.effect_noise((1500, 1300), 60).convert("RGB")
    whole = source.resize((1000, 867), Image.Resampling.LANCZOS)
    banded = _downscale(source, (1000, 867))
    assert max(high for _, high in ImageChops.difference(whole, banded).getextrema()) <= 1


def test_the_pixel_budget_holds_back_what_does_not_fit_and_serves_in_order():
    async def scenario() -> list[str]:
        budget = PixelBudget(100)
        order: list[str] = []
        first_in = asyncio.Event()
        release = asyncio.Event()

        async def decode(name: str, pixels: int) -> None:
            async with budget.hold(pixels) as weight:
                order.append(f"{name}+{weight}")
                if name == "a":
                    first_in.set()
                    await release.wait()
                assert budget.in_use <= budget.capacity

        a = asyncio.create_task(decode("a", 70))
        await first_in.wait()
        big = asyncio.create_task(decode("big", 500))  # more than the budget: runs alone, capped
        small = asyncio.create_task(decode("small", 20))  # would fit now, but waits its turn
        await asyncio.sleep(0)
        assert order == ["a+70"] and budget.in_use == 70
        release.set()
        await asyncio.gather(a, big, small)
        assert budget.in_use == 0
        return order

    assert asyncio.run(scenario()) == ["a+70", "big+100", "small+20"]


def test_a_cancelled_wait_gives_nothing_away():
    async def scenario() -> int:
        budget = PixelBudget(10)
        async with budget.hold(10):
            waiting = asyncio.create_task(budget.hold(5).__aenter__())
            await asyncio.sleep(0)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        async with budget.hold(10):
            return budget.in_use

    assert asyncio.run(scenario()) == 10
