"""The command line (app/cli/): the start-up refusal on a public address, and `user add|passwd|remove|list`."""

from __future__ import annotations

import sqlite3

import pytest

from app.auth_store import SqliteAuthStore
from app.cli.serve import is_loopback_host, open_to_anyone
from app.config import load_settings
from app.storage import database_path
from tests.helpers import add_account, run_cli

REAL_UPSTREAM = {"RUNWAYML_BASE_URL": "https://api.dev.runwayml.com", "RUNWAYML_API_SECRET": "key_cli_test_secret"}


def test_a_public_address_with_the_server_key_and_no_login_refuses_to_start(tmp_path):
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "1", env=REAL_UPSTREAM, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    for fix in ("CONSOLE_PASSWORD", "runway-console user add", "CONSOLE_ALLOW_OPEN=true", "0.0.0.0", "Docker"):
        assert fix in line
    assert "key_cli_test_secret" not in result.stderr + result.stdout and "Traceback" not in result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost"])
def test_loopback_works_as_before(tmp_path, host):
    assert is_loopback_host(host)
    settings = load_settings(_env_file=None, CONSOLE_DATA_DIR=tmp_path, **REAL_UPSTREAM)
    assert open_to_anyone(settings, host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "console.example.com"])
def test_every_other_address_counts_as_public(host):
    assert not is_loopback_host(host)


def test_each_fix_lets_it_start(tmp_path):
    def refusal(**env: object) -> str | None:
        settings = load_settings(_env_file=None, CONSOLE_DATA_DIR=tmp_path, **{**REAL_UPSTREAM, **env})
        return open_to_anyone(settings, "0.0.0.0")

    assert refusal() is not None
    assert refusal(CONSOLE_PASSWORD="team") is None
    assert refusal(CONSOLE_ALLOW_OPEN="true") is None
    assert refusal(RUNWAYML_API_SECRET="") is None  # no server key to spend
    no_upstream = load_settings(_env_file=None, CONSOLE_DATA_DIR=tmp_path)
    assert open_to_anyone(no_upstream, "0.0.0.0") is None  # the built-in simulator spends nothing
    add_account(tmp_path, "ops", "ops-password")
    assert refusal() is None


def test_user_add_list_passwd_remove(cli, tmp_path):
    added = cli("user", "add", "alice", stdin="alice-password\n")
    assert added.returncode == 0, added.stderr
    assert cli("user", "add", "bob", stdin="bob-password\n").returncode == 0
    assert cli("user", "list").stdout.split() == ["alice", "bob"]
    again = cli("user", "add", "ALICE", stdin="another-password\n")
    assert again.returncode == 1 and "exists" in again.stderr

    store = SqliteAuthStore(database_path(tmp_path / "data"))
    try:
        found = store.password_hash("alice")
        assert found is not None and found[1].startswith("$argon2id$")
        changed = cli("user", "passwd", "alice", stdin="new-alice-password\n")
        assert changed.returncode == 0
        assert store.password_hash("alice") != found
        assert cli("user", "remove", "bob").returncode == 0
        assert [a.name for a in store.accounts()] == ["alice"]
    finally:
        store.close()
    missing = cli("user", "remove", "nobody")
    assert missing.returncode == 1 and "nobody" in missing.stderr
    with sqlite3.connect(database_path(tmp_path / "data")) as db:
        dump = "\n".join(db.iterdump())
    assert "alice-password" not in dump and "new-alice-password" not in dump


@pytest.mark.parametrize(
    "name, password, message",
    [("alice", "short\n", "at least 8"), ("../etc", "long-enough\n", "letters, digits"), ("", "long-enough\n", "")],
)
def test_user_add_refuses_bad_input_with_one_line(cli, name, password, message):
    result = cli("user", "add", name, stdin=password)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
