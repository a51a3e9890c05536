"""render_video: real H.264 files of the right size, length and content."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from PIL import Image

from app.simulator.video import output_size, render_video

RED = (220, 30, 30)
BLUE = (30, 30, 220)


def probe(path: Path) -> tuple[str, int, int, list[Image.Image], float]:
    """Codec, width, height, every decoded frame and the duration in seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [frame.to_image() for frame in container.decode(stream)]
        seconds = float(stream.duration * stream.time_base)
        return stream.codec_context.name, stream.width, stream.height, frames, seconds


def close_to(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 30) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


def checker(size: tuple[int, int], cell: int = 8) -> Image.Image:
    """A pattern where any zoom changes the pixels, unlike a flat colour."""
    image = Image.new("RGB", size, "white")
    for x in range(0, size[0], cell):
        for y in range(0, size[1], cell):
            if (x // cell + y // cell) % 2:
                image.paste((0, 0, 0), (x, y, x + cell, y + cell))
    return image


@pytest.mark.parametrize(
    ("ratio", "max_side", "expected"),
    [
        ("1280:720", 640, (640, 360)),
        ("720:1280", 128, (72, 128)),
        ("1584:672", 640, (640, 272)),
        ("960:960", 128, (128, 128)),
        ("1104:832", 128, (128, 96)),
        ("40:30", 640, (40, 30)),
    ],
)
def test_output_size_keeps_the_ratio_with_even_sides(ratio, max_side, expected):
    assert output_size(ratio, max_side) == expected


def test_output_size_rounds_odd_sides_to_even():
    width, height = output_size("1280:768", 101)
    assert width % 2 == 0 and height % 2 == 0
    assert abs(width / height - 1280 / 768) < 0.1


@pytest.mark.parametrize("ratio", ["16x9", "0:9", "", "1280:"])
def test_bad_ratio_is_refused(tmp_path, ratio):
    with pytest.raises(ValueError):
        render_video(Image.new("RGB", (10, 10)), None, ratio, 1, tmp_path / "x.mp4")
    assert list(tmp_path.iterdir()) == []


def test_crossfade_goes_from_the_first_frame_to_the_last(tmp_path):
    path = tmp_path / "fade.mp4"
    render_video(Image.new("RGB", (300, 200), RED), Image.new("RGB", (50, 50), BLUE), "1280:720", 2, path, max_side=128)

    codec, width, height, frames, seconds = probe(path)
    assert (codec, width, height) == ("h264", 128, 72)
    assert len(frames) == 48
    assert seconds == pytest.approx(2.0, abs=0.05)
    centre = (64, 36)
    assert close_to(frames[0].getpixel(centre), RED)
    assert close_to(frames[2].getpixel(centre), RED), "the first frame is held briefly"
    assert close_to(frames[-1].getpixel(centre), BLUE)
    assert close_to(frames[-3].getpixel(centre), BLUE), "the last frame is held briefly"
    middle = frames[24].getpixel(centre)
    assert not close_to(middle, RED) and not close_to(middle, BLUE)


def test_zoom_on_a_portrait_video_moves_and_keeps_its_size(tmp_path):
    path = tmp_path / "zoom.mp4"
    render_video(checker((200, 300)), None, "720:1280", 1, path, max_side=128, fps=12)

    codec, width, height, frames, seconds = probe(path)
    assert (codec, width, height) == ("h264", 72, 128)
    assert len(frames) == 12
    assert seconds == pytest.approx(1.0, abs=0.1)
    assert frames[0].tobytes() != frames[-1].tobytes()


@pytest.mark.parametrize(("ratio", "size"), [("1584:672", (128, 54)), ("720:1280", (72, 128)), ("960:960", (128, 128))])
def test_any_input_shape_and_mode_is_cover_fitted(tmp_path, ratio, size):
    path = tmp_path / "fit.mp4"
    first = Image.new("RGBA", (90, 160), (0, 200, 0, 128))
    last = Image.new("P", (400, 100))
    render_video(first, last, ratio, 1, path, max_side=128)

    _, width, height, frames, _ = probe(path)
    assert (width, height) == size
    assert len(frames) == 24


def test_render_replaces_the_file_atomically(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"old")
    render_video(Image.new("RGB", (64, 64), RED), None, "960:960", 1, path, max_side=64)

    assert path.read_bytes()[4:8] == b"ftyp"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"], "no temporary file is left behind"
