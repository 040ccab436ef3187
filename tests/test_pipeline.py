"""The one update pipeline: polling and the webhook share dedupe, counters and signals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, g

from flask_tgwebhook import Bot, TelegramWebhook, reply, signals
from flask_tgwebhook.pipeline import Outcome, feed_update
from flask_tgwebhook.polling import poll_updates
from flask_tgwebhook.stores import MemoryStore
from flask_tgwebhook.testing import FakeTelegram, make_update

from .conftest import SECRET, TOKEN


@pytest.fixture
def recorded() -> Iterator[list[tuple[str, Any]]]:
    """Every signal sent while the test runs, as (signal name, update_id)."""
    events: list[tuple[str, Any]] = []
    receivers = []
    for name in ("update_received", "update_handled", "update_unhandled", "update_duplicate"):
        signal = getattr(signals, name)

        def receiver(sender: Flask, _name: str = name, **kw: Any) -> None:
            update = kw.get("update")
            events.append((_name, update.update_id if update else kw["update_id"]))

        signal.connect(receiver)
        receivers.append((signal, receiver))
    yield events
    for signal, receiver in receivers:
        signal.disconnect(receiver)


def polling_app(tg: TelegramWebhook, telegram: FakeTelegram) -> Flask:
    app = Flask("pipeline_test")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.api_url)
    tg.init_app(app)
    return app


def test_polling_sends_the_signals_counts_and_dedupes_against_the_webhooks_store(
    telegram: FakeTelegram, bot: Bot, recorded: list[tuple[str, Any]]
) -> None:
    runs: list[int] = []
    tg = TelegramWebhook(store=MemoryStore())

    @tg.message
    def echo(update: Any) -> Any:
        runs.append(update.update_id)
        return reply("sendMessage", chat_id=update.chat_id, text="echo")

    app = polling_app(tg, telegram)
    first = make_update("message", text="hi", update_id=501)
    telegram.deliver(first)
    telegram.deliver(make_update("edited_message", text="x", update_id=502))
    assert poll_updates(tg, app, bot, timeout=0, once=True) == 2

    stats = tg.state(app).stats
    assert (stats["received"], stats["handled"], stats["unhandled"]) == (2, 1, 1)
    assert ("update_received", 501) in recorded and ("update_handled", 501) in recorded
    assert ("update_unhandled", 502) in recorded
    assert len(telegram.calls_to("sendMessage")) == 1  # the reply went through the client

    # The same update, now POSTed to the webhook: the store remembers that polling ran it.
    answer = app.test_client().post(
        "/telegram/webhook", json=first, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert answer.status_code == 200 and answer.data == b""
    assert runs == [501]
    assert stats["duplicates"] == 1 and ("update_duplicate", 501) in recorded


def test_feed_update_pushes_an_app_context_and_reports_each_outcome(tg: TelegramWebhook) -> None:
    @tg.message(commands=["start"])
    def start(update: Any) -> Any:
        g.seen = update.update_id
        return reply("sendMessage", chat_id=update.chat_id, text="hi")

    @tg.message(commands=["boom"])
    def boom(update: Any) -> None:
        raise ValueError("boom")

    app = Flask("feed")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BOT_USERNAME="b")
    tg.init_app(app)
    handled = feed_update(app, make_update("message", text="/start", update_id=1))
    assert handled.outcome is Outcome.HANDLED
    assert handled.reply is not None and handled.reply.method == "sendMessage"
    assert feed_update(app, make_update("message", text="/start", update_id=1)).outcome is (
        Outcome.DUPLICATE
    )
    assert feed_update(app, make_update("poll", update_id=2)).outcome is Outcome.UNHANDLED
    failed = feed_update(app, make_update("message", text="/boom", update_id=3))
    assert failed.outcome is Outcome.FAILED and failed.reply is None


def test_feed_update_under_the_retry_policy_asks_again_then_gives_up(tg: TelegramWebhook) -> None:
    @tg.message
    def boom(update: Any) -> None:
        raise ValueError("boom")

    app = Flask("feed_retry")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_ON_ERROR="retry", TELEGRAM_MAX_RETRIES=1)
    tg.init_app(app)
    update = make_update("message", text="x", update_id=9)
    assert feed_update(app, update).outcome is Outcome.RETRY
    assert feed_update(app, update).outcome is Outcome.FAILED  # past the cap: acknowledged
    assert feed_update(app, update).outcome is Outcome.DUPLICATE
