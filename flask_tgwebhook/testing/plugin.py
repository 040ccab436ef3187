"""pytest fixtures for testing a bot built with flask_tgwebhook (loaded automatically).

Define an ``app`` fixture that builds your app with ``telegram_config``; then use:

- ``fake_telegram``: the emulator, a real Bot API server on 127.0.0.1, fresh per test.
- ``telegram_config``: the config keys that point an app at it.
- ``telegram_client``: a :class:`~flask_tgwebhook.testing.client.TelegramTestClient` for your
  ``app`` (no server: fastest).
- ``live_bot``: your ``app`` served on loopback over HTTPS with a self-signed certificate and
  registered with the emulator, so ``fake_telegram.deliver(make_update(...))`` goes all the
  way through, like in production.
- ``make_update``: the update builder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from .client import TelegramTestClient
from .fake_telegram import TEST_OPTIONS, FakeTelegram
from .live import LiveServer, connect_webhook
from .live import telegram_config as _telegram_config
from .updates import make_update as _make_update


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    """A running emulator (:data:`~flask_tgwebhook.testing.fake_telegram.TEST_OPTIONS`)."""
    with FakeTelegram(**TEST_OPTIONS) as telegram:
        yield telegram


@pytest.fixture
def telegram_config(fake_telegram: FakeTelegram) -> dict[str, Any]:
    """``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_API_URL`` and ``TELEGRAM_BOT_USERNAME`` for it."""
    return _telegram_config(fake_telegram)


@pytest.fixture
def telegram_client(app: Flask) -> TelegramTestClient:
    """Post updates straight to your ``app`` fixture's webhook route."""
    return TelegramTestClient(app)


@pytest.fixture
def live_bot(app: Flask, fake_telegram: FakeTelegram) -> Iterator[LiveServer]:
    """Your ``app`` on https://127.0.0.1:<port>, its webhook set with the emulator."""
    with LiveServer(app, https=True) as server:
        connect_webhook(app, server)
        yield server


@pytest.fixture
def make_update() -> Callable[..., dict[str, Any]]:
    """:func:`flask_tgwebhook.testing.make_update`, as a fixture."""
    return _make_update
