"""The form contract through POST /tasks: bad input → 422, a message by the field, values kept, nothing sent."""

import base64
import re

import pytest

from tests.fake_upstream import started
from tests.helpers import SECRET, image_bytes
from tests.helpers import VALID_FORM as VALID


def post(console, data=None, files=None, **kwargs):
    return console.post("/tasks", data={**VALID, **(data or {})}, files=files, **kwargs)


def first(png):
    return {"first_frame": ("frame.png", png, "image/png")}


def field_error(html: str, name: str) -> str:
    match = re.search(rf'<p class="field-error" id="{name}-error"[^>]*>(.*?)</p>', html, re.S)
    return match.group(1) if match else ""


def test_valid_form_goes_upstream_as_documented_and_redirects(console, fake_upstream, png):
    fake = fake_upstream
    response = post(console, {"seed": "4294967295", "watermark": "true", "notify_hook": "https://hooks.example.com/r"},
                    files={**first(png), "last_frame": ("end.jpg", image_bytes(image_format="JPEG"), "image/jpeg")})
    assert response.status_code == 303
    (create,) = fake.calls("POST", "image_to_video")
    assert response.headers["location"] == f"/tasks/{fake.requests[0] and next(iter(fake.tasks))}"
    body = create.json()
    assert body == {
        "promptImage": [
            {"uri": "data:image/png;base64," + base64.b64encode(png).decode(), "position": "first"},
            {"uri": body["promptImage"][1]["uri"], "position": "last"},
        ],
        "model": "gen4_turbo", "ratio": "1280:720", "duration": 5, "seed": 4294967295,
        "watermark": True, "promptText": "waves roll in", "notify_hook": "https://hooks.example.com/r",
    }
    assert body["promptImage"][1]["uri"].startswith("data:image/jpeg;base64,")
    assert create.headers["authorization"] == f"Bearer {SECRET}"
    assert create.headers["x-runway-version"] == "2024-11-06"
    assert create.headers["content-type"] == "application/json"


def test_blank_seed_is_rolled_by_the_console_and_shown(console, fake_upstream, png):
    fake = fake_upstream
    response = post(console, {"seed": ""}, files=first(png))
    seed = fake.calls("POST")[0].json()["seed"]
    assert isinstance(seed, int) and 0 <= seed <= 4294967295
    page = console.get(response.headers["location"]).text
    assert f"<code data-seed>{seed}</code>" in page


def test_an_https_url_frame_is_passed_through(console, fake_upstream):
    fake = fake_upstream
    post(console, {"first_frame_url": "https://cdn.example.com/frame.png"})
    assert fake.calls("POST")[0].json()["promptImage"] == [
        {"uri": "https://cdn.example.com/frame.png", "position": "first"}]


def test_a_pasted_data_uri_is_checked_and_sent(console, fake_upstream, png):
    fake = fake_upstream
    uri = "data:image/png;base64," + base64.b64encode(png).decode()
    assert post(console, {"first_frame_url": uri}).status_code == 303
    assert fake.calls("POST")[0].json()["promptImage"][0]["uri"] == uri


@pytest.mark.parametrize(
    "data, files, field, text",
    [
        ({}, None, "first_frame", "A first frame is required"),
        ({"first_frame_url": "http://example.com/a.png"}, None, "first_frame", "https://"),
        ({"first_frame_url": "https://198.51.100.4/a.png"}, None, "first_frame", "domain name"),
        ({"ratio": "1280:768"}, "png", "ratio", "gen4_turbo accepts these ratios"),
        ({"duration": "7"}, "png", "duration", "durations"),
        ({"duration": "five"}, "png", "duration", "whole number"),
        ({"seed": "abc"}, "png", "seed", "Seed must be a whole number"),
        ({"seed": "4294967296"}, "png", "seed", "4294967295"),
        ({"seed": "-1"}, "png", "seed", "4294967295"),
        ({"promptText": "x" * 1001}, "png", "promptText", "1001 characters"),
        ({"model": "gen9"}, "png", "model", "Unknown model"),
        ({"notify_hook": "javascript:alert(1)"}, "png", "notify_hook", "callback"),
        ({}, "gif", "first_frame", "Unsupported image type (GIF)"),
        ({}, "text", "first_frame", "not a readable image"),
        ({}, "wide", "first_frame", "0.5 to 2"),
        ({"first_frame_url": "https://cdn.example.com/a.png"}, "png", "first_frame", "either a file or a URL"),
    ],
)
def test_bad_input_is_refused_by_its_field_and_nothing_is_sent(console, fake_upstream, png, data, files, field, text):
    fake = fake_upstream
    uploads = {
        None: None,
        "png": first(png),
        "gif": {"first_frame": ("a.png", image_bytes(image_format="GIF"), "image/png")},
        "text": {"first_frame": ("a.png", b"hello, not an image", "image/png")},
        "wide": {"first_frame": ("a.png", image_bytes(900, 300), "image/png")},
    }[files]
    response = post(console, data, files=uploads)
    assert response.status_code == 422
    assert text in field_error(response.text, field)
    assert fake.requests == []
    # everything the user typed is still there, the offending value included
    prompt = data.get("promptText", VALID["promptText"])
    assert f"{prompt}</textarea>" in response.text
    if field != "model":
        assert '<option value="gen4_turbo" selected>' in response.text


def test_an_accepted_upload_is_kept_when_another_field_fails(console, fake_upstream, png):
    fake = fake_upstream
    response = post(console, {"seed": "nope"}, files=first(png))
    assert response.status_code == 422
    ref = re.search(r'name="first_frame_ref" value="([0-9a-f]{64}\.png)"', response.text).group(1)
    assert console.get(f"/frames/{ref}").content == png
    # resubmitting with the kept reference and a corrected seed needs no new upload
    again = post(console, {"seed": "12", "first_frame_ref": ref})
    assert again.status_code == 303
    assert fake.calls("POST")[0].json()["promptImage"][0]["uri"].endswith(base64.b64encode(png).decode())


def test_a_kept_frame_can_be_removed(console, fake_upstream, png):
    response = post(console, {"seed": "nope"}, files=first(png))
    ref = re.search(r'name="first_frame_ref" value="([^"]+)"', response.text).group(1)
    again = post(console, {"first_frame_ref": ref, "first_frame_clear": "1"})
    assert "A first frame is required" in field_error(again.text, "first_frame")


@pytest.mark.parametrize("ref", ["../../console.db", "0" * 64 + ".png", "abc"])
def test_a_forged_frame_reference_is_refused(console, fake_upstream, ref):
    fake = fake_upstream
    response = post(console, {"first_frame_ref": ref})
    assert response.status_code == 422 and fake.requests == []


def test_last_frame_refused_for_a_model_without_it(tmp_path, serve, open_console, png):
    catalogue = tmp_path / "c.json"
    catalogue.write_text(
        '{"models": [{"id": "solo", "ratios": ["960:960"], "durations": [5], "positions": ["first"]}]}')
    fake = started(serve)
    console = open_console(fake, CONSOLE_CATALOGUE=str(catalogue))
    page = console.get("/").text
    assert re.search(r'<fieldset class="frame[^"]*" id="last_frame-fieldset"[^>]*disabled', page)
    response = console.post("/tasks", data={"model": "solo", "ratio": "960:960", "duration": "5"},
                            files={**first(png), "last_frame": ("b.png", png, "image/png")})
    assert response.status_code == 422
    assert "does not accept a last frame" in field_error(response.text, "last_frame")
    assert fake.requests == []


def test_an_oversized_upload_is_downscaled_and_the_page_says_so(console, fake_upstream):
    import io
    import os

    from PIL import Image

    fake = fake_upstream
    buffer = io.BytesIO()
    Image.frombytes("RGB", (1600, 1200), os.urandom(1600 * 1200 * 3)).save(buffer, "PNG")
    response = post(console, files={"first_frame": ("big.png", buffer.getvalue(), "image/png")})
    assert response.status_code == 303
    sent = fake.calls("POST")[0].json()["promptImage"][0]["uri"]
    assert sent.startswith("data:image/jpeg;base64,") and len(sent) <= 5 * 1024 * 1024
    assert "Re-encoded as JPEG" in console.get(response.headers["location"]).text


def test_upload_size_limit(fake_upstream, open_console, png):
    fake = fake_upstream
    console = open_console(fake, CONSOLE_MAX_UPLOAD_MB=0.001)
    # Within the body cap (two frames' worth plus the form), over the limit of one frame.
    response = post(console, files=first(image_bytes(200, 150, image_format="BMP")))
    assert response.status_code == 422
    assert "larger than" in field_error(response.text, "first_frame")
    assert fake.calls("POST") == []


def test_htmx_gets_the_form_fragment_on_error_and_a_redirect_header_on_success(console, png):
    bad = post(console, {"seed": "x"}, headers={"HX-Request": "true"})
    assert bad.status_code == 422
    assert bad.text.lstrip().startswith("<form") and "<html" not in bad.text
    good = post(console, files=first(png), headers={"HX-Request": "true"})
    assert good.status_code == 204 and good.headers["hx-redirect"].startswith("/tasks/")


def test_json_clients_get_json(console, png):
    bad = post(console, {"ratio": "1:1"}, headers={"Accept": "application/json"})
    assert bad.status_code == 422 and "ratio" in bad.json()["errors"]
    good = post(console, files=first(png), headers={"Accept": "application/json"})
    assert good.status_code == 201 and good.json()["url"] == f"/tasks/{good.json()['id']}"


def test_upstream_validation_issues_land_by_their_fields(console, fake_upstream, png):
    fake = fake_upstream
    fake.queue("create", status=400, body='{"error": "Validation of body failed", "issues": '
               '[{"path": ["ratio"], "message": "Invalid enum value"}, {"path": ["promptImage", 0, "uri"], '
               '"message": "Image too small"}]}')
    response = post(console, files=first(png))
    assert response.status_code == 422
    assert field_error(response.text, "ratio") == "Invalid enum value"
    assert field_error(response.text, "first_frame") == "Image too small"
    assert "The upstream rejected the request (HTTP 400)" in response.text


@pytest.mark.parametrize(
    "status, body, content_type, text",
    [
        (401, '{"error": "Invalid API key"}', "application/json", "refused the API key"),
        (400, '{"error": "You do not have enough credits to run this task."}', "application/json", "enough credits"),
        (429, '{"error": {"message": "daily limit", "type": "rate"}}', "application/json", "daily limit"),
        (502, "<html><title>502 Bad Gateway</title><body>nginx</body></html>", "text/html", "HTML page"),
    ],
)
def test_upstream_refusals_come_back_on_the_form_with_values_kept(console, fake_upstream, png, status, body,
                                                                   content_type, text):
    fake = fake_upstream
    fake.queue("create", status=status, body=body, content_type=content_type)
    response = post(console, files=first(png))
    assert response.status_code in (422, 502)
    assert text in response.text and "waves roll in</textarea>" in response.text
    assert SECRET not in response.text
    assert len(fake.calls("POST")) == 1  # a create is never retried


def test_an_upstream_that_echoes_the_key_does_not_leak_it(console, fake_upstream, png):
    fake = fake_upstream
    fake.queue("create", status=401, body=f'{{"error": {{"message": "bad key {SECRET}"}}}}')
    response = post(console, files=first(png))
    assert SECRET not in response.text and "bad key ***" in response.text


def test_edit_and_run_again_prefills_the_form(console, png):
    response = post(console, {"seed": "99"}, files=first(png))
    task_id = response.headers["location"].rsplit("/", 1)[1]
    page = console.get(f"/?from={task_id}").text
    assert 'value="99"' in page and "waves roll in</textarea>" in page
    assert re.search(r'name="first_frame_ref" value="[0-9a-f]{64}\.png"', page)


def test_a_refused_form_starts_with_a_summary_linking_each_message_to_its_field(console, fake_upstream):
    response = post(console, {"seed": "abc", "promptText": "x" * 1001})
    assert response.status_code == 422 and fake_upstream.calls("POST") == []
    summary = re.search(r'<div class="form-errors" id="form-errors"([^>]*)>(.*?)</div>', response.text, re.S)
    assert summary, "no error summary"
    assert 'tabindex="-1"' in summary.group(1) and "autofocus" in summary.group(1)
    assert response.text.count("autofocus") == 1
    links = re.findall(r'<a href="#([^"]+)">([^<]*)</a>', summary.group(2))
    assert links == [
        ("first_frame", "First frame: A first frame is required: upload an image or give an https URL."),
        ("promptText", "Prompt: The prompt is 1001 characters long; the limit is 1000."),
        ("seed", "Seed: Seed must be a whole number from 0 to 4294967295, or blank for a random one."),
    ]
    for target, _ in links:  # each link lands on a real control of the page
        assert f'id="{target}"' in response.text


def test_a_ratio_message_links_to_the_ratio_choices(console, png):
    response = post(console, {"ratio": "7:3"}, files=first(png))
    assert '<a href="#ratio-fieldset">Ratio: gen4_turbo accepts these ratios' in response.text
    assert 'id="ratio-fieldset"' in response.text


def test_a_form_without_messages_has_no_summary_and_autofocuses_nothing(console):
    page = console.get("/").text
    assert "form-errors" not in page and "autofocus" not in page


def test_ratios_are_offered_by_name_and_shape(console):
    page = console.get("/").text
    choices = re.findall(
        r'<input type="radio" name="ratio" value="([^"]+)"[^>]*>\s*<svg class="ratio-outline" width="(\d+)" '
        r'height="(\d+)"[^>]*>.*?<span class="ratio-name">([^<]+)</span>',
        page,
        re.S,
    )
    assert [(value, name) for value, _, _, name in choices] == [
        ("1280:720", "16:9"), ("720:1280", "9:16"), ("1104:832", "4:3"), ("832:1104", "3:4"),
        ("960:960", "1:1"), ("1584:672", "21:9"), ("1280:768", "5:3"), ("768:1280", "3:5"),
    ]
    outlines = {value: (int(w), int(h)) for value, w, h, _ in choices}
    assert outlines["1280:720"] == (28, 16) and outlines["720:1280"] == (16, 28) and outlines["960:960"] == (28, 28)
    # Only the selected model's ratios can be chosen without JavaScript.
    assert re.search(r'value="1280:768"[^>]*disabled', page)
    assert 'value="1280:720" id="ratio" data-ratio data-aspect="1.7777777777777777" data-name="16:9" checked' in page


def test_a_frame_cropped_much_by_the_ratio_gets_a_note_that_stays_with_the_task(console, fake_upstream):
    portrait = {"first_frame": ("tall.png", image_bytes(600, 900), "image/png")}
    response = post(console, {"ratio": "1280:720"}, files=portrait)
    assert response.status_code == 303
    page = console.get(response.headers["location"]).text
    note = "The image is 2:3 and the video 16:9: about 63% of the image is cropped away, keeping the centre."
    assert note in page

    fitting = post(console, {"ratio": "832:1104", "seed": "x"}, files=portrait)
    assert fitting.status_code == 422 and "cropped away, keeping" not in fitting.text
    refused = post(console, {"seed": "x"}, files=portrait)
    assert note in refused.text


def test_a_kept_frame_says_where_it_comes_from(console, png):
    response = post(console, {"seed": "99"}, files=first(png))
    task_id = response.headers["location"].rsplit("/", 1)[1]
    editing = console.get(f"/?from={task_id}").text
    assert "Kept from the task you are editing." in editing and 'data-ratio-preset="true"' in editing
    ref = re.search(r'name="first_frame_ref" value="([^"]+)"', editing).group(1)
    again = post(console, {"seed": "x", "first_frame_ref": ref})
    assert "Kept from your previous attempt." in again.text and 'data-ratio-preset="false"' in again.text


# --- what a visitor sends cannot reach inside ---------------------------------------------------


@pytest.mark.parametrize(
    "url, says",
    [
        ("https://127.1/a.png", "domain name"),
        ("https://2130706433/a.png", "domain name"),
        ("https://0x7f000001/a.png", "domain name"),
        ("https://0177.0.0.1/a.png", "domain name"),
        ("https://[::1]/a.png", "domain name"),
        ("https://[::ffff:127.0.0.1]/a.png", "domain name"),
        ("https://169.254.169.254/latest/meta-data", "domain name"),
        ("https://localhost/a.png", "this machine"),
        ("https://LOCALHOST./a.png", "this machine"),
        ("https://images.localhost/a.png", "this machine"),
        ("https://printer.local/a.png", "private network"),
        ("https://intranet/a.png", "private network"),
        ("https://user:secret@cdn.example.com/a.png", "user name and password"),
        ("https://rebind.example.com/a.png", "private address"),
        ("https://intranet.example.com/a.png", "private address"),
        ("https://metadata.example.com/a.png", "private address"),
        ("https://mixed.example.com/a.png", "private address"),
        ("https://v6local.example.com/a.png", "private address"),
    ],
)
def test_a_frame_url_that_leads_inside_is_refused_by_its_field(console, fake_upstream, url, says):
    response = post(console, {"first_frame_url": url})
    assert response.status_code == 422
    assert says in field_error(response.text, "first_frame")
    assert f'value="{url}"' in response.text  # kept, to correct
    assert fake_upstream.calls("POST") == []


def test_a_frame_url_message_is_in_chinese_too(console, fake_upstream):
    response = post(console, {"first_frame_url": "https://localhost/a.png"}, params={"lang": "zh-CN"})
    assert "指向本机" in field_error(response.text, "first_frame")


def test_a_frame_url_whose_host_does_not_resolve_is_left_to_the_upstream(console, fake_upstream):
    assert post(console, {"first_frame_url": "https://cdn.nowhere.test/a.png"}).status_code == 303


def test_a_frame_url_is_shown_as_its_address_never_loaded(console, fake_upstream):
    response = post(console, {"first_frame_url": "https://cdn.example.com/a.png"})
    page = console.get(response.headers["location"]).text
    assert '<img src="https://' not in page and "<code>https://cdn.example.com/a.png</code>" in page
    refused = post(console, {"first_frame_url": "https://cdn.example.com/a.png", "seed": "x"})
    assert '<img src="https://' not in refused.text and "<code>https://cdn.example.com/a.png</code>" in refused.text
    csp = response.headers["content-security-policy"]
    assert "img-src 'self' data: blob:;" in csp and "https:" not in csp


def multipart(fields: dict[str, bytes], charset: str | None = None) -> tuple[bytes, dict[str, str]]:
    """A multipart body built by hand, so a field can carry bytes no encoder would produce."""
    boundary = "----harden-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
        for name, value in fields.items()
    ]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    content_type = f"multipart/form-data; boundary={boundary}" + (f"; charset={charset}" if charset else "")
    return body, {"content-type": content_type}


@pytest.mark.parametrize("charset", [None, "utf-8"])
def test_text_that_is_not_utf8_is_refused_by_its_field(console, fake_upstream, charset):
    fields = {key: value.encode() for key, value in VALID.items()}
    fields["promptText"] = "海浪拍岸".encode("gbk")  # GBK bytes sent as if they were UTF-8
    fields["first_frame_url"] = b"https://cdn.example.com/\xff.png"
    body, headers = multipart(fields, charset)
    response = console.post("/tasks", content=body, headers=headers)
    assert response.status_code == 422
    assert "UTF-8" in field_error(response.text, "promptText")
    assert "UTF-8" in field_error(response.text, "first_frame")
    assert fake_upstream.calls("POST") == []


def test_text_that_is_not_utf8_is_refused_in_a_urlencoded_form_too(console, fake_upstream):
    body = b"model=gen4_turbo&ratio=1280%3A720&duration=5&first_frame_url=https%3A%2F%2Fcdn.example.com%2Fa.png"
    response = console.post(
        "/tasks",
        content=body + b"&promptText=%E6%B5%B7%FF",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422 and "UTF-8" in field_error(response.text, "promptText")
    good = console.post(
        "/tasks",
        content=body + b"&promptText=%E6%B5%B7%E6%B5%AA",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert good.status_code == 303 and fake_upstream.calls("POST")[0].json()["promptText"] == "海浪"


def test_an_image_with_too_many_pixels_is_refused_before_decoding(open_console, fake_upstream):
    console = open_console(fake_upstream, CONSOLE_MAX_IMAGE_MP=0.1)
    response = post(console, files=first(image_bytes(400, 300)))  # 0.12 MP
    assert response.status_code == 422
    assert "too many pixels" in field_error(response.text, "first_frame")
    assert fake_upstream.calls("POST") == []
