"""Hostile input, table-driven and by property, to the form (POST /tasks) and to the JSON API
(POST /v1/image_to_video): never a 500, nothing sent upstream for invalid input, and a message
that names the field (or, when no field is to blame, the request as a whole).

The files come from tests/fixtures/hostile.py, made in code.
"""

from __future__ import annotations

import base64
import io
import json
import re
import string
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.fake_upstream import FakeUpstream
from tests.fixtures.hostile import files
from tests.helpers import VALID_FORM

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

TOKEN = "rc_corpus-token-0123456789abcdefghij"
API_HEADERS = {"Authorization": f"Bearer {TOKEN}", "X-Runway-Version": "2024-11-06"}
FORM_FIELDS = {
    "first_frame", "last_frame", "promptText", "model", "ratio", "duration", "seed", "watermark", "notify_hook",
}
EMOJI = "\U0001f600"  # two UTF-16 units, as the upstream counts prompt length


@pytest.fixture(scope="module")
def corpus_console(tmp_path_factory) -> Any:
    """One console for the module (the inputs do not change its state), in front of a fake upstream."""
    from app.config import Settings
    from app.main import create_app
    from tests.helpers import LiveServer

    fake = FakeUpstream()
    server = LiveServer(fake.app).start()
    fake.base_url = server.url
    settings = Settings(
        _env_file=None,
        CONSOLE_DATA_DIR=tmp_path_factory.mktemp("corpus") / "data",
        RUNWAYML_BASE_URL=fake.api_url,
        RUNWAYML_API_SECRET="hk-corpus",
        CONSOLE_MAX_UPLOAD_MB=1,
        CONSOLE_API_TOKENS=f"corpus={TOKEN}",
        CONSOLE_API_RATE_PER_MINUTE=0,
    )
    with TestClient(create_app(settings), follow_redirects=False) as console:
        yield console, fake
    server.stop()


def creates(fake: FakeUpstream) -> int:
    return len(fake.calls("POST", "image_to_video"))


# --- the form --------------------------------------------------------------------------------------


@dataclass
class FormCase:
    """One hostile form post: fields replacing the valid form's, files, and the field blamed (None:
    the input is acceptable and must go upstream as a plain still image; "": the request as a whole)."""

    id: str
    blamed: str | None
    data: dict[str, Any] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] | None = None
    drop: tuple[str, ...] = ()
    raw: tuple[bytes, str] | None = None  # a body sent as is, with its content type


def upload(name: str, *, filename: str = "frame.png", content_type: str = "image/png") -> dict[str, Any]:
    return {"first_frame": (filename, files()[name], content_type)}


URL = "first_frame_url"
FORM_CASES = [
    # Files that lie, break or bomb.
    *[FormCase(f"file-{name}", "first_frame", files=upload(name)) for name in (
        "zero_bytes", "truncated_png", "truncated_jpeg", "png_signature_only", "text_as_png", "html_as_png",
        "svg_with_script", "pdf", "zip", "elf", "png_bomb", "png_bomb_wide", "jpeg_bomb", "gif",
        "animated_gif", "bmp", "tiff", "ico", "very_wide", "very_tall", "side_too_long",
    )],
    FormCase("file-svg-declared-svg", "first_frame",
             files=upload("svg_with_script", filename="x.svg", content_type="image/svg+xml")),
    FormCase("file-over-the-upload-limit", "first_frame",
             files={"first_frame": ("big.png", files()["png"] + b"\x00" * (1024 * 1024 + 10), "image/png")}),
    FormCase("file-garbage-last-frame", "last_frame",
             files={**upload("png"), "last_frame": ("end.png", b"<svg onload=alert(1)>", "image/png")}),
    FormCase("file-and-url-together", "first_frame", data={URL: "https://cdn.example.com/a.png"}, files=upload("png")),
    FormCase("file-last-without-first", "first_frame",
             files={"last_frame": ("end.png", files()["png"], "image/png")}),
    # Acceptable once understood: sent upstream as a still JPEG/PNG/WebP.
    *[FormCase(f"file-{name}", None, files=upload(name)) for name in (
        "animated_png", "animated_webp", "cmyk_jpeg", "sixteen_bit_png", "palette_png_transparent", "one_pixel",
        "exif_rotated_jpeg", "png_with_junk_after", "jpeg_with_png_name",
    )],
    FormCase("file-png-declared-as-text", None, files=upload("png", filename="a.txt", content_type="text/plain")),
    # Every URL trick.
    *[FormCase(f"url-{label}", "first_frame", data={URL: url}) for label, url in (
        ("http", "http://cdn.example.com/a.png"),
        ("loopback-ip", "https://127.0.0.1/a.png"),
        ("ipv6", "https://[::1]/a.png"),
        ("metadata-ip", "https://169.254.169.254/latest/meta-data/"),
        ("decimal-ip", "https://2130706433/a.png"),
        ("hex-ip", "https://0x7f000001/a.png"),
        ("octal-ip", "https://0177.0.0.1/a.png"),
        ("short-ip", "https://127.1/a.png"),
        ("javascript", "javascript:alert(1)"),
        ("file", "file:///etc/passwd"),
        ("ftp", "ftp://cdn.example.com/a.png"),
        ("gopher", "gopher://cdn.example.com:70/_x"),
        ("scheme-relative", "//cdn.example.com/a.png"),
        ("no-host", "https:///a.png"),
        ("only-scheme", "https://"),
        ("bad-port", "https://cdn.example.com:99999/a.png"),
        ("crlf", "https://cdn.example.com/a.png\r\nX-Injected: 1"),
        ("space-in-host", "https://cdn example.com/a.png"),
        ("too-long", "https://cdn.example.com/" + "a" * 2100 + ".png"),
        ("data-html", "data:text/html;base64," + base64.b64encode(b"<script>alert(1)</script>").decode()),
        ("data-svg", "data:image/svg+xml;base64," + base64.b64encode(files()["svg_with_script"]).decode()),
        ("data-not-base64", "data:image/png;base64,!!!!"),
        ("data-truncated-png", "data:image/png;base64," + base64.b64encode(files()["truncated_png"]).decode()),
        ("data-no-comma", "data:image/png;base64"),
    )],
    # Fields missing, duplicated, out of range or the wrong type.
    FormCase("model-missing", "model", drop=("model",)),
    FormCase("model-unknown", "model", data={"model": "gen9_ultra"}),
    FormCase("model-injection", "model", data={"model": "gen4_turbo' OR '1'='1"}),
    FormCase("ratio-missing", "ratio", drop=("ratio",)),
    FormCase("ratio-zero", "ratio", data={"ratio": "0:0"}),
    FormCase("ratio-negative", "ratio", data={"ratio": "-1280:720"}),
    FormCase("ratio-html", "ratio", data={"ratio": "<b>1280:720</b>"}),
    FormCase("duration-negative", "duration", data={"duration": "-5"}),
    FormCase("duration-zero", "duration", data={"duration": "0"}),
    FormCase("duration-huge", "duration", data={"duration": "9" * 40}),
    FormCase("duration-float", "duration", data={"duration": "5.0"}),
    FormCase("duration-exponent", "duration", data={"duration": "1e1"}),
    FormCase("duration-arabic-digit", "duration", data={"duration": "\u0665"}),
    FormCase("duration-fullwidth-digit", "duration", data={"duration": "\uff15"}),
    FormCase("seed-negative", "seed", data={"seed": "-1"}),
    FormCase("seed-too-big", "seed", data={"seed": "4294967296"}),
    FormCase("seed-huge", "seed", data={"seed": "9" * 60}),
    FormCase("seed-hex", "seed", data={"seed": "0x10"}),
    FormCase("seed-nan", "seed", data={"seed": "NaN"}),
    FormCase("prompt-1001-units-of-emoji", "promptText", data={"promptText": EMOJI * 500 + "a"}),
    FormCase("prompt-1001-ascii", "promptText", data={"promptText": "a" * 1001}),
    FormCase("hook-loopback", "notify_hook", data={"notify_hook": "javascript:alert(1)"}),
    FormCase("hook-too-long", "notify_hook", data={"notify_hook": "https://hooks.example.com/" + "a" * 2100}),
    # Requests that are not a form at all.
    # Not a form at all: read as an empty one, so the required fields are named.
    FormCase("body-json", "model", raw=(json.dumps({**VALID_FORM, URL: "https://cdn.example.com/a.png"}).encode(),
                                    "application/json")),
    FormCase("body-text", "model", raw=(b"model=gen4_turbo", "text/plain")),
    FormCase("body-multipart-without-boundary", "", raw=(b"--x\r\n\r\n", "multipart/form-data")),
    FormCase("body-multipart-broken", "model", raw=(b"--b\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngen",
                                               "multipart/form-data; boundary=b")),
    FormCase("body-non-utf8", "first_frame", raw=(b"model=gen4_turbo&ratio=1280%3A720&duration=5&promptText=%FF%FE%FA",
                                                  "application/x-www-form-urlencoded")),
    FormCase("body-too-many-files", "", files={f"first_frame{i}": ("a.png", b"x", "image/png") for i in range(6)}),
]


def post_form(console: TestClient, case: FormCase) -> Any:
    headers = {"Accept": "application/json"}
    if case.raw is not None:
        body, content_type = case.raw
        return console.post("/tasks", content=body, headers={**headers, "Content-Type": content_type})
    data = {**VALID_FORM, **case.data}
    for name in case.drop:
        data.pop(name, None)
    if case.files is None and URL not in data:
        data[URL] = "https://cdn.example.com/frame.png"
    return console.post("/tasks", data=data, files=case.files, headers=headers)


def sent_images(fake: FakeUpstream, since: int) -> list[Image.Image]:
    images = []
    for create in fake.calls("POST", "image_to_video")[since:]:
        for image in create.json()["promptImage"]:
            head, _, encoded = image["uri"].partition(",")
            assert head in ("data:image/png;base64", "data:image/jpeg;base64", "data:image/webp;base64"), head
            decoded = Image.open(io.BytesIO(base64.b64decode(encoded)))
            decoded.load()
            images.append(decoded)
    return images


def refusal(
    corpus_console: Any, post: Callable[[TestClient, Any], Any], case: FormCase | ApiCase, *, created: int
) -> dict[str, Any] | None:
    """Post a hostile `case`. An acceptable one (nothing blamed) must answer `created` and go up as one
    still image: None. Otherwise a 4xx with nothing sent upstream: its report, to check the message."""
    console, fake = corpus_console
    before = creates(fake)
    answer = post(console, case)
    assert answer.status_code < 500, answer.text[:300]
    if case.blamed is None:
        assert answer.status_code == created, answer.text[:300]
        (image,) = sent_images(fake, before)
        assert getattr(image, "n_frames", 1) == 1  # an animation goes up as its first frame
        return None
    assert 400 <= answer.status_code < 500, answer.text[:300]
    assert creates(fake) == before, "nothing goes upstream for invalid input"
    return answer.json()


def test_the_corpus_is_big_enough():
    assert len(FORM_CASES) + len(API_CASES) >= 120
    assert len({case.id for case in FORM_CASES}) == len(FORM_CASES)


@pytest.mark.parametrize("case", FORM_CASES, ids=lambda case: case.id)
def test_hostile_form_input(corpus_console, case: FormCase):
    report = refusal(corpus_console, post_form, case, created=201)
    if report is None:
        return
    if case.blamed:
        messages = report["errors"].get(case.blamed)
        assert messages and all(message.strip() for message in messages), report
        assert set(report["errors"]) <= FORM_FIELDS
    else:  # the form could not be read: one message for the request (the form's, or the HTTP error's)
        general = report.get("general") or [report.get("error", "")]
        assert all(message.strip() for message in general), report


def test_a_hostile_form_is_shown_again_with_the_message_by_its_field(corpus_console):
    console, fake = corpus_console
    answer = console.post("/tasks", data={**VALID_FORM, "seed": "NaN", URL: "https://127.1/a.png"})
    assert answer.status_code == 422
    for name in ("seed", "first_frame"):
        match = re.search(rf'<p class="field-error" id="{name}-error"[^>]*>(.*?)</p>', answer.text, re.S)
        assert match and match.group(1).strip()
    assert 'value="NaN"' in answer.text  # the values are kept


# --- the JSON API ------------------------------------------------------------------------------------


@dataclass
class ApiCase:
    """One hostile API request: a body (an object merged onto a valid one, or raw bytes) and the
    field its 400 must name (None: acceptable; "": the body as a whole)."""

    id: str
    blamed: str | None
    body: dict[str, Any] | None = None
    drop: tuple[str, ...] = ()
    raw: bytes | None = None
    content_type: str = "application/json"


def data_uri(name: str, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(files()[name]).decode()


VALID_API = {"model": "gen4_turbo", "ratio": "1280:720", "duration": 5, "promptText": "waves roll in",
             "promptImage": data_uri("png")}
API_CASES = [
    *[ApiCase(f"image-{name}", "promptImage", {"promptImage": data_uri(name)}) for name in (
        "zero_bytes", "truncated_png", "truncated_jpeg", "text_as_png", "html_as_png", "svg_with_script",
        "png_bomb", "jpeg_bomb", "animated_gif", "bmp", "very_wide", "very_tall",
    )],
    ApiCase("image-svg-declared", "promptImage", {"promptImage": data_uri("svg_with_script", "image/svg+xml")}),
    ApiCase("image-number", "promptImage", {"promptImage": 12345}),
    ApiCase("image-empty-list", "promptImage", {"promptImage": []}),
    ApiCase("image-three-frames", "promptImage", {"promptImage": [
        {"uri": data_uri("png"), "position": p} for p in ("first", "last", "first")]}),
    ApiCase("image-bad-position", "promptImage", {"promptImage": [{"uri": data_uri("png"), "position": "middle"}]}),
    ApiCase("image-http-url", "promptImage", {"promptImage": "http://cdn.example.com/a.png"}),
    ApiCase("image-ip-url", "promptImage", {"promptImage": "https://127.0.0.1/a.png"}),
    ApiCase("image-file-url", "promptImage", {"promptImage": "file:///etc/passwd"}),
    ApiCase("image-missing", "promptImage", drop=("promptImage",)),
    ApiCase("model-missing", "model", drop=("model",)),
    ApiCase("model-number", "model", {"model": 4}),
    ApiCase("model-unknown", "model", {"model": "gen9_ultra"}),
    ApiCase("ratio-missing", "ratio", drop=("ratio",)),
    ApiCase("ratio-list", "ratio", {"ratio": ["1280:720"]}),
    ApiCase("ratio-unknown", "ratio", {"ratio": "1:1000"}),
    ApiCase("duration-string", "duration", {"duration": "5"}),
    ApiCase("duration-float", "duration", {"duration": 5.5}),
    ApiCase("duration-bool", "duration", {"duration": True}),
    ApiCase("duration-out-of-range", "duration", {"duration": 11}),
    ApiCase("duration-huge", "duration", {"duration": 10**40}),
    ApiCase("seed-negative", "seed", {"seed": -1}),
    ApiCase("seed-too-big", "seed", {"seed": 4294967296}),
    ApiCase("seed-string", "seed", {"seed": "12"}),
    ApiCase("prompt-1001-units-of-emoji", "promptText", {"promptText": EMOJI * 500 + "a"}),
    ApiCase("prompt-number", "promptText", {"promptText": 42}),
    ApiCase("watermark-string", "watermark", {"watermark": "yes"}),
    ApiCase("hook-javascript", "notify_hook", {"notify_hook": "javascript:alert(1)"}),
    ApiCase("body-array", "", raw=b"[1, 2, 3]"),
    ApiCase("body-string", "", raw=b'"gen4_turbo"'),
    ApiCase("body-null", "", raw=b"null"),
    ApiCase("body-truncated-json", "", raw=json.dumps(VALID_API).encode()[:-7]),
    ApiCase("body-not-json", "", raw=b"model=gen4_turbo"),
    ApiCase("body-empty", "", raw=b""),
    ApiCase("body-non-utf8", "", raw=b'{"model": "\xff\xfe"}'),
    ApiCase("body-nan", "", raw=b'{"model": "gen4_turbo", "ratio": "1280:720", "duration": NaN}'),
    ApiCase("body-deeply-nested", "", raw=b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    ApiCase("body-form-encoded", "", raw=b"model=gen4_turbo&ratio=1280%3A720",
            content_type="application/x-www-form-urlencoded"),
    # Acceptable: JSON keeps the last of duplicated keys; unknown optional inputs are still images.
    ApiCase("body-duplicated-key", None, raw=json.dumps(VALID_API).encode()[:-1] + b', "model": "gen4_turbo"}'),
    ApiCase("body-json-as-text-plain", None, raw=json.dumps(VALID_API).encode(), content_type="text/plain"),
    ApiCase("image-cmyk", None, {"promptImage": data_uri("cmyk_jpeg", "image/jpeg")}),
    ApiCase("image-animated-png", None, {"promptImage": data_uri("animated_png")}),
]


def post_api(console: TestClient, case: ApiCase) -> Any:
    if case.raw is not None:
        body = case.raw
    else:
        document = {**VALID_API, **(case.body or {})}
        for name in case.drop:
            document.pop(name, None)
        body = json.dumps(document).encode()
    return console.post("/v1/image_to_video", content=body, headers={**API_HEADERS, "Content-Type": case.content_type})


def named_fields(report: dict[str, Any]) -> set[str]:
    return {str(issue["path"][0]) for issue in report.get("issues", []) if issue.get("path")}


@pytest.mark.parametrize("case", API_CASES, ids=lambda case: case.id)
def test_hostile_api_input(corpus_console, case: ApiCase):
    report = refusal(corpus_console, post_api, case, created=200)
    if report is None:
        return
    assert isinstance(report.get("error"), str) and report["error"].strip()
    if case.blamed:
        assert case.blamed in named_fields(report), report
        assert all(issue["message"].strip() for issue in report["issues"])


# --- properties --------------------------------------------------------------------------------------

text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
field_values = st.one_of(
    text,
    st.sampled_from(["", " ", "5", "10", "-1", "1280:720", "gen4_turbo", "gen3a_turbo", "https://a.example/x.png",
                     "4294967295", "4294967296", "0", EMOJI * 501, "\x00", "%FF"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.dictionaries(st.sampled_from(sorted(FORM_FIELDS - {"first_frame", "last_frame"})), field_values),
    image=st.one_of(st.none(), st.binary(max_size=64), st.sampled_from(["png", "truncated_png", "svg_with_script"])),
)
def test_any_form_is_answered_without_a_500_and_refusals_name_a_field(corpus_console, values, image):
    console, fake = corpus_console
    before = creates(fake)
    upload_files = None
    if isinstance(image, str):
        upload_files = upload(image)
    elif isinstance(image, bytes):
        upload_files = {"first_frame": ("x.png", image, "image/png")}
    answer = console.post("/tasks", data=values, files=upload_files, headers={"Accept": "application/json"})
    assert answer.status_code in (201, 400, 422), answer.text[:300]
    if answer.status_code == 201:
        assert creates(fake) == before + 1
        return
    assert creates(fake) == before
    report = answer.json()
    assert set(report["errors"]) <= FORM_FIELDS
    assert report["errors"] or report["general"]
    assert all(m.strip() for ms in report["errors"].values() for m in ms)


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                      st.floats(allow_nan=False, allow_infinity=False), text)
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(string.ascii_letters, max_size=8), inner, max_size=3), max_leaves=8)
api_keys = st.sampled_from(["model", "ratio", "duration", "seed", "promptText", "promptImage", "watermark",
                            "notify_hook", "contentModeration", "extra"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(overrides=st.dictionaries(api_keys, json_value, max_size=4))
def test_any_api_body_is_answered_without_a_500_and_refusals_name_a_field(corpus_console, overrides):
    console, fake = corpus_console
    before = creates(fake)
    body = {**VALID_API, **overrides}
    answer = console.post("/v1/image_to_video", json=body, headers=API_HEADERS)
    assert answer.status_code in (200, 400), answer.text[:300]
    if answer.status_code == 200:
        assert creates(fake) == before + 1
        return
    assert creates(fake) == before
    report = answer.json()
    assert report["error"].strip()
    assert named_fields(report) <= {*api_keys.elements}  # type: ignore[attr-defined]
    assert named_fields(report), report
