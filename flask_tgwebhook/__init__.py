"""flask_tgwebhook: make a Flask app a Telegram bot through Bot API webhooks."""

from __future__ import annotations

from .client import Bot, InputFile
from .dispatch import Router
from .errors import APIError, TelegramError
from .extension import TelegramWebhook
from .external import ExternalCall
from .reply import reply
from .update import Update

__version__ = "0.1.0.dev0"

__all__ = [
    "APIError",
    "Bot",
    "ExternalCall",
    "InputFile",
    "Router",
    "TelegramError",
    "TelegramWebhook",
    "Update",
    "reply",
]
