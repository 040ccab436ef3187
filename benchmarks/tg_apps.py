"""The bots that ``bench_http.py`` serves with gunicorn, and the updates it sends them.

``gunicorn 'tg_apps:make_tg()'`` from this directory (``make_fast()`` for the fast path);
each app keeps its instance folder in ``BENCH_INSTANCE``, a directory of its own. The
baselines are in ``bare_apps.py``, the updates in ``samples.py``: a worker imports only
what it serves, so its memory is what production's would be.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from flask_tgwebhook import TelegramWebhook, Update
from flask_tgwebhook.config import derive_secret

TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"  # noqa: S105 (a fake token)
USERNAME = "fake_test_bot"
WEBHOOK_PATH = "/telegram/webhook"
SECRET = derive_secret(TOKEN)


def make_tg(**config: Any) -> Flask:
    """A bot with four handlers (one per sample), default settings except ``config``."""
    app = Flask("tg_bench", instance_path=os.environ.get("BENCH_INSTANCE") or None)
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BOT_USERNAME=USERNAME, **config)
    tg = TelegramWebhook(app)

    def handled(update: Update) -> None:
        return None

    tg.message(commands=["start"])(handled)
    tg.message()(handled)
    tg.callback_query()(handled)
    tg.edited_message()(handled)
    return app


def make_fast() -> Flask:
    """The same bot with the webhook answered at the WSGI layer."""
    return make_tg(TELEGRAM_FAST_PATH=True)


def fast_path_available() -> bool:
    """Whether this version has ``TELEGRAM_FAST_PATH`` (older ones ignore the key)."""
    from flask_tgwebhook.config import DEFAULTS

    return "TELEGRAM_FAST_PATH" in DEFAULTS


def make_tg_memory() -> Flask:
    """The default path with the per-process store: what the default one's writes cost."""
    return make_tg(TELEGRAM_STORE_URL="memory://")


def make_fast_memory() -> Flask:
    """The fast path with the per-process store."""
    return make_tg(TELEGRAM_FAST_PATH=True, TELEGRAM_STORE_URL="memory://")
