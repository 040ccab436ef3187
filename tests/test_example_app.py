"""Tests of example_app.py, written the way a user tests their own bot.

The pytest plugin that ships with flask_tgwebhook provides ``fake_telegram`` (a local Bot API
server), ``telegram_config``, ``telegram_client`` and ``live_bot``; all this file adds is an
``app`` fixture that builds the app against the emulator.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from example_app import create_app
from flask_tgwebhook.testing import FakeTelegram, TelegramTestClient, make_update
from flask_tgwebhook.webapp import sign_init_data


@pytest.fixture
def app(telegram_config: dict[str, Any]) -> Flask:
    return create_app(telegram_config)


def test_start_replies_with_a_button(telegram_client: TelegramTestClient) -> None:
    answer = telegram_client.message("/start", chat_id=7)
    assert answer.status == 200
    assert answer.reply is not None
    assert answer.reply["method"] == "sendMessage"
    assert answer.reply["chat_id"] == 7
    assert answer.reply["text"].startswith("Hello, Test!")
    assert answer.reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "yes"


def test_echo(telegram_client: TelegramTestClient) -> None:
    answer = telegram_client.message("ping")
    assert answer.reply is not None and answer.reply["text"] == "ping"


def test_button_answers_the_callback_through_the_bot_api(
    telegram_client: TelegramTestClient, fake_telegram: FakeTelegram
) -> None:
    answer = telegram_client.press("no")
    assert answer.reply is not None and answer.reply["text"] == "Maybe Django then?"
    [call] = fake_telegram.calls_to("answerCallbackQuery")
    assert call.params["text"] == "Noted!"


def test_end_to_end_over_https(live_bot: Any, fake_telegram: FakeTelegram) -> None:
    # The app is served with a self-signed certificate that setWebhook uploaded; the
    # emulator delivers like Telegram, then executes the webhook reply as an API call.
    delivery = fake_telegram.deliver(make_update(text="/help", chat_id=9), wait=True)
    assert delivery.ok
    [sent] = fake_telegram.calls_to("sendMessage")
    assert sent.params["chat_id"] == 9
    assert "anything else I echo" in sent.params["text"]
    info = fake_telegram.webhook_info()
    assert info["has_custom_certificate"] is True
    assert info["pending_update_count"] == 0


def test_app_button_opens_the_web_app_page(app: Flask, telegram_client: TelegramTestClient) -> None:
    answer = telegram_client.message("/app", chat_id=7)
    assert answer.reply is not None
    [[button]] = answer.reply["reply_markup"]["inline_keyboard"]
    url = button["web_app"]["url"]
    assert url.startswith("https://") and url.endswith("/app")
    page = app.test_client().get("/app")
    assert page.status_code == 200
    assert b"telegram-web-app.js" in page.data and b"/app/answer" in page.data


def test_web_app_answer_checks_init_data_then_answers_the_query(
    app: Flask, fake_telegram: FakeTelegram
) -> None:
    user = {"id": 7, "first_name": "Ada"}
    init_data = sign_init_data({"query_id": "Q1", "user": user}, fake_telegram.token)
    client = app.test_client()
    answer = client.post("/app/answer", headers={"Authorization": f"tma {init_data}"})
    assert answer.status_code == 200 and answer.json == {"ok": True}
    [call] = fake_telegram.calls_to("answerWebAppQuery")
    assert call.params["web_app_query_id"] == "Q1"
    assert call.params["result"]["input_message_content"] == {
        "message_text": "Ada says hello from the Web App"
    }
    forged = init_data.replace("Ada", "Eve")
    refused = client.post("/app/answer", headers={"Authorization": f"tma {forged}"})
    assert refused.status_code == 401 and refused.json is not None
    assert refused.json["error"] == "forged"
    assert len(fake_telegram.calls_to("answerWebAppQuery")) == 1


def test_stats_counts_in_the_store(app: Flask, telegram_client: TelegramTestClient) -> None:
    telegram_client.message("/start")
    telegram_client.message("/start")
    telegram_client.message("/app")
    answer = telegram_client.message("/stats")
    assert answer.reply is not None
    assert answer.reply["text"] == "/start: 2, /app: 1, Web App answers: 0"


def test_the_menu_lists_the_commands(app: Flask) -> None:
    from example_app import tg
    from flask_tgwebhook.commands import collect_menus, scope_key

    menu = collect_menus(tg)[(scope_key("default"), "")]
    assert [entry["command"] for entry in menu] == ["start", "help", "app", "stats"]
