"""API tokens (app/api_tokens.py) and their commands: issued once, stored as hashes, revocable."""

from __future__ import annotations

import sqlite3

import pytest

from app.api_tokens import RateLimiter, TokenRegistry, token_digest
from app.config import ConfigError, load_settings
from app.setting_checks import parse_token_list
from app.storage import SqliteTaskStore
from tests.helpers import SECRET


def test_token_add_prints_a_token_once_and_stores_only_its_hash(tmp_path, cli):
    added = cli("token", "add", "ci-bot")
    assert added.returncode == 0
    token = added.stdout.strip()
    assert token.startswith("rc_") and len(token) > 40
    with sqlite3.connect(tmp_path / "data" / "console.db") as db:
        dump = "\n".join(db.iterdump())
    assert token not in dump and token_digest(token) in dump

    assert cli("token", "add", "ci-bot").returncode == 1  # taken
    assert cli("token", "add", "bad name").returncode == 2
    listed = cli("token", "list")
    assert listed.returncode == 0 and "ci-bot" in listed.stdout and token not in listed.stdout

    store = SqliteTaskStore(tmp_path / "data" / "console.db")
    try:
        assert TokenRegistry(store, {}).identify(token) == "ci-bot"
    finally:
        store.close()
    assert cli("token", "remove", "ci-bot").returncode == 0
    assert cli("token", "remove", "ci-bot").returncode == 1
    store = SqliteTaskStore(tmp_path / "data" / "console.db")
    try:
        assert TokenRegistry(store, {}).identify(token) is None
    finally:
        store.close()


def test_a_token_made_by_the_command_opens_the_api(cli, open_console, fake_upstream):
    token = cli("token", "add", "script").stdout.strip()
    console = open_console(fake_upstream)
    headers = {"X-Runway-Version": "2024-11-06"}
    assert console.get("/v1/tasks/t1", headers=headers | {"Authorization": f"Bearer {token}"}).status_code == 404
    assert console.get("/v1/tasks/t1", headers=headers | {"Authorization": "Bearer rc_wrong"}).status_code == 401


def test_the_token_list_setting_is_checked_without_echoing_tokens():
    assert parse_token_list(" a=0123456789abcdef , b.c=fedcba9876543210 ") == {
        "a": "0123456789abcdef",
        "b.c": "fedcba9876543210",
    }
    for bad in ("a", "a=short", "a=0123456789abcdef,a=0123456789abcdeg", "bad name=0123456789abcdef"):
        with pytest.raises(ConfigError) as refused:
            load_settings(_env_file=None, CONSOLE_API_TOKENS=bad)
        assert "0123456789abcde" not in str(refused.value)


def test_the_upstream_key_is_never_a_token(tmp_path):
    store = SqliteTaskStore(tmp_path / "db")
    try:
        registry = TokenRegistry(store, {"oops": SECRET}, upstream_key=SECRET)
        assert registry.identify(SECRET) is None
    finally:
        store.close()


def test_the_rate_limit_counts_per_token_per_clock_minute(tmp_path):
    now = [120.0]
    store = SqliteTaskStore(tmp_path / "db")
    try:
        limiter = RateLimiter(store, 2, clock=lambda: now[0])
        assert [limiter.check("a").allowed for _ in range(3)] == [True, True, False]
        assert limiter.check("a").retry_after == 60
        assert limiter.check("b").allowed
        now[0] = 180.0
        assert limiter.check("a").allowed
        assert RateLimiter(store, 0).check("a").allowed  # 0: no limit
    finally:
        store.close()
