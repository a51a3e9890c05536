import pytest

from app.config import ConfigError, load_settings
from tests.helpers import run_cli


def test_no_base_url_means_the_simulator():
    settings = load_settings(_env_file=None)
    assert settings.uses_simulator and settings.upstream_key


@pytest.mark.parametrize("url", ["https://api.dev.runwayml.com", "https://api.openai-hk.com/runwayml/"])
def test_base_urls_of_both_families_are_accepted(url):
    settings = load_settings(_env_file=None, RUNWAYML_BASE_URL=url)
    assert not settings.uses_simulator
    assert settings.base_url == url.rstrip("/")


@pytest.mark.parametrize("url", ["ftp://example.com", "api.dev.runwayml.com", "https://x.com/?k=1", "http://"])
def test_a_bad_base_url_is_one_line(url):
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, RUNWAYML_BASE_URL=url)
    assert "RUNWAYML_BASE_URL" in str(caught.value) and "\n" not in str(caught.value)


def test_settings_come_from_a_dotenv_file(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("RUNWAYML_BASE_URL=https://relay.example.com/runwayml\nCONSOLE_POLL_INTERVAL=7\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.base_url == "https://relay.example.com/runwayml" and settings.poll_interval == 7


def test_secret_is_not_in_the_settings_repr():
    settings = load_settings(_env_file=None, RUNWAYML_API_SECRET="key_" + "ab" * 64)
    assert "abab" not in repr(settings) and "abab" not in str(settings.model_dump())


def test_misconfiguration_stops_startup_with_one_line_and_no_traceback(tmp_path):
    result = run_cli("serve", "--port", "1", env={"RUNWAYML_BASE_URL": "not-a-url"}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "RUNWAYML_BASE_URL" in lines[0]
    assert "Traceback" not in result.stderr


def test_bad_catalogue_stops_startup_with_one_line(cli, tmp_path):
    (tmp_path / "c.json").write_text('{"models": []}')
    result = cli(env={"CONSOLE_CATALOGUE": str(tmp_path / "c.json")})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "catalogue" in result.stderr


def test_cli_help_names_both_commands(tmp_path):
    result = run_cli("--help", env={}, cwd=tmp_path)
    assert result.returncode == 0 and "serve" in result.stdout and "simulator" in result.stdout


def test_the_in_process_simulator_gets_the_key_it_was_told_to_accept():
    settings = load_settings(_env_file=None, SIMULATOR_API_SECRET="sim-only")
    assert settings.upstream_key == "sim-only"
    real = load_settings(_env_file=None, RUNWAYML_BASE_URL="https://api.dev.runwayml.com", SIMULATOR_API_SECRET="x")
    assert real.upstream_key == ""


def test_login_settings_read_as_an_operator_writes_them():
    settings = load_settings(
        _env_file=None, CONSOLE_PASSWORD=" first , second,, ", CONSOLE_TASKS_PER_HOUR="0", CONSOLE_HISTORY=""
    )
    assert settings.team_passwords == ["first", "second"]
    assert settings.tasks_per_hour is None and settings.history is None
    assert "first" not in repr(settings)
    assert load_settings(_env_file=None, CONSOLE_PASSWORD="  ").team_passwords == []
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, CONSOLE_HISTORY="public")
    assert "CONSOLE_HISTORY" in str(caught.value)


@pytest.mark.parametrize(("given", "kept"), [("/_protected_videos/", "/_protected_videos/"), ("/v", "/v/"), ("", None)])
def test_accel_redirect_is_an_internal_location_path(given, kept):
    assert load_settings(_env_file=None, CONSOLE_ACCEL_REDIRECT=given).accel_redirect == kept


@pytest.mark.parametrize("given", ["_protected/", "http://x/videos/", "/v/../etc/", "/v?x=1"])
def test_a_bad_accel_redirect_is_one_line(given):
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, CONSOLE_ACCEL_REDIRECT=given)
    assert "CONSOLE_ACCEL_REDIRECT" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("value", ["0", "-1", "601", "soon"])
def test_a_database_wait_out_of_bounds_is_one_line(value):
    assert load_settings(_env_file=None).db_busy_timeout == 5
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, CONSOLE_DB_BUSY_TIMEOUT=value)
    assert "CONSOLE_DB_BUSY_TIMEOUT" in str(caught.value) and "\n" not in str(caught.value)
