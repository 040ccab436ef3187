"""A refused token's error says where the token came from; the config shadowing the environment."""

from __future__ import annotations

import pytest
from flask import Flask

from flask_tgwebhook import TelegramWebhook
from flask_tgwebhook.testing import FakeTelegram
from flask_tgwebhook.token_source import token_source

REFUSED = "123456:TEST-a-token-telegram-does-not-know"


def refused_token_error(telegram: FakeTelegram, app: Flask) -> str:
    app.config["TELEGRAM_API_URL"] = telegram.api_url
    TelegramWebhook(app)
    result = app.test_cli_runner().invoke(args=["tg", "me"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and REFUSED.split(":")[1] not in result.output
    return result.output


def test_a_refused_token_from_the_environment_says_so(
    telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", REFUSED)
    output = refused_token_error(telegram, Flask("env_token"))
    assert "from the environment variable TELEGRAM_BOT_TOKEN" in output


def test_a_refused_token_from_the_config_says_so(
    telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    app = Flask("config_token")
    app.config["TELEGRAM_BOT_TOKEN"] = REFUSED
    output = refused_token_error(telegram, app)
    assert "from the app's config (TELEGRAM_BOT_TOKEN)" in output


def test_the_config_shadowing_the_environment_is_told() -> None:
    env = {"TELEGRAM_BOT_TOKEN": "1:from-env"}
    assert token_source({"TELEGRAM_BOT_TOKEN": "1:from-env"}, env).shadowed is False
    shadow = token_source({"TELEGRAM_BOT_TOKEN": "1:placeholder"}, env)
    assert shadow.shadowed and "config" in shadow.where
    assert "environment" in token_source({}, env).where
