"""web.settings: what scenetag-web requires and how operators write the operator ids."""

from __future__ import annotations

import pytest

from web.settings import WebSettings

REQUIRED = {"BOT_TOKEN": "123456:ABC-def", "WEB_SESSION_SECRET": "s" * 32}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # no developer .env
    for name in WebSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.parametrize(
    ("written", "ids"),
    [("", frozenset()), ("42", {42}), ("1, 2,3", {1, 2, 3}), ("[4, 5]", {4, 5})],
)
def test_operator_ids_comma_separated_or_json(
    monkeypatch: pytest.MonkeyPatch, written: str, ids: set[int]
) -> None:
    for name, value in (REQUIRED | {"WEB_OPERATOR_IDS": written}).items():
        monkeypatch.setenv(name, value)
    assert WebSettings.from_env().web_operator_ids == ids


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    settings = WebSettings.from_env()
    assert (settings.web_listen, settings.web_port, settings.secure_cookies) == ("127.0.0.1", 9103, False)
    assert settings.effective_database_url.endswith("data/scenetag.sqlite3")  # the bot's default database
    assert WebSettings.from_env(web_public_url="https://dash.example.org").secure_cookies


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEB_SESSION_SECRET": ""}, "WEB_SESSION_SECRET: Field required"),
        ({"WEB_SESSION_SECRET": "short"}, "WEB_SESSION_SECRET: String should have at least 32 characters"),
        ({"WEB_OPERATOR_IDS": "alice"}, "WEB_OPERATOR_IDS_0: Input should be a valid integer"),
        ({"WEB_PUBLIC_URL": "dash.example.org"}, "WEB_PUBLIC_URL"),
    ],
)
def test_a_bad_value_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in (REQUIRED | env).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        WebSettings.from_env()
    text = str(stopped.value)
    assert text.startswith("configuration error: ") and message in text
    assert "short" not in text  # a secret's value is never echoed
