"""Ratios as people name them, the closest allowed ratio to a frame, and how much a ratio crops."""

import pytest

from app.aspects import aspect_name, closest_ratio, cropped_share, differs_much, orientation, ratio_shape

GEN4 = ["1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"]


@pytest.mark.parametrize(
    "width, height, name",
    [
        (1280, 720, "16:9"), (720, 1280, "9:16"), (1104, 832, "4:3"), (832, 1104, "3:4"), (960, 960, "1:1"),
        (1584, 672, "21:9"), (1280, 768, "5:3"), (600, 900, "2:3"), (400, 700, "9:16"), (700, 100, "7:1"),
        (1001, 997, "1:1"), (1009, 331, "3.05:1"),
    ],
)
def test_aspect_names(width, height, name):
    assert aspect_name(width, height) == name


def test_shapes_have_an_outline_in_proportion_and_an_orientation():
    wide, tall, square = ratio_shape("1584:672"), ratio_shape("720:1280"), ratio_shape("960:960")
    assert (wide.outline_width, wide.outline_height, wide.orientation) == (28, 12, "landscape")
    assert (tall.outline_width, tall.outline_height, tall.orientation) == (16, 28, "portrait")
    assert (square.outline_width, square.outline_height, square.orientation) == (28, 28, "square")
    assert ratio_shape("9999:10").outline_height == 6  # never thinner than a visible line
    assert orientation(3, 4) == "portrait"


@pytest.mark.parametrize(
    "size, ratio",
    [((600, 900), "832:1104"), ((1080, 1920), "720:1280"), ((4032, 3024), "1104:832"), ((1000, 1000), "960:960"),
     ((2400, 1000), "1584:672"), ((1920, 1080), "1280:720")],
)
def test_the_closest_ratio_to_a_frame(size, ratio):
    assert closest_ratio(*size, GEN4) == ratio


def test_crop_share_and_when_it_is_much():
    assert cropped_share(1280, 720, "1280:720") == pytest.approx(0)
    assert cropped_share(600, 900, "1280:720") == pytest.approx(0.625)
    assert cropped_share(1920, 1080, "720:1280") == pytest.approx(1 - (9 / 16) ** 2)
    assert differs_much(600, 900, "1280:720")
    assert not differs_much(600, 900, "832:1104")  # 2:3 in 3:4 loses 11 %
    assert differs_much(1104, 832, "1280:720") is True  # 4:3 in 16:9 loses 25 %
