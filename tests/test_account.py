"""The upstream account on the form (app/account.py, the _account.html panel): shown where the upstream
answers GET /v1/organization, absent (and harmless) where it does not, cached between page loads."""

from __future__ import annotations

import asyncio

import httpx

from app.account import Account, AccountCache
from app.upstream import UpstreamClient
from tests.helpers import VALID_FORM, image_bytes


def test_the_form_shows_the_balance_limits_and_usage_where_the_upstream_has_an_account(open_console):
    console = open_console(SIMULATOR_CREDITS=1234, SIMULATOR_DAILY_LIMIT=50, SIMULATOR_CONCURRENCY=2)
    page = console.get("/")
    assert page.status_code == 200
    assert "Upstream account" in page.text and "1234" in page.text
    assert "0 / 50" in page.text  # today's use of gen4_turbo against its daily limit
    assert "data-account-warning" not in page.text  # nothing stands in the way


def test_nothing_is_shown_where_the_upstream_has_no_account(console, fake_upstream):
    page = console.get("/")
    assert page.status_code == 200 and "Upstream account" not in page.text
    assert fake_upstream.organization_calls == 1  # it was asked once …
    console.get("/")
    assert fake_upstream.organization_calls == 1  # … and not again on every page


def test_a_balance_below_the_price_warns_for_that_duration_in_both_languages(open_console):
    console = open_console(SIMULATOR_CREDITS=30)  # gen4_turbo: 25 for 5 s, 50 for 10 s
    page = console.get("/")
    assert 'data-account-warning="gen4_turbo" data-account-duration="10" hidden' in page.text
    assert "the upstream will refuse it" in page.text
    console.cookies.set("lang", "zh-CN")
    chinese = console.get("/")
    assert "上游会拒绝它" in chinese.text and "积分余额" in chinese.text


def test_a_used_up_daily_limit_warns_before_submitting(open_console):
    console = open_console(SIMULATOR_DAILY_LIMIT=1)
    files = {"first_frame": ("a.png", image_bytes(), "image/png")}
    assert console.post("/tasks", data=VALID_FORM, files=files).status_code == 303
    page = console.get("/")
    assert "1 / 1" in page.text
    assert 'data-account-warning="gen4_turbo" data-account-duration="">' in page.text  # shown, not hidden


def test_the_cache_asks_the_upstream_once_per_period():
    calls: list[str] = []
    now = [0.0]

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json={"creditBalance": 7, "tier": {"models": {}}, "usage": {"models": {}}})

    async def scenario() -> list[Account | None]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
            cache = AccountCache(UpstreamClient(http, "http://upstream.test", "k"), 30, clock=lambda: now[0])
            seen = [await cache.get(), await cache.get()]
            now[0] = 31
            seen.append(await cache.get())
            return seen

    seen = asyncio.run(scenario())
    assert [a.credit_balance if a else None for a in seen] == [7, 7, 7]
    assert len(calls) == 2


def test_an_organization_document_with_odd_fields_reads_as_what_it_has():
    account = Account.from_document(
        {"creditBalance": "lots", "tier": {"models": {"m": {"maxConcurrentGenerations": None}, "x": 3}}}
    )
    assert account.credit_balance is None
    assert account.models["m"].max_concurrent is None and account.models["m"].daily_left is None
    assert "x" not in account.models
