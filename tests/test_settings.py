"""Configuration: defaults, environment and `.env` parsing, and the one-line start-up error.

The settings classes are built from a clean environment in an empty working directory, so neither the
developer's shell nor a `.env` in the repository leaks in. The subprocess tests run the real console
scripts with bad variables and require one clear line on stderr naming the variable, no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import BotSettings
from config import redact_url
from moderation.verdict import MIN_HASHTAGS_RANGE, Sensitivity
from worker.settings import DEFAULT_MODEL_PATH, ServiceSettings, WorkerSettings

TOKEN = "123456:ABC-def_ghi"
SETTINGS_CLASSES: list[type[ServiceSettings]] = [WorkerSettings, BotSettings]


def variable_names(settings_class: type[ServiceSettings]) -> set[str]:
    prefix = settings_class.model_config.get("env_prefix", "")
    return {(prefix + name).upper() for name in settings_class.model_fields}


ALL_VARIABLES = sorted(set().union(*(variable_names(cls) for cls in SETTINGS_CLASSES)))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No settings variable set and an empty working directory (so no `.env` is found)."""
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_worker_defaults() -> None:
    settings = WorkerSettings()
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.log_level == "INFO"
    assert settings.model_path == DEFAULT_MODEL_PATH
    assert settings.device == "auto"
    assert settings.tta is None  # the model file's recommended TTA
    assert settings.precision == "auto"  # int8 when the model file carries an int8 graph


def test_bot_defaults_need_no_database_server() -> None:
    settings = BotSettings(bot_token=TOKEN)
    assert settings.telegram_base_url == "https://api.telegram.org/bot"
    assert settings.telegram_base_file_url == "https://api.telegram.org/file/bot"
    assert settings.database_url is None
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{Path('data') / 'scenetag.sqlite3'}"


def test_environment_is_parsed_into_typed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTA", "4")
    monkeypatch.setenv("DEVICE", "cpu")
    monkeypatch.setenv("MODEL_PATH", "/models/other.pt")
    monkeypatch.setenv("REDIS_URL", "redis://queue.internal:6380/2")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    settings = WorkerSettings()
    assert (settings.tta, settings.device, settings.model_path) == (4, "cpu", Path("/models/other.pt"))
    assert (settings.redis_url, settings.log_level) == ("redis://queue.internal:6380/2", "DEBUG")


def test_moderation_sensitivity_is_a_word(monkeypatch: pytest.MonkeyPatch) -> None:
    assert BotSettings(bot_token=TOKEN).moderation_sensitivity is Sensitivity.BALANCED
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("MODERATION_SENSITIVITY", "lenient")
    assert BotSettings().moderation_sensitivity is Sensitivity.LENIENT
    monkeypatch.setenv("MODERATION_SENSITIVITY", "0.6")  # an old threshold is refused, naming the choices
    with pytest.raises(SystemExit) as exit_info:
        BotSettings.from_env()
    message = str(exit_info.value.code)
    assert "MODERATION_SENSITIVITY" in message and "strict" in message


def test_moderation_min_hashtags_has_the_bounds_settings_offer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("MODERATION_MIN_HASHTAGS", str(MIN_HASHTAGS_RANGE[-1]))
    assert BotSettings().moderation_min_hashtags == MIN_HASHTAGS_RANGE[-1]
    # more than /settings and the dashboard can show is refused at start
    monkeypatch.setenv("MODERATION_MIN_HASHTAGS", str(MIN_HASHTAGS_RANGE[-1] + 1))
    with pytest.raises(SystemExit) as exit_info:
        BotSettings.from_env()
    assert "MODERATION_MIN_HASHTAGS" in str(exit_info.value.code)


def test_bot_database_url_and_data_dir_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DATA_DIR", "/var/lib/scenetag")
    assert BotSettings().effective_database_url == "sqlite+aiosqlite:////var/lib/scenetag/scenetag.sqlite3"
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u:p@db:5432/scenetag")
    assert BotSettings().effective_database_url == "postgresql+asyncpg://u:p@db:5432/scenetag"


def test_dotenv_file_is_read_and_environment_wins(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean_environment / ".env").write_text(f"BOT_TOKEN={TOKEN}\nTTA=3\nDEVICE=cpu\n# a comment\n")
    assert BotSettings().bot_token == TOKEN
    assert WorkerSettings().tta == 3
    monkeypatch.setenv("TTA", "5")
    settings = WorkerSettings()
    assert (settings.tta, settings.device) == (5, "cpu")


@pytest.mark.parametrize("settings_class", SETTINGS_CLASSES, ids=lambda cls: cls.__name__)
def test_empty_variable_means_default(
    settings_class: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # docker-compose.yml passes `${NAME:-}` and .env.example lists `NAME=`: both must mean "default".
    for name in variable_names(settings_class) - {"BOT_TOKEN"}:
        monkeypatch.setenv(name, "")
    overrides = {"bot_token": TOKEN} if settings_class is BotSettings else {}
    settings = settings_class(**overrides)
    for name, field in settings_class.model_fields.items():
        if name != "bot_token":
            assert getattr(settings, name) == field.get_default(call_default_factory=True), name


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TTA", "many"), ("TTA", "0"), ("TTA", "33"), ("DEVICE", "gpu"), ("REDIS_URL", "localhost:6379")],
)
def test_malformed_worker_variable_exits_with_one_line_naming_it(
    variable: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as exit_info:
        WorkerSettings.from_env()
    message = str(exit_info.value.code)
    assert "\n" not in message
    assert message.startswith("configuration error: ")
    assert variable in message
    assert repr(value) in message  # the offending value is echoed so the operator sees the typo


def test_missing_bot_token_exits_with_one_line_naming_it() -> None:
    with pytest.raises(SystemExit) as exit_info:
        BotSettings.from_env()
    message = str(exit_info.value.code)
    assert "\n" not in message
    assert "BOT_TOKEN" in message


def test_malformed_bot_token_names_it_without_echoing_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    almost_a_token = "123456:ABC-def ghi"  # a pasted token with a stray space: still a secret
    monkeypatch.setenv("BOT_TOKEN", almost_a_token)
    with pytest.raises(SystemExit) as exit_info:
        BotSettings.from_env()
    message = str(exit_info.value.code)
    assert "BOT_TOKEN" in message
    assert "123456" not in message


def test_several_bad_variables_are_all_named_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTA", "x")
    monkeypatch.setenv("DEVICE", "tpu")
    with pytest.raises(SystemExit) as exit_info:
        WorkerSettings.from_env()
    message = str(exit_info.value.code)
    assert "\n" not in message
    assert "TTA" in message
    assert "DEVICE" in message


# --- the real processes -------------------------------------------------------------------------------


def console_command(script: str, package: str) -> list[str]:
    """The installed console script next to this interpreter, else `python -m package`."""
    installed = Path(sys.executable).parent / script
    return [str(installed)] if installed.exists() else [sys.executable, "-m", package]


def run_with_bad_environment(
    package: str, script: str, cwd: Path, **variables: str
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ALL_VARIABLES}
    env.update(variables)
    command = console_command(script, package)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def assert_one_clear_line(result: subprocess.CompletedProcess[str], variable: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]


@pytest.mark.parametrize(
    ("variable", "value"), [("TTA", "lots"), ("REDIS_URL", "127.0.0.1:6379"), ("PRECISION", "int4")]
)
def test_worker_process_stops_with_one_line(variable: str, value: str, clean_environment: Path) -> None:
    result = run_with_bad_environment("worker", "scenetag-worker", clean_environment, **{variable: value})
    assert_one_clear_line(result, variable)


def test_bot_process_without_token_stops_with_one_line(clean_environment: Path) -> None:
    result = run_with_bad_environment("bot", "scenetag-bot", clean_environment)
    assert_one_clear_line(result, "BOT_TOKEN")


def test_bad_value_in_dotenv_file_stops_the_worker_with_one_line(clean_environment: Path) -> None:
    (clean_environment / ".env").write_text("DEVICE=quantum\n")
    result = run_with_bad_environment("worker", "scenetag-worker", clean_environment)
    assert_one_clear_line(result, "DEVICE")


def test_a_urls_password_is_redacted() -> None:
    assert redact_url("redis://:s3cret@redis:6379/0") == "redis://:***@redis:6379/0"
    assert redact_url("rediss://bot:s3cret@redis:6379/0") == "rediss://bot:***@redis:6379/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redact_url("redis://bot@redis/0") == "redis://bot@redis/0"


def test_a_bad_redis_url_is_named_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "http://:s3cret@redis:6379/0")
    with pytest.raises(SystemExit) as stopped:
        ServiceSettings.from_env(_env_file=None)
    message = str(stopped.value)
    assert message.startswith("configuration error: REDIS_URL") and "s3cret" not in message
    assert "http://:***@redis" in message
