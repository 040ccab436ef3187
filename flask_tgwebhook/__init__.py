"""flask_tgwebhook: make a Flask app a Telegram bot through Bot API webhooks."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .dispatch import Router
from .errors import APIError, TelegramError
from .extension import TelegramWebhook
from .external import ExternalCall
from .reply import reply
from .update import Update

if TYPE_CHECKING:
    from .client import Bot, InputFile

__version__ = "0.1.0.dev0"

# Imported on first use: the client brings requests and urllib3, which a worker that only
# answers webhooks (replies go in the response body) never needs.
_LAZY = {"Bot": ".client", "InputFile": ".client"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


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
