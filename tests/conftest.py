"""Fixtures shared by the test modules: an app with the extension and a helper to post updates."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from flask_tgwebhook import Bot, TelegramWebhook
from flask_tgwebhook.config import derive_secret
from flask_tgwebhook.testing import FakeTelegram

#: A made-up token in the Bot API's shape (never a real bot's).
TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"
SECRET = derive_secret(TOKEN)
DATA = Path(__file__).parent / "data"

PostUpdate = Callable[..., TestResponse]

# Apps in these tests that don't set TESTING would otherwise share the default SQLite file in
# the instance folder of the current directory, across tests and runs (update ids repeat):
# each keeps a memory store unless a test names a store (or clears this to get the default).
os.environ["TELEGRAM_STORE_URL"] = "memory://"


def load_example(path: Path, name: str) -> ModuleType:
    """Import a runnable example of the docs or examples/ from its file, as module ``name``."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_update(name: str) -> dict[str, Any]:
    """A sample update from tests/data/<name>.json."""
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return data


@pytest.fixture
def tg() -> TelegramWebhook:
    """A fresh extension object, not yet on an app: register handlers, then use ``app``."""
    return TelegramWebhook()


@pytest.fixture
def app(tg: TelegramWebhook) -> Flask:
    app = Flask("bot_under_test")
    app.config.update(TESTING=True, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BOT_USERNAME="fake_test_bot")
    tg.init_app(app)
    return app


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as client:
        yield client


@pytest.fixture
def post_update(client: FlaskClient) -> PostUpdate:
    """``post_update(update_dict, secret=SECRET, **kwargs)`` POSTs to the webhook route."""

    def post(update: Any, *, secret: str | None = SECRET, **kwargs: Any) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}))
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        if "data" not in kwargs:
            kwargs["json"] = update
        return client.post("/telegram/webhook", headers=headers, **kwargs)

    return post


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    """The emulator for TOKEN, without setWebhook's one-second rate limit and with one
    delivery attempt, so tests that set webhooks or fail deliveries stay quick."""
    with FakeTelegram(
        token=TOKEN, set_webhook_interval=0, max_attempts=1, allow_loopback=True, allow_http=True
    ) as telegram:
        yield telegram


@pytest.fixture
def bot(telegram: FakeTelegram) -> Iterator[Bot]:
    """A Bot API client for ``telegram``."""
    with Bot(TOKEN, api_url=telegram.api_url, timeout=(2.0, 5.0)) as bot:
        yield bot
