"""Share links (app/sharing.py, app/routers/share.py): made once, read-only, previewable, revocable."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest

from app.sharing import TOKEN_PATTERN, Sharing, is_token, new_token
from app.storage import ShareKind, SqliteTaskStore
from tests.fake_upstream import FakeUpstream
from tests.helpers import FRAME_URL, FakeClock, create_task, real_mp4, wait_until

JSON = {"Accept": "application/json"}
HTMX = {"HX-Request": "true"}


class Page(HTMLParser):
    """The tags of a page that matter here: meta properties, links, forms, media."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: list[str] = []
        self.tags: list[str] = []
        self.sources: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if tag == "meta" and ("property" in values or "name" in values):
            self.meta[values.get("property") or values["name"]] = values.get("content", "")
        if tag == "a":
            self.links.append(values.get("href", ""))
        for name in ("src", "poster"):
            if name in values:
                self.sources.append(values[name])


@pytest.fixture
def console(open_console, fake_upstream: FakeUpstream) -> Any:
    fake_upstream.video = real_mp4()
    return open_console(fake_upstream)


@pytest.fixture
def finished_task(console, png) -> str:
    task_id = create_task(console, png, promptText="waves roll in", seed="42")
    wait_until(lambda: console.get(f"/tasks/{task_id}", headers=JSON).json()["video"] is not None)
    return task_id


def share(console: Any, task_id: str) -> str:
    response = console.post(f"/tasks/{task_id}/share")
    assert response.status_code == 303 and response.headers["location"] == f"/tasks/{task_id}#share"
    found = re.search(r'id="share-url" type="text" readonly value="http://testserver/s/([^"]+)"',
                      console.get(f"/tasks/{task_id}").text)
    assert found is not None
    return found.group(1)


def test_a_url_frame_on_a_shared_page_is_its_address_not_a_third_party_image(console):
    task_id = create_task(console)  # the first frame given as an https URL
    wait_until(lambda: console.get(f"/tasks/{task_id}", headers=JSON).json()["video"] is not None)
    page = console.get(f"/s/{share(console, task_id)}")
    assert page.status_code == 200
    assert FRAME_URL in page.text  # shown as text
    elsewhere = [src for src in Page(page.text).sources if "://" in src and not src.startswith("http://testserver/")]
    assert not elsewhere  # nothing is loaded from another origin


# --- tokens ---------------------------------------------------------------------------------------

def test_tokens_are_32_url_safe_characters_from_24_random_bytes():
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200 and all(TOKEN_PATTERN.match(t) for t in tokens)
    assert not is_token("../../etc") and not is_token("a" * 31) and not is_token("a" * 33)


def test_sharing_twice_gives_the_same_link_and_revoking_ends_it(tmp_path):
    store = SqliteTaskStore(tmp_path / "console.db")
    try:
        sharing = Sharing(store, clock=FakeClock())
        first = sharing.share(ShareKind.TASK, "task-1")
        assert sharing.share(ShareKind.TASK, "task-1") == first
        assert sharing.resolve(first.token, ShareKind.TASK) == first
        assert sharing.resolve(first.token, ShareKind.COMPARISON) is None  # a link opens only its own kind
        assert sharing.revoke(ShareKind.TASK, "task-1") and not sharing.revoke(ShareKind.TASK, "task-1")
        assert sharing.resolve(first.token, ShareKind.TASK) is None
        assert sharing.share(ShareKind.TASK, "task-1").token != first.token
    finally:
        store.close()


# --- the routes ----------------------------------------------------------------------------------------

def test_a_task_is_shared_once_and_the_link_shows_on_its_page(console, finished_task):
    token = share(console, finished_task)
    assert share(console, finished_task) == token
    page = console.get(f"/tasks/{finished_task}").text
    assert 'data-copy="#share-url"' in page and f'action="/tasks/{finished_task}/share/revoke"' in page


def test_the_shared_page_plays_the_video_and_shows_the_settings_with_nothing_to_act_on(console, finished_task):
    token = share(console, finished_task)
    response = console.get(f"/s/{token}")
    assert response.status_code == 200 and response.headers["x-robots-tag"] == "noindex"
    page = Page(response.text)
    assert "form" not in page.tags and "input" not in page.tags and "button" not in page.tags
    # No link into the console: only the language switch, which stays on this page.
    assert page.links and all(link.startswith("?lang=") for link in page.links)
    assert "/tasks" not in response.text and 'href="/"' not in response.text
    assert f"/s/{token}/video.mp4" in " ".join(page.sources)
    assert f"/s/{token}/frames/first" in " ".join(page.sources)
    for words in ("waves roll in", "gen4_turbo", "1280:720", "5 s", "42"):
        assert words in response.text
    video = console.get(f"/s/{token}/video.mp4", headers={"Range": "bytes=0-99"})
    assert video.status_code == 206 and len(video.content) == 100
    assert console.get(f"/s/{token}/video.mp4").content == real_mp4()
    assert console.get(f"/s/{token}/poster.jpg").content[:3] == b"\xff\xd8\xff"
    assert console.get(f"/s/{token}/frames/first").headers["content-type"] == "image/png"
    assert console.get(f"/s/{token}/frames/last").status_code == 404


def test_the_shared_page_carries_open_graph_tags_with_absolute_urls(console, finished_task):
    token = share(console, finished_task)
    meta = Page(console.get(f"/s/{token}", headers={"Host": "demo.example.org"}).text).meta
    base = f"http://demo.example.org/s/{token}"
    assert meta["og:type"] == "video.other" and meta["og:title"] == "waves roll in"
    assert meta["og:url"] == base
    assert meta["og:image"] == f"{base}/poster.jpg" and meta["twitter:image"] == f"{base}/poster.jpg"
    assert meta["og:video"] == f"{base}/video.mp4" and meta["og:video:type"] == "video/mp4"
    assert (meta["og:video:width"], meta["og:video:height"]) == ("1280", "720")
    assert meta["twitter:card"] == "summary_large_image"


def test_revoking_makes_the_page_and_everything_under_it_404(console, finished_task):
    token = share(console, finished_task)
    response = console.post(f"/tasks/{finished_task}/share/revoke")
    assert response.status_code == 303
    for path in ("", "/video.mp4", "/poster.jpg", "/frames/first"):
        assert console.get(f"/s/{token}{path}").status_code == 404
    assert 'id="share-url"' not in console.get(f"/tasks/{finished_task}").text
    assert share(console, finished_task) != token  # sharing again makes a new link


def test_with_htmx_the_share_box_is_swapped_in_place(console, finished_task):
    made = console.post(f"/tasks/{finished_task}/share", headers=HTMX)
    assert made.status_code == 200 and made.text.lstrip().startswith('<section class="panel share-box" id="share">')
    assert "http://testserver/s/" in made.text
    revoked = console.post(f"/tasks/{finished_task}/share/revoke", headers=HTMX)
    assert "http://testserver/s/" not in revoked.text and "Create a share link" in revoked.text


def test_deleting_the_task_ends_its_link(console, finished_task):
    token = share(console, finished_task)
    console.post(f"/tasks/{finished_task}/delete", data={"confirm": "yes"})
    assert console.get(f"/s/{token}").status_code == 404


@pytest.mark.parametrize("token", ["x" * 32, "short", "..%2F..%2Fconsole.db", "a" * 200])
def test_unknown_or_malformed_tokens_are_404(console, token):
    assert console.get(f"/s/{token}").status_code == 404
    assert console.get(f"/s/{token}/video.mp4").status_code == 404


def test_sharing_an_unknown_task_is_404_and_stores_nothing(console):
    assert console.post("/tasks/unknown-task/share").status_code == 404
    assert console.post("/tasks/unknown-task/share/revoke").status_code == 404


def test_a_shared_page_in_chinese(console, finished_task):
    token = share(console, finished_task)
    page = console.get(f"/s/{token}", headers={"Accept-Language": "zh-CN"}).text
    assert '<html lang="zh-CN"' in page and "分享的视频" in page and "5 秒" in page


def test_a_shared_task_still_running_says_so_and_reloads(console, fake_upstream, png):
    fake_upstream.auto_advance = False
    task_id = create_task(console, png)
    token = share(console, task_id)
    page = console.get(f"/s/{token}").text
    assert "still being generated" in page and '<meta http-equiv="refresh" content="5">' in page
    assert "og:video" not in page


# --- who may call: with a login configured, the link works without a session; the rest does not ----

PASSWORD = "correct horse battery"
CROSS_SITE = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


def test_with_a_login_the_share_link_needs_no_session_but_making_one_does(open_console, fake_upstream, png):
    fake_upstream.video = real_mp4()
    console = open_console(fake_upstream, CONSOLE_PASSWORD=PASSWORD)
    assert console.post("/login", data={"password": PASSWORD}).status_code == 303
    task_id = create_task(console, png)
    wait_until(lambda: console.get(f"/tasks/{task_id}", headers=JSON).json()["video"] is not None)
    token = share(console, task_id)
    console.cookies.clear()  # a stranger
    for path in ("", "/video.mp4", "/poster.jpg", "/frames/first"):
        assert console.get(f"/s/{token}{path}").status_code == 200, path
    for path in (f"/tasks/{task_id}/share", f"/tasks/{task_id}/share/revoke"):
        assert console.post(path).status_code in (303, 401)
        assert console.post(path).headers.get("location", "/login").startswith("/login")
    assert console.get(f"/s/{token}").status_code == 200  # nothing a stranger did revoked it


def test_a_cross_site_post_cannot_share_or_revoke(console, finished_task):
    assert console.post(f"/tasks/{finished_task}/share", headers=CROSS_SITE).status_code == 403
    assert 'id="share-url"' not in console.get(f"/tasks/{finished_task}").text
    token = share(console, finished_task)
    assert console.post(f"/tasks/{finished_task}/share/revoke", headers=CROSS_SITE).status_code == 403
    assert console.get(f"/s/{token}").status_code == 200


def test_a_share_link_reads_only_its_own_task(console, finished_task, png):
    other = create_task(console, png, promptText="someone else's")
    token = share(console, finished_task)
    # Nothing under the token reaches another task, a stored file by name, or the console's routes.
    for path in (f"/{other}", f"/../tasks/{other}", "/frames/../../console.db", "/frames/other", "/video.mp4/.."):
        response = console.get(f"/s/{token}{path}")
        assert response.status_code == 404 or other not in response.text
