"""Long polling: getUpdates on the emulator feeding the extension's dispatcher."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask, current_app

from flask_tgwebhook import TelegramWebhook, polling, reply
from flask_tgwebhook.client import Bot
from flask_tgwebhook.dispatch import UNHANDLED, Failure
from flask_tgwebhook.errors import Conflict
from flask_tgwebhook.polling import poll_updates, run_update
from flask_tgwebhook.reply import Reply
from flask_tgwebhook.testing import FakeTelegram, make_update

TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"


@pytest.fixture
def tg() -> TelegramWebhook:
    tg = TelegramWebhook()

    @tg.message(commands=["start"])
    def start(update: Any) -> Any:
        # Handlers run inside the app context, as in a webhook request.
        return reply("sendMessage", chat_id=update.chat.id, text=current_app.name)

    @tg.message(commands=["boom"])
    def boom(update: Any) -> None:
        raise ValueError("boom")

    return tg


@pytest.fixture
def app(telegram: FakeTelegram, tg: TelegramWebhook) -> Flask:
    app = Flask("polling_test")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.api_url)
    tg.init_app(app)
    return app


def test_run_update_carries_out_a_reply(
    tg: TelegramWebhook, app: Flask, bot: Bot, telegram: FakeTelegram
) -> None:
    result = run_update(tg, app, bot, make_update("message", text="/start", chat_id=7))
    assert isinstance(result, Reply)
    [sent] = telegram.calls_to("sendMessage")
    assert sent.params == {"chat_id": 7, "text": "polling_test"}


def test_run_update_logs_a_failure_and_returns(
    tg: TelegramWebhook, app: Flask, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "flask_tgwebhook.polling")
    failed = run_update(tg, app, bot, make_update("message", text="/boom", update_id=5))
    assert isinstance(failed, Failure) and isinstance(failed.error, ValueError)
    assert "Update 5: the handler raised" in caplog.text and "ValueError: boom" in caplog.text
    assert run_update(tg, app, bot, make_update("edited_message", text="x")) is UNHANDLED


def test_poll_updates_runs_and_confirms_only_what_it_ran(
    tg: TelegramWebhook, app: Flask, bot: Bot, telegram: FakeTelegram
) -> None:
    for update_id in (1, 2, 3):
        telegram.deliver(make_update("message", text="/start", update_id=update_id))
    assert poll_updates(tg, app, bot, timeout=0, max_updates=2) == 2
    assert len(telegram.calls_to("sendMessage")) == 2
    assert telegram.webhook_info()["pending_update_count"] == 1  # the third waits
    assert poll_updates(tg, app, bot, timeout=0, once=True) == 1
    assert telegram.webhook_info()["pending_update_count"] == 0


def test_poll_updates_with_a_webhook_set_is_a_conflict(
    tg: TelegramWebhook, app: Flask, bot: Bot
) -> None:
    bot.call("setWebhook", url="https://127.0.0.1:8443/telegram/webhook")
    with pytest.raises(Conflict):
        poll_updates(tg, app, bot, timeout=0, once=True)


def test_a_failed_update_is_polled_again_up_to_the_retry_cap(
    telegram: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(polling, "RETRY_DELAY", 0)
    tg, runs = TelegramWebhook(), []

    @tg.message
    def flaky(update: Any) -> None:
        runs.append((update.update_id, update.text))
        if update.text == "poison" or len(runs) <= 2:
            raise ValueError("not yet")

    app = Flask("polling_retry")
    app.config.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=telegram.api_url,
        TELEGRAM_ON_ERROR="retry",
        TELEGRAM_MAX_RETRIES=2,
    )
    tg.init_app(app)
    telegram.deliver(make_update("message", text="flaky", update_id=1))
    telegram.deliver(make_update("message", text="next", update_id=2))
    # Two failures, each polled again, then the update and the one after it, in order.
    assert poll_updates(tg, app, bot, timeout=0, max_updates=4) == 4
    assert runs == [(1, "flaky"), (1, "flaky"), (1, "flaky"), (2, "next")]
    assert telegram.webhook_info()["pending_update_count"] == 0
    # A poison update: run 1 + TELEGRAM_MAX_RETRIES times, then confirmed.
    runs.clear()
    telegram.deliver(make_update("message", text="poison", update_id=3))
    assert [poll_updates(tg, app, bot, timeout=0, once=True) for _ in range(3)] == [1, 1, 1]
    assert runs == [(3, "poison")] * 3
    assert telegram.webhook_info()["pending_update_count"] == 0
