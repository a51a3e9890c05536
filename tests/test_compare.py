"""Comparisons over HTTP: one form post starts one task per model × seed, fitted to each model, all or
nothing on bad input; the grid page and its cells; JSON and HTMX answers; a create refused midway."""

from __future__ import annotations

import json
import re
from typing import Any

from app.comparisons import MAX_COMBINATIONS
from app.i18n import load_messages
from tests.helpers import SECRET, VALID_FORM, image_bytes, wait_until

EN = load_messages()["en"]
ZH = load_messages()["zh-CN"]


def post_compare(console, png, **fields):
    data = {**VALID_FORM, **fields}
    return console.post("/tasks", data=data, files={"first_frame": ("f.png", png, "image/png")})


def sent_bodies(fake_upstream):
    return [call.json() for call in fake_upstream.calls("POST", "/image_to_video")]


def comparison_of(console, response):
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/compare/[0-9a-f]{32}", location)
    return console.get(location, headers={"Accept": "application/json"}).json()


def console_with_models(open_console, fake_upstream, tmp_path, *models: dict[str, Any]):
    """A console whose catalogue holds just `models`."""
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(json.dumps({"models": list(models)}))
    return open_console(fake_upstream, CONSOLE_CATALOGUE=str(catalogue))


def test_two_models_start_one_task_each_with_the_closest_ratio(console, fake_upstream, png):
    response = post_compare(console, png, model=["gen4_turbo", "gen3a_turbo"], ratio="1280:720", seed="77")

    comparison = comparison_of(console, response)
    bodies = sent_bodies(fake_upstream)
    # gen3a_turbo has no 16:9; 1280:768 is the nearest shape. (Creates run concurrently: any order.)
    assert sorted((b["model"], b["ratio"], b["duration"], b["seed"]) for b in bodies) == [
        ("gen3a_turbo", "1280:768", 5, 77),
        ("gen4_turbo", "1280:720", 5, 77),
    ]
    assert {b["promptImage"][0]["uri"] for b in bodies} == {bodies[0]["promptImage"][0]["uri"]}  # one upload
    entries = comparison["entries"]
    assert [e["model"] for e in entries] == ["gen4_turbo", "gen3a_turbo"]
    assert [e["adjusted"]["ratio"] for e in entries] == [False, True]
    assert all(e["task"] and e["error"] is None for e in entries)
    for entry in entries:
        task = console.get(f"/tasks/{entry['task']}", headers={"Accept": "application/json"}).json()
        assert (task["model"], task["ratio"], task["seed"]) == (entry["model"], entry["ratio"], 77)


def test_a_seed_count_rolls_distinct_seeds_and_the_form_seed_comes_first(console, fake_upstream, png):
    comparison = comparison_of(console, post_compare(console, png, seed="5", seeds="3"))

    seeds = [e["seed"] for e in comparison["entries"]]
    assert seeds[0] == 5 and len(set(seeds)) == 3
    assert sorted(b["seed"] for b in sent_bodies(fake_upstream)) == sorted(seeds)
    assert {b["model"] for b in sent_bodies(fake_upstream)} == {"gen4_turbo"}


def test_a_seed_list_runs_exactly_those_seeds_for_every_model(console, fake_upstream, png):
    comparison = comparison_of(
        console, post_compare(console, png, model=["gen4_turbo", "gen3a_turbo"], seeds="7, 42", duration="10")
    )

    assert [(e["model"], e["seed"]) for e in comparison["entries"]] == [
        ("gen4_turbo", 7), ("gen4_turbo", 42), ("gen3a_turbo", 7), ("gen3a_turbo", 42),
    ]
    assert sorted((b["model"], b["seed"], b["duration"]) for b in sent_bodies(fake_upstream)) == [
        ("gen3a_turbo", 7, 10), ("gen3a_turbo", 42, 10), ("gen4_turbo", 7, 10), ("gen4_turbo", 42, 10),
    ]


def test_duration_is_fitted_per_model(open_console, fake_upstream, png, tmp_path):
    console = console_with_models(
        open_console, fake_upstream, tmp_path,
        {"id": "long", "ratios": ["1280:720"], "durations": [5, 10], "prices": {"5": 10, "10": 20}},
        {"id": "short", "ratios": ["720:1280", "960:960"], "durations": [4, 6], "prices": {"4": 3, "6": 5}},
    )

    comparison = comparison_of(
        console, post_compare(console, png, model=["long", "short"], ratio="1280:720", duration="10")
    )

    short = comparison["entries"][1]
    assert (short["ratio"], short["duration"], short["adjusted"]) == (
        "960:960", 6, {"ratio": True, "duration": True},
    )
    page = console.get(comparison["url"]).text
    assert "adjusted from 1280:720" in page and "adjusted from 10 s" in page
    assert "Estimated cost" in page and ">25 credits<" in page.replace("</dd>", "<")  # 20 + 5


def test_any_invalid_combination_sends_nothing_upstream(open_console, fake_upstream, png, tmp_path):
    console = console_with_models(
        open_console, fake_upstream, tmp_path,
        {"id": "roomy", "ratios": ["1280:720"], "durations": [5], "prompt_max_units": 1000},
        {"id": "terse", "ratios": ["1280:720"], "durations": [5], "prompt_max_units": 10, "positions": ["first"]},
    )
    last = image_bytes(color=(200, 30, 30))

    response = console.post(
        "/tasks",
        data={**VALID_FORM, "model": ["roomy", "terse"], "promptText": "a prompt longer than ten"},
        files={"first_frame": ("f.png", png, "image/png"), "last_frame": ("l.png", last, "image/png")},
    )

    assert response.status_code == 422
    assert fake_upstream.calls("POST") == []
    page = response.text
    assert "terse:" in page  # the message names the model it is about
    assert 'value="terse" checked' in page  # the choice is kept
    assert 'name="first_frame_ref"' in page  # and the frames too


def test_too_many_combinations_are_refused_with_the_cap(console, fake_upstream, png):
    response = post_compare(console, png, model=["gen4_turbo", "gen3a_turbo"], seeds="5")

    assert response.status_code == 422
    assert fake_upstream.calls("POST") == []
    message = EN["errors.compare_too_many"].format(count=10, models=2, seeds=5, max=MAX_COMBINATIONS)
    assert message in response.text
    assert 'value="5"' in response.text


def test_bad_seeds_and_unknown_models_are_refused_as_json(console, fake_upstream, png):
    for fields, field in ((dict(seeds="a, b"), "seeds"), (dict(seeds="0"), "seeds"),
                          (dict(model=["gen4_turbo", "nope"]), "model")):
        response = console.post(
            "/tasks",
            data={**VALID_FORM, **fields},
            files={"first_frame": ("f.png", png, "image/png")},
            headers={"Accept": "application/json"},
        )
        assert response.status_code == 422, fields
        assert field in response.json()["errors"], response.json()
    assert fake_upstream.calls("POST") == []


def test_json_answers_201_with_the_comparison_and_htmx_gets_a_redirect(console, png):
    response = console.post(
        "/tasks",
        data={**VALID_FORM, "seeds": "2"},
        files={"first_frame": ("f.png", png, "image/png")},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 201
    body = response.json()
    assert len(body["tasks"]) == 2 and body["url"] == f"/compare/{body['id']}"

    htmx = console.post(
        "/tasks", data={**VALID_FORM, "seeds": "2"}, files={"first_frame": ("f.png", png, "image/png")},
        headers={"HX-Request": "true"},
    )
    assert htmx.status_code == 204 and htmx.headers["HX-Redirect"].startswith("/compare/")


def test_a_create_refused_midway_is_shown_on_its_cell_and_the_others_run(console, fake_upstream, png):
    fake_upstream.queue("create", status=429, body='{"error": "Too many requests, key ' + SECRET + '"}')

    comparison = comparison_of(console, post_compare(console, png, seeds="3"))

    failed = [e for e in comparison["entries"] if e["task"] is None]
    assert len(failed) == 1 and "Too many requests" in failed[0]["error"]
    assert SECRET not in str(comparison)
    assert len(comparison["tasks"]) == 2
    page = console.get(comparison["url"]).text
    assert EN["compare.not_started"] in page and "Too many requests" in page
    assert EN["compare.some_not_started"].format(n=1, count=3) in page
    assert SECRET not in page


def test_the_grid_polls_each_cell_until_it_settles_then_shows_the_videos(console, fake_upstream, png):
    fake_upstream.auto_advance = False  # the tasks stay PENDING until the grid has been looked at
    comparison = comparison_of(console, post_compare(console, png, model=["gen4_turbo", "gen3a_turbo"]))
    page = console.get(comparison["url"]).text
    assert page.count('class="compare-cell') == 2
    assert f'hx-get="/compare/{comparison["id"]}/cells/0"' in page
    assert "compare.js" in page and "data-sync-play" in page and 'http-equiv="refresh"' in page
    assert console.get(f"/compare/{comparison['id']}/cells/0").status_code == 200
    fake_upstream.auto_advance = True

    def settled(index: int) -> bool:
        return console.get(f"/compare/{comparison['id']}/cells/{index}").status_code == 286

    wait_until(lambda: settled(0) and settled(1))
    cell = console.get(f"/compare/{comparison['id']}/cells/1").text
    assert "hx-get" not in cell and "data-sync-video" in cell
    assert "gen3a_turbo" in cell and "1280:768" in cell
    page = console.get(comparison["url"]).text
    assert page.count("data-sync-video") == 2 and "http-equiv=\"refresh\"" not in page
    assert console.get(f"/compare/{comparison['id']}/cells/2").status_code == 404


def test_unknown_comparisons_are_404(console):
    assert console.get("/compare/" + "0" * 32).status_code == 404
    assert console.get("/compare/not-an-id").status_code == 404
    assert console.get("/compare/" + "0" * 32 + "/cells/0").status_code == 404


def test_task_page_links_back_to_its_comparison(console, png):
    comparison = comparison_of(console, post_compare(console, png, seeds="2"))
    page = console.get(comparison["entries"][0]["url"]).text
    assert f'href="{comparison["url"]}"' in page


def test_the_form_offers_compare_without_javascript_in_both_languages(console):
    for lang, messages in (("en", EN), ("zh-CN", ZH)):
        page = console.get("/", params={"lang": lang}).text
        assert messages["compare.summary"] in page
        assert 'type="checkbox" name="model" value="gen3a_turbo"' in page
        assert 'name="seeds"' in page
        assert messages["compare.estimate_static"].format(max=MAX_COMBINATIONS) in page


def test_one_model_and_no_seeds_is_an_ordinary_task(console, fake_upstream, png):
    response = post_compare(console, png, model=["gen4_turbo", "gen4_turbo"], seeds="")
    assert response.status_code == 303 and response.headers["location"].startswith("/tasks/")
    assert len(fake_upstream.calls("POST")) == 1


def test_a_comparison_is_its_owners_in_private_history(open_console, fake_upstream, png):
    first = open_console(fake_upstream, CONSOLE_HISTORY="private")
    second = open_console(fake_upstream, CONSOLE_HISTORY="private")
    first.get("/"), second.get("/")
    comparison = comparison_of(first, post_compare(first, png, seeds="2"))

    assert first.get(comparison["url"]).status_code == 200
    assert second.get(comparison["url"]).status_code == 404
    assert second.get(comparison["url"] + "/cells/0").status_code == 404
    for task_id in comparison["tasks"]:
        assert second.get(f"/tasks/{task_id}").status_code == 404
        assert second.post(f"/tasks/{task_id}/new-seed").status_code == 404
        assert second.get(f"/tasks/{task_id}/code/curl").status_code == 404
    assert len(fake_upstream.calls("POST")) == 2


def test_a_comparison_from_another_site_is_refused_and_nothing_is_sent(console, fake_upstream, png):
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site", "HX-Request": "true"}):
        answer = console.post(
            "/tasks",
            data={**VALID_FORM, "seeds": "2"},
            files={"first_frame": ("f.png", png, "image/png")},
            headers=headers,
        )
        assert answer.status_code == 403
    assert fake_upstream.requests == []


def test_the_hourly_cap_counts_every_task_of_a_set(open_console, fake_upstream, png):
    console = open_console(fake_upstream, CONSOLE_TASKS_PER_HOUR=3)
    console.get("/")

    refused = post_compare(console, png, seeds="4")
    assert refused.status_code == 429 and "You have started 3 tasks" in refused.text
    assert fake_upstream.calls("POST") == []

    fake_upstream.queue("create", status=400, body='{"error": "You do not have enough credits"}')
    comparison = comparison_of(console, post_compare(console, png, seeds="3"))
    assert len(comparison["tasks"]) == 2  # the refused create gave its place back
    assert post_compare(console, png, seeds="2").status_code == 429
    assert comparison_of(console, post_compare(console, png, seeds="1"))["tasks"]


def test_a_shared_comparison_plays_read_only_without_a_login_and_revoking_makes_it_404(
    open_console, fake_upstream, png
):
    console = open_console(fake_upstream, CONSOLE_PASSWORD="team-password-1")
    assert console.post("/login", data={"password": "team-password-1"}).status_code == 303
    comparison = comparison_of(console, post_compare(console, png, model=["gen4_turbo", "gen3a_turbo"]))
    wait_until(lambda: all(
        console.get(f"{comparison['url']}/cells/{i}").status_code == 286 for i in range(2)
    ))

    made = console.post(f"{comparison['url']}/share", headers={"HX-Request": "true"})
    token = re.search(r"/s/([A-Za-z0-9_-]{32})", made.text).group(1)
    again = console.post(f"{comparison['url']}/share", headers={"HX-Request": "true"})
    assert token in again.text  # one live link per comparison

    console.cookies.clear()  # a stranger with the link and no session
    page = console.get(f"/s/{token}")
    assert page.status_code == 200
    assert page.text.count("data-sync-video") == 2 and "data-sync-play" in page.text
    assert "<form" not in page.text and "/tasks/" not in page.text and "/compare/" not in page.text
    assert 'property="og:video"' in page.text and "gen3a_turbo" in page.text
    video = console.get(f"/s/{token}/videos/1.mp4")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert console.get(f"/s/{token}/cells/0").status_code == 286
    assert console.get(f"/s/{token}/videos/5.mp4").status_code == 404
    assert console.get(comparison["url"]).status_code == 303  # the console itself still needs a login

    assert console.post("/login", data={"password": "team-password-1"}).status_code == 303
    assert console.post(f"{comparison['url']}/share/revoke").status_code == 303
    console.cookies.clear()
    for path in ("", "/cells/0", "/videos/0.mp4"):
        assert console.get(f"/s/{token}{path}").status_code == 404


def test_a_comparison_cannot_be_shared_from_another_site(console, fake_upstream, png):
    comparison = comparison_of(console, post_compare(console, png, seeds="2"))
    answer = console.post(f"{comparison['url']}/share", headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403
    assert "/s/" not in console.get(comparison["url"]).text.split('id="share"', 1)[1]
