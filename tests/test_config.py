"""Settings: the environment, flags, validation, and the README's table."""

from __future__ import annotations

from pathlib import Path

import pytest

from ticker.config import ConfigError, Settings, settings_table


def test_defaults_and_environment() -> None:
    assert Settings.from_env({}).port == 8000
    s = Settings.from_env(
        {
            "REDIS_URL": "redis://r:6379/1",
            "TICKER_PORT": "9000",
            "TICKER_PING_SECONDS": "5",
            "TICKER_DATA_DIR": "/tmp/x",
        }
    )
    assert (s.redis_url, s.port, s.ping_seconds, s.data_dir) == (
        "redis://r:6379/1",
        9000,
        5.0,
        Path("/tmp/x"),
    )


def test_flags_override_environment() -> None:
    assert Settings.from_env({"TICKER_PORT": "9000"}, port=9100, host=None).port == 9100


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TICKER_PORT": "eighty"}, "TICKER_PORT must be a number"),
        ({"TICKER_PING_SECONDS": "20"}, "TICKER_PING_SECONDS"),
        ({"TICKER_RETENTION_SECONDS": "0"}, "TICKER_RETENTION_SECONDS"),
        ({"TICKER_STREAM_FAST_PATH": "maybe"}, "true or false"),
        ({"TICKER_WORKERS": "0"}, "TICKER_WORKERS"),
    ],
)
def test_bad_values_say_which(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_round_trip_through_the_environment() -> None:
    s = Settings.from_env({}, redis_url="redis://x", port=1234)
    assert Settings.from_env(s.to_env()) == s


def test_readme_lists_every_setting_with_its_default() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    for env, default, meaning in settings_table():
        assert f"| `{env}` | `{default}` | {meaning} |" in readme, env
