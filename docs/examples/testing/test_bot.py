"""Tests for bot.py with flask_tgwebhook's pytest fixtures (loaded automatically)."""

from __future__ import annotations

from typing import Any

import pytest
from bot import blocked_by, create_app
from flask import Flask

from flask_tgwebhook.testing import FakeTelegram, TelegramTestClient


@pytest.fixture
def app(telegram_config: dict[str, Any]) -> Flask:
    # telegram_config points the app at the emulator: token, API URL, bot username.
    return create_app(telegram_config)


def test_start_replies_in_the_webhook_response(telegram_client: TelegramTestClient) -> None:
    answer = telegram_client.message("/start", chat_id=42)
    assert answer.status == 200
    assert answer.reply == {"method": "sendMessage", "chat_id": 42, "text": "Welcome!"}


def test_report_is_uploaded_through_the_bot_api(
    telegram_client: TelegramTestClient, fake_telegram: FakeTelegram
) -> None:
    telegram_client.message("/report", chat_id=42)
    (call,) = fake_telegram.calls_to("sendDocument")
    assert call.params["caption"] == "Today's report"
    assert call.files["document"] == b"all good"


def test_button_is_answered(
    telegram_client: TelegramTestClient, fake_telegram: FakeTelegram
) -> None:
    telegram_client.press("ping")
    assert fake_telegram.calls_to("answerCallbackQuery")[0].params["text"] == "pong"


def test_a_user_who_blocked_the_bot(
    telegram_client: TelegramTestClient, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.fail("sendDocument", error_code=403)  # "Forbidden: bot was blocked by the user"
    answer = telegram_client.message("/report", chat_id=7)
    assert answer.status == 200  # handled: Telegram is not asked to send it again
    assert 7 in blocked_by


def test_end_to_end_like_production(
    live_bot: Any, fake_telegram: FakeTelegram, make_update: Any
) -> None:
    # live_bot serves the app over https with a self-signed certificate and has set the
    # webhook; the emulator now delivers like Telegram: secret header, certificate check.
    delivery = fake_telegram.deliver(make_update("message", text="/start"), wait=True)
    assert delivery.ok
    assert delivery.reply is not None
    assert delivery.reply.params["text"] == "Welcome!"
    assert fake_telegram.webhook_info()["has_custom_certificate"] is True
