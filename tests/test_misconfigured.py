"""A missing or malformed token never takes the app down; the route follows the public URL."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.cli import routes_command

from flask_tgwebhook import TelegramWebhook
from flask_tgwebhook.config import derive_secret
from flask_tgwebhook.testing import make_update

from .conftest import TOKEN


def app_without_token(**config: object) -> Flask:
    tg = TelegramWebhook()
    tg.message(lambda update: None)
    app = Flask("no_token_app")
    app.config.update(config)

    @app.get("/")
    def index() -> str:
        return "the website"

    tg.init_app(app)  # does not raise
    return app


def test_no_token_the_app_serves_and_the_webhook_answers_503_logged_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    app = app_without_token()
    client = app.test_client()
    assert client.get("/").data == b"the website"
    caplog.set_level(logging.ERROR, "flask_tgwebhook")
    for _ in range(3):
        answer = client.post("/telegram/webhook", json=make_update(text="hi"))
        assert answer.status_code == 503
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "TELEGRAM_BOT_TOKEN" in errors[0].getMessage()


def test_a_malformed_token_says_where_it_came_from(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456 pasted-with-a-space")
    app = app_without_token()
    caplog.set_level(logging.ERROR, "flask_tgwebhook")
    assert app.test_client().post("/telegram/webhook", json=make_update()).status_code == 503
    [error] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "the environment variable TELEGRAM_BOT_TOKEN" in error
    assert "pasted-with-a-space" not in error


def test_commands_work_and_the_ones_needing_the_token_say_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    runner = app_without_token().test_cli_runner()
    routes = runner.invoke(routes_command)
    assert routes.exit_code == 0 and "/telegram/webhook" in routes.output
    assert runner.invoke(args=["tg", "handlers"]).exit_code == 0
    assert runner.invoke(args=["tg", "--help"]).exit_code == 0
    me = runner.invoke(args=["tg", "me"])
    assert me.exit_code == 1
    assert me.output.strip().splitlines() == [
        "Error: No bot token: set TELEGRAM_BOT_TOKEN (the app's config or the environment) to "
        "the token @BotFather gave you."
    ]


@pytest.mark.parametrize("path", ["/hooks/tg", "/hooks/tg/"])
@pytest.mark.parametrize(
    "url", ["https://bot.example.com/hooks/tg", "https://bot.example.com/hooks/tg/"]
)
def test_the_route_follows_the_url_with_or_without_a_trailing_slash(url: str, path: str) -> None:
    tg = TelegramWebhook()
    seen: list[int] = []
    tg.message(lambda update: seen.append(update.update_id))
    app = Flask("railway")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_WEBHOOK_URL=url)
    tg.init_app(app)
    headers = {"X-Telegram-Bot-Api-Secret-Token": derive_secret(TOKEN)}
    answer = app.test_client().post(path, json=make_update(text="x"), headers=headers)
    assert answer.status_code == 200 and len(seen) == 1  # no redirect: Telegram follows none


def test_a_path_that_differs_from_the_url_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    app = Flask("proxy")
    app.config.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_WEBHOOK_URL="https://bot.example.com/public/hook",
        TELEGRAM_WEBHOOK_PATH="/telegram/webhook",
    )
    caplog.set_level(logging.WARNING, "flask_tgwebhook")
    TelegramWebhook(app)
    assert any("every delivery gets 404" in r.getMessage() for r in caplog.records)
