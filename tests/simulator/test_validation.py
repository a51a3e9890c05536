"""Checking create bodies: every issue at once, each at its path, in the upstream's words."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from app.simulator.validation import ValidationFailed, validate, without_lone_surrogates
from tests.simulator.support import CATALOGUE, FIRST, KEY, LAST, body, data_uri, issue_paths


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"model": ...}, ["model"]),
        ({"model": "gen9"}, ["model"]),
        ({"model": 7}, ["model"]),
        ({"ratio": "1920:1080"}, ["ratio"]),
        ({"ratio": ...}, ["ratio"]),
        ({"ratio": ["1280:720"]}, ["ratio"]),
        ({"duration": 3}, ["duration"]),
        ({"duration": "1"}, ["duration"]),
        ({"duration": True}, ["duration"]),
        ({"duration": 1.5}, ["duration"]),
        ({"duration": ...}, ["duration"]),
        ({"seed": -1}, ["seed"]),
        ({"seed": 4_294_967_296}, ["seed"]),
        ({"seed": "42"}, ["seed"]),
        ({"seed": False}, ["seed"]),
        ({"promptText": 12}, ["promptText"]),
        ({"promptText": "🎬" * 501}, ["promptText"]),
        ({"watermark": "no"}, ["watermark"]),
        ({"notify_hook": 1}, ["notify_hook"]),
        ({"promptImage": ...}, ["promptImage"]),
        ({"promptImage": 5}, ["promptImage"]),
        ({"promptImage": []}, ["promptImage"]),
        ({"promptImage": "http://example.com/a.png"}, ["promptImage"]),
        ({"promptImage": [{"uri": LAST, "position": "last"}]}, ["promptImage"]),
        ({"promptImage": ["https://example.com/a.png"]}, ["promptImage", 0]),
        ({"promptImage": [{"uri": "https://203.0.113.9/a.png", "position": "first"}]}, ["promptImage", 0, "uri"]),
        (
            {"promptImage": [{"uri": "https://example.com/" + "a" * 2100, "position": "first"}]},
            ["promptImage", 0, "uri"],
        ),
        ({"promptImage": [{"position": "first"}]}, ["promptImage", 0, "uri"]),
        ({"promptImage": [{"uri": FIRST}]}, ["promptImage", 0, "position"]),
        ({"promptImage": [{"uri": FIRST, "position": 1}]}, ["promptImage", 0, "position"]),
        ({"promptImage": [{"uri": "data:image/png;base64,!!!", "position": "first"}]}, ["promptImage", 0, "uri"]),
        ({"promptImage": [{"uri": "data:text/plain;base64,aGk=", "position": "first"}]}, ["promptImage", 0, "uri"]),
        ({"promptImage": [{"uri": "data:image/png;base64,aGVsbG8=", "position": "first"}]}, ["promptImage", 0, "uri"]),
        ({"promptImage": [{"uri": data_uri(fmt="GIF"), "position": "first"}]}, ["promptImage", 0, "uri"]),
        ({"promptImage": [{"uri": data_uri((300, 100)), "position": "first"}]}, ["promptImage", 0, "uri"]),
        (
            {"promptImage": [{"uri": FIRST, "position": "first"}, {"uri": LAST, "position": "middle"}]},
            ["promptImage", 1, "position"],
        ),
        (
            {"promptImage": [{"uri": FIRST, "position": "first"}, {"uri": LAST, "position": "first"}]},
            ["promptImage", 1, "position"],
        ),
        (
            {"promptImage": [{"uri": FIRST, "position": "first"}, {"uri": "ftp://x/a.png", "position": "last"}]},
            ["promptImage", 1, "uri"],
        ),
    ],
)
def test_bad_bodies_get_runway_shaped_issues(client, changes, path):
    response = client.post("/v1/image_to_video", json=body(**changes), headers=KEY)
    assert path in issue_paths(response)


def test_every_issue_is_reported_at_once(client):
    payload = body(
        ratio="1:1",
        duration=7,
        seed="x",
        promptImage=[{"uri": "http://a.example/a.png", "position": "first"}, {"uri": LAST, "position": "side"}],
    )
    paths = issue_paths(client.post("/v1/image_to_video", json=payload, headers=KEY))
    for expected in (["ratio"], ["duration"], ["seed"], ["promptImage", 0, "uri"], ["promptImage", 1, "position"]):
        assert expected in paths


def test_a_data_uri_over_five_megabytes_is_refused(client):
    huge = "data:image/png;base64," + "A" * (5 * 1024 * 1024)
    response = client.post("/v1/image_to_video", json=body(promptImage=huge), headers=KEY)
    answer = response.json()
    assert issue_paths(response) == [["promptImage"]]
    assert "MB" in answer["issues"][0]["message"]


def test_a_last_frame_is_refused_where_the_catalogue_forbids_it(client):
    payload = body(model="firstonly", promptText="short")
    response = client.post("/v1/image_to_video", json=payload, headers=KEY)
    assert issue_paths(response) == [["promptImage", 1, "position"]]
    assert response.json()["issues"][0]["message"] == "Invalid position for firstonly: 'last' is not supported"


def test_a_prompt_over_the_models_limit_is_refused(client):
    payload = body(model="firstonly", promptImage=FIRST, promptText="x" * 21)
    assert issue_paths(client.post("/v1/image_to_video", json=payload, headers=KEY)) == [["promptText"]]


def test_a_frame_with_broken_exif_is_used_as_stored(client):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 36), "red").save(buffer, "PNG", exif=b"XM\x00*\x00\x00\x00\x08\x00\x00")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    assert client.post("/v1/image_to_video", json=body(promptImage=uri), headers=KEY).status_code == 200


def test_a_lone_surrogate_in_the_prompt_is_accepted_like_javascript_would(client):
    raw = json.dumps(body(promptText="\ud800 x")).encode()
    response = client.post("/v1/image_to_video", content=raw, headers={**KEY, "Content-Type": "application/json"})
    assert response.status_code == 200


def test_a_lone_surrogate_keeps_its_one_unit_length():
    assert without_lone_surrogates("a\ud800b") == "a\ufffdb"
    assert without_lone_surrogates("🎬") == "🎬"


def test_a_valid_body_gives_frames_in_order_shrunk_for_the_video():
    big_first = data_uri((1600, 900), "red")
    payload = body(
        promptImage=[{"uri": LAST, "position": "last"}, {"uri": big_first, "position": "first"}],
        promptText="Hello",
        duration=2,
    )
    request = validate(payload, CATALOGUE, 128)
    assert (request.ratio, request.duration, request.prompt, request.credits) == ("1280:720", 2, "Hello", 10)
    assert [frame.position for frame in request.frames] == ["first", "last"]
    first = request.frames[0].image
    assert first is not None and first.mode == "RGB"
    # Enough to cover 128×72 at the deepest zoom (×1.12), and no more.
    assert first.size == (144, 81)


def test_a_non_object_body_is_one_issue_at_the_root():
    with pytest.raises(ValidationFailed) as caught:
        validate([], CATALOGUE, 128)
    assert [issue["path"] for issue in caught.value.issues] == [[]]
