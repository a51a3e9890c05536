"""The console's pages and app-wide behaviour (app/routers/pages.py, app/main.py): form, history,
language, health, error pages, security headers, same-origin URLs under a root path, static files,
and a fuzz pass over every route that must never end in a 500 or a traceback."""

from __future__ import annotations

import random
import re
import warnings
from urllib.parse import urljoin, urlsplit

import pytest

from app.main import create_app
from app.middleware import CONTENT_SECURITY_POLICY
from app.resources import asset_dir
from tests.helpers import SECRET, VALID_FORM, create_task, wait_until

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

CONTRACT_FIELDS = (
    "first_frame", "last_frame", "first_frame_url", "last_frame_url", "promptText",
    "model", "ratio", "duration", "seed", "watermark", "notify_hook",
)
URL_ATTRIBUTE = re.compile(
    r'\s(href|src|srcset|action|formaction|poster|data|hx-get|hx-post|hx-put|hx-patch|hx-delete)="([^"]*)"'
)
FOLLOWABLE = ("href", "src", "hx-get")


def urls_in(html: str) -> list[tuple[str, str]]:
    """Every (attribute, URL) pair of the page's markup; links within the page (#field) are not URLs to fetch."""
    return [(attribute, url) for attribute, url in URL_ATTRIBUTE.findall(html) if not url.startswith("#")]


def html_lang(html: str) -> str:
    return re.search(r'<html lang="([^"]+)">', html).group(1)


@pytest.fixture
def fake_upstream(fake_upstream):
    """The fake upstream, with tasks staying where the test puts them."""
    fake_upstream.auto_advance = False
    return fake_upstream


# --- the form ----------------------------------------------------------------------------------

def test_form_page_carries_every_contract_field(sim_console):
    response = sim_console.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    names = set(re.findall(r'\sname="([^"]+)"', response.text))
    assert set(CONTRACT_FIELDS) <= names
    form = re.search(r'<form id="task-form"[^>]*>', response.text).group(0)
    assert 'method="post"' in form and 'action="/tasks"' in form and 'enctype="multipart/form-data"' in form
    assert re.search(r'<input type="file" id="first_frame" name="first_frame"', response.text)
    assert re.search(r'<input type="file" id="last_frame" name="last_frame"', response.text)


def test_form_says_plainly_that_the_simulator_answers(sim_console):
    page = sim_console.get("/").text
    banner = re.search(r'<div class="sim-banner" role="note"[^>]*>(.*?)</div>', page, re.S)
    assert banner and "built-in simulator answers" in banner.group(1)
    assert "RUNWAYML_BASE_URL" in banner.group(1)


def test_a_configured_upstream_is_named_and_no_simulator_is_mentioned(console, fake_upstream):
    base = fake_upstream.api_url
    page = console.get("/").text
    assert f"<code>{base}</code>" in page
    assert "simulator" not in page.lower()
    assert SECRET not in page


def test_credentials_in_the_base_url_are_never_shown(fake_upstream, open_console):
    base = fake_upstream.api_url
    with_credentials = base.replace("http://", "http://relayuser:relaypass@")
    console = open_console(RUNWAYML_BASE_URL=with_credentials)
    page = console.get("/").text
    health = console.get("/healthz").text
    assert f"<code>{base}</code>" in page
    for text in (page, health):
        assert "relaypass" not in text and "relayuser" not in text


def test_the_form_lists_recent_tasks_newest_first(console, png):
    for prompt in ("prompt-one", "prompt-two", "prompt-three"):
        create_task(console, png, promptText=prompt)
    recent = re.findall(r'<span class="prompt-line">([^<]*)</span>', console.get("/").text)
    assert recent == ["prompt-three", "prompt-two", "prompt-one"]


# --- language ----------------------------------------------------------------------------------

def test_english_is_the_default(sim_console):
    page = sim_console.get("/").text
    assert html_lang(page) == "en" and "New image-to-video task" in page


@pytest.mark.parametrize("accept", ["zh-CN", "zh-CN,zh;q=0.9,en;q=0.8", "fr-FR, zh;q=0.5, en;q=0.1", "zh-Hans-CN"])
def test_accept_language_chinese_gives_a_chinese_page(sim_console, accept):
    page = sim_console.get("/", headers={"Accept-Language": accept}).text
    assert html_lang(page) == "zh-CN"
    assert "新建图生视频任务" in page and "作品库" in page
    assert "New image-to-video task" not in page


def test_the_language_switch_sets_a_cookie_and_goes_back_where_it_was_clicked(sim_console):
    response = sim_console.get("/lang/zh-CN", headers={"Referer": "http://testserver/tasks?id=&x=1"})
    assert response.status_code == 303
    assert response.headers["location"] == "/tasks?id=&x=1"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("lang=zh-CN;") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    # the cookie now wins over the browser's wish
    assert html_lang(sim_console.get("/", headers={"Accept-Language": "en"}).text) == "zh-CN"
    sim_console.get("/lang/en")
    assert html_lang(sim_console.get("/", headers={"Accept-Language": "zh-CN"}).text) == "en"


def test_the_language_switch_without_a_referer_goes_to_the_form(sim_console):
    response = sim_console.get("/lang/zh-CN")
    assert response.status_code == 303 and response.headers["location"] == "/"


@pytest.mark.parametrize(
    "url, referer",
    [
        ("/lang/zh-CN", "https://evil.example/phish"),
        ("/lang/zh-CN", "https://evil.example//evil.example/phish"),
        ("/lang/zh-CN", "//evil.example/phish"),
        ("/lang/zh-CN", "/\\evil.example/phish"),
        ("/lang/zh-CN", "http://testserver/\\\\evil.example"),
        ("/lang/zh-CN", "https:evil.example"),
        ("/lang/zh-CN", "javascript:alert(1)"),
        ("/lang/zh-CN", "http://testserver/\t/evil.example"),
        ("/lang/zh-CN", "http://testserver/%2F%2Fevil.example"),
        ("/lang/zh-CN?next=https://evil.example/", None),
        ("/lang/zh-CN?next=//evil.example/", None),
    ],
)
def test_the_language_switch_never_redirects_to_another_host(sim_console, url, referer):
    headers = {"Referer": referer} if referer is not None else {}
    response = sim_console.get(url, headers=headers)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/") and not location.startswith("//")
    assert "\\" not in location
    resolved = urlsplit(urljoin("http://testserver/lang/zh-CN", location))
    assert resolved.scheme == "http" and resolved.netloc == "testserver"


def test_lang_query_parameter_switches_only_the_page_it_is_on(sim_console):
    response = sim_console.get("/?lang=zh-CN")
    assert html_lang(response.text) == "zh-CN"
    assert "set-cookie" not in response.headers
    assert html_lang(sim_console.get("/").text) == "en"


def test_an_unknown_language_code_is_a_plain_404_page(sim_console):
    response = sim_console.get("/lang/tlh")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"] and "Error 404" in response.text
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "url, cookies, headers",
    [
        ("/?lang=tlh", {}, {}),
        ("/", {"lang": "tlh"}, {}),
        ("/", {}, {"Accept-Language": "tlh, *;q=0.5, ;;;q=abc"}),
        ("/", {}, {"Accept-Language": "zh;q=nope"}),
    ],
)
def test_unknown_or_garbled_language_wishes_fall_back_to_english(sim_console, url, cookies, headers):
    sim_console.cookies.update(cookies)
    response = sim_console.get(url, headers=headers)
    assert response.status_code == 200 and html_lang(response.text) == "en"


# --- "open a task by id" -----------------------------------------------------------------

def test_open_by_id_redirects_to_the_task(sim_console):
    response = sim_console.get("/tasks", params={"id": "  c7f2b640-9adb-4565-8e99-f759cacef00c \n"})
    assert response.status_code == 303
    assert response.headers["location"] == "/tasks/c7f2b640-9adb-4565-8e99-f759cacef00c"


@pytest.mark.parametrize("bad_id", ["", "../console.db", "a/b", "-leading-dash", "x" * 129, "é", "a b", "a%00"])
def test_open_by_id_with_a_malformed_id_explains_it_on_the_history_page(sim_console, bad_id):
    response = sim_console.get("/tasks", params={"id": bad_id})
    assert response.status_code == 422
    assert "That is not a valid task id." in response.text and "<h1>Gallery</h1>" in response.text


def test_a_well_formed_but_unknown_id_is_a_clear_404_page(sim_console):
    opened = sim_console.get("/tasks", params={"id": "no-such-task-anywhere"}, follow_redirects=True)
    assert opened.status_code == 404
    assert "Error 404" in opened.text and "Not found: no such page or task." in opened.text
    assert 'href="/"' in opened.text


# --- health, error pages, headers --------------------------------------------------------------

def test_healthz_reports_the_simulator_and_the_models(sim_console):
    response = sim_console.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "upstream": "simulator", "simulator": True,
                               "models": ["gen4_turbo", "gen3a_turbo"]}


def test_healthz_names_a_configured_upstream_but_not_its_key(console, fake_upstream):
    base = fake_upstream.api_url
    health = console.get("/healthz")
    assert health.json()["upstream"] == base and health.json()["simulator"] is False
    assert SECRET not in health.text


def test_an_unknown_page_is_a_404_page_in_html(sim_console):
    response = sim_console.get("/no/such/page", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Error 404</h1>" in response.text and "Not found: no such page or task." in response.text


def test_an_unknown_page_is_a_404_in_json_for_api_clients(sim_console):
    response = sim_console.get("/no/such/page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": "Not Found"}


def test_a_wrong_method_is_a_405_page_that_says_what_is_allowed(sim_console):
    response = sim_console.delete("/healthz")
    assert response.status_code == 405 and "Error 405" in response.text
    assert response.headers["allow"] == "GET"
    as_json = sim_console.put("/", headers={"Accept": "application/json"})
    assert as_json.status_code == 405 and "error" in as_json.json()


def test_error_pages_follow_the_language(sim_console):
    response = sim_console.get("/nope", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 404 and html_lang(response.text) == "zh-CN"
    assert "未找到" in response.text


@pytest.mark.parametrize(
    "method, url",
    [
        ("GET", "/"), ("GET", "/tasks"), ("GET", "/tasks?id=bad id"), ("GET", "/tasks/unknown-task"),
        ("GET", "/healthz"), ("GET", "/lang/en"), ("GET", "/lang/xx"), ("GET", "/static/console.css"),
        ("GET", "/static/htmx-2.0.11.min.js"), ("GET", "/frames/nope.png"), ("GET", "/nowhere"),
        ("POST", "/tasks"), ("DELETE", "/"),
    ],
)
def test_every_answer_carries_the_security_headers(sim_console, method, url):
    response = sim_console.request(method, url)
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"


@pytest.fixture(params=["", "/runway"], ids=["no-root-path", "root-path"])
def broken_console(request, make_settings):
    """A console with one extra route that crashes, to see the last-resort error page."""
    app = create_app(make_settings(CONSOLE_ROOT_PATH=request.param))

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("internal detail that must not be shown: /etc/passwd")

    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        yield client, request.param


def test_an_unexpected_error_is_a_plain_500_page_with_headers_and_no_internals(broken_console, caplog):
    client, root = broken_console
    for path in {"/boom", f"{root}/boom"}:
        response = client.get(path)
        assert response.status_code == 500
        assert "Something went wrong on this server" in response.text
        assert "internal detail" not in response.text and "Traceback" not in response.text
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-content-type-options"] == "nosniff"
        assert {url for _, url in urls_in(response.text)} >= {f"{root}/", f"{root}/tasks"}
        assert all(url.startswith(f"{root}/") for _, url in urls_in(response.text))
    assert "RuntimeError: internal detail" in caplog.text  # logged for the operator instead
    as_json = client.get("/boom", headers={"Accept": "application/json"})
    assert as_json.status_code == 500 and as_json.json() == {"error": "internal error"}


# --- static files ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "name, content_types",
    [
        ("htmx-2.0.11.min.js", ("text/javascript", "application/javascript")),
        ("console.js", ("text/javascript", "application/javascript")),
        ("console.css", ("text/css",)),
        ("favicon.svg", ("image/svg+xml",)),
    ],
)
def test_static_files_are_served_with_their_content_type(sim_console, name, content_types):
    response = sim_console.get(f"/static/{name}?v=0.1.0")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] in content_types
    assert response.content == (asset_dir("static") / name).read_bytes()


@pytest.mark.parametrize("path", ["/static/..%2fapp%2fconfig.py", "/static/../app/config.py",
                                  "/static/%2e%2e/pyproject.toml", "/static/nope.js", "/static/"])
def test_static_files_do_not_leave_their_folder(sim_console, path):
    response = sim_console.get(path)
    assert response.status_code in (400, 404)
    assert "pydantic" not in response.text and "[project]" not in response.text


# --- same-origin URLs, with and without a root path --------------------------------------------

def pages_of_a_console(console, fake_upstream, png, prefix: str) -> dict[str, str]:
    """Every kind of page the console shows, with a finished task (and its video) on it."""
    fake = fake_upstream
    fake.auto_advance = True
    task_id = create_task(console, png, prefix=prefix, promptText="a crawl")
    wait_until(lambda: console.get(f"{prefix}/tasks/{task_id}", headers={"Accept": "application/json"})
               .json()["video"])
    refused = console.post(f"{prefix}/tasks", data={**VALID_FORM, "seed": "not a seed"},
                           files={"first_frame": ("frame.png", png, "image/png")})
    assert refused.status_code == 422
    pages = {
        "form": console.get(f"{prefix}/").text,
        "history": console.get(f"{prefix}/tasks").text,
        "task": console.get(f"{prefix}/tasks/{task_id}").text,
        "status": console.get(f"{prefix}/tasks/{task_id}/status").text,
        "prefilled": console.get(f"{prefix}/?from={task_id}").text,
        "refused form": refused.text,
        "bad id": console.get(f"{prefix}/tasks?id=../x").text,
        "not found": console.get(f"{prefix}/nowhere").text,
    }
    assert "/video.mp4" in pages["task"] and "/frames/" in pages["refused form"]
    return pages


def assert_same_origin_under(console, pages: dict[str, str], root: str) -> None:
    for name, html in pages.items():
        urls = urls_in(html)
        assert urls, name
        for attribute, url in urls:
            assert url.startswith(f"{root}/") and not url.startswith("//"), f"{name}: {attribute}={url}"
            assert urlsplit(url).netloc == "" and urlsplit(url).scheme == "", f"{name}: {attribute}={url}"
            if attribute in FOLLOWABLE:
                followed = console.get(url)
                assert followed.status_code in (200, 286, 303), f"{name}: {attribute}={url} → {followed.status_code}"


def test_every_url_in_every_page_is_same_origin_and_works(console, fake_upstream, png):
    assert_same_origin_under(console, pages_of_a_console(console, fake_upstream, png, ""), "")


@pytest.fixture
def prefixed_console(fake_upstream, open_console):
    return open_console(fake_upstream, CONSOLE_ROOT_PATH="/runway")


@pytest.mark.parametrize("proxy", ["strips-prefix", "keeps-prefix"])
def test_under_a_root_path_every_url_starts_with_it_whatever_the_proxy_does(prefixed_console, fake_upstream, png,
                                                                               proxy):
    prefix = "" if proxy == "strips-prefix" else "/runway"
    pages = pages_of_a_console(prefixed_console, fake_upstream, png, prefix)
    assert_same_origin_under(prefixed_console, pages, "/runway")
    created = prefixed_console.post(f"{prefix}/tasks", data=VALID_FORM,
                                    files={"first_frame": ("frame.png", png, "image/png")})
    assert created.headers["location"].startswith("/runway/tasks/")
    assert prefixed_console.get(f"{prefix}/tasks?id=abc").headers["location"] == "/runway/tasks/abc"
    assert prefixed_console.get(f"{prefix}/lang/en").headers["location"] == "/runway/"


def test_consoles_built_in_one_process_share_their_routes_but_not_their_settings(open_console, fake_upstream,
                                                                                 tmp_path):
    """create_app includes the routers once per process (app/main.py): each app still answers as its own."""
    prefixed = open_console(CONSOLE_ROOT_PATH="/runway")
    relayed = open_console(fake_upstream, CONSOLE_DATA_DIR=tmp_path / "other")
    assert prefixed.get("/healthz").json()["upstream"] == "simulator"
    assert relayed.get("/healthz").json()["upstream"] == fake_upstream.api_url
    assert 'action="/runway/tasks"' in prefixed.get("/").text
    assert 'action="/tasks"' in relayed.get("/").text and "/runway/" not in relayed.get("/").text


def test_under_a_root_path_both_request_paths_give_the_same_page(prefixed_console):
    stripped = prefixed_console.get("/")
    kept = prefixed_console.get("/runway/")
    assert stripped.status_code == kept.status_code == 200
    assert stripped.text == kept.text
    assert 'action="/runway/tasks"' in kept.text and 'href="/runway/static/console.css?v=' in kept.text
    for path in ("/healthz", "/runway/healthz", "/static/console.css", "/runway/static/console.css"):
        assert prefixed_console.get(path).status_code == 200, path
    assert prefixed_console.get("/runway").status_code in (301, 307, 308)


# --- robustness --------------------------------------------------------------------------------

ODD_SEGMENTS = [
    "..", "%2e%2e", "%2E%2E%2F", "%00", "%0a", "%0d%0a", "a%00b", "%ff%fe", "%", "%zz", "%%", "x" * 4000,
    "é", "中文", "😀", "\u202e", "%E2%80%AE", ";", "'\"<>", "<script>", "null", "-1", "0", "NaN", "~", "*",
    "%2F", "\\", "%5C", "%20", "+", "tasks", "status", "cancel", "video.mp4", "request.json", "zh-CN",
    "0" * 64 + ".png", "a" * 128, "a" * 129,
]
ROUTES = [
    "/", "/tasks", "/tasks/{id}", "/tasks/{id}/status", "/tasks/{id}/cancel", "/tasks/{id}/video.mp4",
    "/tasks/{id}/request.json", "/lang/{s}", "/healthz", "/frames/{s}", "/static/{s}", "/{s}", "/{s}/{s}",
    "/tasks/{s}/{s}", "/static/{s}/{s}", "/tasks/{id}/delete", "/tasks/{id}/share", "/tasks/{id}/share/revoke",
    "/tasks/{id}/poster.jpg", "/gallery/live", "/s/{s}", "/s/{s}/video.mp4", "/s/{s}/poster.jpg", "/s/{s}/frames/{s}",
]
METHODS = ["GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "PROPFIND"]
ODD_QUERIES = [
    "", "?", "?id=", "?id=%00", "?id=" + "x" * 5000, "?id=a&id=b", "?lang=xx", "?lang=zh-CN&lang=en",
    "?from=..%2f..", "?from=%00", "?from=é", "?download=maybe", "?download=1", "?download=", "?a=%zz",
    "?&&&==&", "?v=%ff", "?" + "q" * 3000, "?status=%00", "?status=nope&model=..&q=%25_", "?page=-1",
    "?page=99999999999999999999", "?ids=a,,b,%00&since=NaN", "?since=-1", "?q=" + "x" * 300,
]
ODD_HEADER_VALUES = [
    "", " ", "\t", "x" * 6000, "é中文", "\x7f", "application/json", "text/html", "*/*", "true", "false",
    "zh;q=abc, *;q=0.5,,;", "lang=%00; lang=zh-CN", "lang=tlh", "bytes=abc", "bytes=5-1", "bytes=-0",
    "bytes=0-1,3-4,9-2", "bytes=99999999999999999999-", "javascript:alert(1)", "//evil.example",
    "multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded", "application/json; charset=utf-7", "-1", "99999999999999999999",
]
HEADER_NAMES = [
    "Accept", "Accept-Language", "Cookie", "Range", "Referer", "Content-Type", "HX-Request", "If-Range",
    "If-None-Match", "If-Modified-Since", "X-Forwarded-Proto", "X-Forwarded-For", "Host", "Origin",
]


def odd_body(rng: random.Random, task_id: str) -> tuple[bytes, str | None]:
    """A garbage body and the content type it claims."""
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 3000)), rng.choice([None, "application/octet-stream"])
    if kind == 1:
        names = [*CONTRACT_FIELDS, "first_frame_ref", "first_frame_clear", "%", "", "a[]", "é"]
        pairs = [f"{rng.choice(names)}={rng.choice(ODD_SEGMENTS)}" for _ in range(rng.randrange(0, 60))]
        return "&".join(pairs).encode("utf-8", "surrogatepass"), "application/x-www-form-urlencoded"
    if kind == 2:
        parts = []
        for _ in range(rng.randrange(0, 8)):
            name = rng.choice([*CONTRACT_FIELDS, "first_frame_ref", "x" * 300, "é", ""])
            filename = rng.choice(["", '; filename="a.png"', '; filename="../x"', "; filename=", '; filename="\x00"'])
            content = rng.choice([b"", rng.randbytes(200), b"\x89PNG\r\n\x1a\n" + rng.randbytes(50), task_id.encode()])
            parts.append(b"--b0undary\r\nContent-Disposition: form-data; name=\"" + name.encode() + b'"'
                         + filename.encode() + b"\r\n\r\n" + content + b"\r\n")
        ending = rng.choice([b"--b0undary--\r\n", b"--b0undary", b"", b"--wrong--\r\n"])
        return b"".join(parts) + ending, rng.choice(["multipart/form-data; boundary=b0undary",
                                                     "multipart/form-data; boundary=other",
                                                     "multipart/form-data"])
    if kind == 3:
        return b'{"promptText": "x", "model": ' + rng.randbytes(20) + b"}", "application/json"
    if kind == 4:
        files = b"".join(b'--b\r\nContent-Disposition: form-data; name="first_frame"; filename="a.png"\r\n\r\nx\r\n'
                         for _ in range(rng.randrange(5, 12)))
        return files + b"--b--\r\n", "multipart/form-data; boundary=b"
    return b"", rng.choice([None, "text/plain", "multipart/form-data; boundary=b"])


def odd_request(rng: random.Random, task_id: str) -> tuple[str, str, dict[str, str], bytes]:
    path = rng.choice(ROUTES).replace("{id}", rng.choice([task_id, rng.choice(ODD_SEGMENTS)]))
    while "{s}" in path:
        path = path.replace("{s}", rng.choice(ODD_SEGMENTS), 1)
    url = path + rng.choice(ODD_QUERIES)
    headers = {rng.choice(HEADER_NAMES): rng.choice(ODD_HEADER_VALUES) for _ in range(rng.randrange(0, 4))}
    body, content_type = odd_body(rng, task_id) if rng.random() < 0.6 else (b"", None)
    if content_type:
        headers["Content-Type"] = content_type
    headers.pop("Host", None)  # the test client's own host keeps requests on this app
    return rng.choice(METHODS), url, headers, body


@pytest.fixture
def console_with_a_task(sim_console, png):
    """The simulator console with one settled task, so task routes reach past the id check."""
    task_id = create_task(sim_console, png, promptText="fuzz me [sim:moderation]")
    wait_until(lambda: sim_console.get(f"/tasks/{task_id}/status").status_code == 286)
    return sim_console, task_id


@pytest.mark.parametrize("seed", range(4))
def test_odd_requests_never_get_a_500_or_a_traceback(console_with_a_task, seed):
    client, task_id = console_with_a_task
    rng = random.Random(seed)
    for _ in range(150):
        method, url, headers, body = odd_request(rng, task_id)
        encoded = {name: value.encode("utf-8") for name, value in headers.items()}
        try:
            response = client.request(method, url, headers=encoded, content=body)
        except Exception as exc:  # noqa: BLE001 - the server raised: report which request did it
            pytest.fail(f"{method} {url[:200]} {headers!r:.300} raised {exc!r}")
        described = f"{method} {url[:200]} {headers!r:.300} → {response.status_code}"
        assert response.status_code < 500, described
        assert "Traceback" not in response.text and 'File "/' not in response.text, described
    # the console is still healthy and the task untouched by the fuzzing
    assert client.get("/healthz").json()["ok"] is True
    assert client.get(f"/tasks/{task_id}", headers={"Accept": "application/json"}).json()["status"] == "FAILED"
