"""SIMULATOR_* settings: read once, from the environment or `.env`, refused in one line when wrong."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Settings, load_settings
from app.simulator import SimulatorSettings

EVERY_SETTING = {
    "SIMULATOR_PENDING_SECONDS": "0.5",
    "SIMULATOR_RUNNING_SECONDS": "3",
    "SIMULATOR_CONCURRENCY": "4",
    "SIMULATOR_URL_TTL_SECONDS": "120",
    "SIMULATOR_VIDEO_MAX_SIDE": "256",
    "SIMULATOR_VIDEO_FPS": "12",
    "SIMULATOR_API_SECRET": "s3cret",
    "SIMULATOR_CREDITS": "500",
    "SIMULATOR_DAILY_LIMIT": "50",
    "SIMULATOR_MONTHLY_CREDIT_SPEND": "9000",
    "SIMULATOR_ALLOW_PRIVATE_HOOKS": "true",
    "SIMULATOR_ALLOW_PRIVATE_IMAGES": "1",
    "SIMULATOR_UPLOAD_MAX_MB": "20",
    "SIMULATOR_UPLOAD_TTL_SECONDS": "600",
}
EXPECTED = {
    "pending_seconds": 0.5,
    "running_seconds": 3.0,
    "concurrency": 4,
    "url_ttl_seconds": 120.0,
    "video_max_side": 256,
    "video_fps": 12,
    "credits": 500,
    "daily_limit": 50,
    "monthly_credit_spend": 9000,
    "allow_private_hooks": True,
    "allow_private_images": True,
    "upload_max_mb": 20.0,
    "upload_ttl_seconds": 600.0,
}


def read(simulator: SimulatorSettings) -> dict[str, object]:
    return {name: getattr(simulator, name) for name in EXPECTED}


def test_defaults():
    simulator = load_settings(_env_file=None).simulator
    assert read(simulator) == {
        "pending_seconds": 1.0,
        "running_seconds": 6.0,
        "concurrency": 2,
        "url_ttl_seconds": 86400.0,
        "video_max_side": 640,
        "video_fps": 24,
        "credits": 1_000_000,
        "daily_limit": None,
        "monthly_credit_spend": 1_000_000,
        "allow_private_hooks": False,
        "allow_private_images": False,
        "upload_max_mb": 200.0,
        "upload_ttl_seconds": 86400.0,
    }
    assert simulator.api_secret is None


def test_every_setting_comes_from_the_environment(monkeypatch):
    for name, value in EVERY_SETTING.items():
        monkeypatch.setenv(name, value)
    simulator = load_settings(_env_file=None).simulator
    assert read(simulator) == EXPECTED
    assert simulator.api_secret is not None and simulator.api_secret.get_secret_value() == "s3cret"
    assert read(SimulatorSettings()) == EXPECTED, "the group also reads the environment on its own"


def test_every_setting_comes_from_a_dotenv_file_and_the_environment_wins(tmp_path, monkeypatch):
    lines = [f"{name}={value}" for name, value in EVERY_SETTING.items()]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert read(load_settings().simulator) == EXPECTED
    monkeypatch.setenv("SIMULATOR_CONCURRENCY", "9")
    assert load_settings().simulator.concurrency == 9
    assert load_settings(_env_file=None).simulator.pending_seconds == 1.0, "no .env when told so"


def test_overrides_by_environment_name_reach_the_group(monkeypatch):
    monkeypatch.setenv("SIMULATOR_RUNNING_SECONDS", "7")
    settings = Settings(_env_file=None, SIMULATOR_PENDING_SECONDS=0.2, SIMULATOR_API_SECRET="x")
    assert settings.simulator.pending_seconds == 0.2
    assert settings.simulator.running_seconds == 7.0, "variables not overridden are kept"
    assert settings.upstream_key == "x"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIMULATOR_PENDING_SECONDS", "-1"),
        ("SIMULATOR_RUNNING_SECONDS", "soon"),
        ("SIMULATOR_CONCURRENCY", "0"),
        ("SIMULATOR_URL_TTL_SECONDS", "0"),
        ("SIMULATOR_VIDEO_MAX_SIDE", "32"),
        ("SIMULATOR_VIDEO_MAX_SIDE", "5000"),
        ("SIMULATOR_VIDEO_FPS", "0"),
        ("SIMULATOR_VIDEO_FPS", "61"),
        ("SIMULATOR_CREDITS", "-1"),
        ("SIMULATOR_DAILY_LIMIT", "0"),
        ("SIMULATOR_ALLOW_PRIVATE_HOOKS", "perhaps"),
        ("SIMULATOR_UPLOAD_MAX_MB", "0"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    message = str(caught.value)
    assert message.startswith(f"{name}: ") and "\n" not in message


def test_a_blank_daily_limit_means_no_limit(monkeypatch):
    monkeypatch.setenv("SIMULATOR_DAILY_LIMIT", " ")
    assert load_settings(_env_file=None).simulator.daily_limit is None


def test_a_blank_secret_means_any_key():
    settings = load_settings(_env_file=None, SIMULATOR_API_SECRET="  ")
    assert settings.simulator.api_secret is None


def test_the_secret_is_not_in_any_repr():
    settings = load_settings(_env_file=None, SIMULATOR_API_SECRET="s3cret-value")
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in str(settings.model_dump())
    assert "s3cret-value" not in repr(settings.simulator)


def test_the_simulator_command_stops_on_a_bad_value_with_one_line(cli):
    result = cli("simulator", "--port", "1", env={"SIMULATOR_CONCURRENCY": "0"})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "runway-console: configuration error: SIMULATOR_CONCURRENCY: Input should be greater than or equal to 1"
    ]
