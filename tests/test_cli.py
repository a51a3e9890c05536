"""The command line (app/cli/): the start-up refusal on a public address, and `user add|passwd|remove|list`."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.auth_store import SqliteAuthStore
from app.cli.serve import is_loopback_host, open_to_anyone
from app.config import load_settings
from app.storage import database_path
from tests.helpers import add_account

REPO = Path(__file__).resolve().parents[1]
REAL_UPSTREAM = {"RUNWAYML_BASE_URL": "https://api.dev.runwayml.com", "RUNWAYML_API_SECRET": "key_cli_test_secret"}


def run_cli(*args: str, env: dict[str, str], cwd: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        input=stdin,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "CONSOLE_DATA_DIR": str(cwd / "data"), **env},
    )


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


def test_user_add_list_passwd_remove(tmp_path):
    added = run_cli("user", "add", "alice", env={}, cwd=tmp_path, stdin="alice-password\n")
    assert added.returncode == 0, added.stderr
    assert run_cli("user", "add", "bob", env={}, cwd=tmp_path, stdin="bob-password\n").returncode == 0
    assert run_cli("user", "list", env={}, cwd=tmp_path).stdout.split() == ["alice", "bob"]
    again = run_cli("user", "add", "ALICE", env={}, cwd=tmp_path, stdin="another-password\n")
    assert again.returncode == 1 and "exists" in again.stderr

    store = SqliteAuthStore(database_path(tmp_path / "data"))
    try:
        found = store.password_hash("alice")
        assert found is not None and found[1].startswith("$argon2id$")
        changed = run_cli("user", "passwd", "alice", env={}, cwd=tmp_path, stdin="new-alice-password\n")
        assert changed.returncode == 0
        assert store.password_hash("alice") != found
        assert run_cli("user", "remove", "bob", env={}, cwd=tmp_path).returncode == 0
        assert [a.name for a in store.accounts()] == ["alice"]
    finally:
        store.close()
    missing = run_cli("user", "remove", "nobody", env={}, cwd=tmp_path)
    assert missing.returncode == 1 and "nobody" in missing.stderr
    with sqlite3.connect(database_path(tmp_path / "data")) as db:
        dump = "\n".join(db.iterdump())
    assert "alice-password" not in dump and "new-alice-password" not in dump


@pytest.mark.parametrize(
    "name, password, message",
    [("alice", "short\n", "at least 8"), ("../etc", "long-enough\n", "letters, digits"), ("", "long-enough\n", "")],
)
def test_user_add_refuses_bad_input_with_one_line(tmp_path, name, password, message):
    result = run_cli("user", "add", name, env={}, cwd=tmp_path, stdin=password)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
