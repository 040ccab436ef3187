"""Test helpers: the Bot API emulator and update builders.

::

    from flask_tgwebhook.testing import FakeTelegram, make_update
"""

from __future__ import annotations

from .fake_telegram import DEFAULT_TOKEN, Attempt, Call, Delivery, FakeTelegram
from .updates import make_chat, make_message, make_update, make_user

__all__ = [
    "DEFAULT_TOKEN",
    "Attempt",
    "Call",
    "Delivery",
    "FakeTelegram",
    "make_chat",
    "make_message",
    "make_update",
    "make_user",
]
