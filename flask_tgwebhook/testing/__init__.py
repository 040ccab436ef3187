"""Test helpers: the Bot API emulator, update builders, a webhook test client and a live server.

::

    from flask_tgwebhook.testing import FakeTelegram, TelegramTestClient, make_update
"""

from __future__ import annotations

from .client import TelegramTestClient, WebhookAnswer
from .fake_telegram import DEFAULT_TOKEN, Attempt, Call, Delivery, FakeTelegram
from .live import LiveServer, connect_webhook, telegram_config
from .updates import make_chat, make_message, make_update, make_user

__all__ = [
    "DEFAULT_TOKEN",
    "Attempt",
    "Call",
    "Delivery",
    "FakeTelegram",
    "LiveServer",
    "TelegramTestClient",
    "WebhookAnswer",
    "connect_webhook",
    "make_chat",
    "make_message",
    "make_update",
    "make_user",
    "telegram_config",
]
