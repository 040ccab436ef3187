"""The Celery executor with several bots in one app: each update reaches its own bot's
handlers, through the one task the app registers (a Celery app run eagerly, in process; the
real worker processes are in test_executors.py)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from flask import Flask

from flask_tgwebhook import TelegramWebhook, Update
from flask_tgwebhook.config import derive_secret
from flask_tgwebhook.testing.updates import make_update

from .conftest import TOKEN

celery = pytest.importorskip("celery")  # the celery extra: installed by the test extra

SUPPORT_TOKEN = "777001:ABCdefGHIjklMNOpqrSTUvwxYZ012345678"


def make_app() -> tuple[Flask, list[tuple[str, int]]]:
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_BOT_USERNAME="main_bot",
        TELEGRAM_EXECUTOR="celery",
        TELEGRAM_BOTS={"support": {"BOT_TOKEN": SUPPORT_TOKEN, "BOT_USERNAME": "support_bot"}},
    )
    celery_app = celery.Celery(app.name, set_as_current=False)
    celery_app.conf.task_always_eager = True  # the task runs inside delay(), in this process
    app.extensions["celery"] = celery_app
    ran: list[tuple[str, int]] = []
    main, support = TelegramWebhook(app), TelegramWebhook(app, name="support")

    @main.message()
    def on_main(update: Update) -> None:
        ran.append(("main", update.update_id))

    @support.message()
    def on_support(update: Update) -> None:
        ran.append(("support", update.update_id))

    return app, ran


def post(app: Flask, path: str, token: str, update: dict[str, Any]) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": derive_secret(token)}
    return app.test_client().post(path, json=update, headers=headers).status_code


def test_each_bot_s_update_runs_its_own_handler_under_celery() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Celery warns when a task name is registered twice
        app, ran = make_app()
    assert post(app, "/telegram/webhook", TOKEN, make_update("message", update_id=11)) == 200
    support_update = make_update("message", update_id=22, chat_id=5)
    assert post(app, "/telegram/support/webhook", SUPPORT_TOKEN, support_update) == 200
    assert ran == [("main", 11), ("support", 22)]


def test_the_bots_share_one_task() -> None:
    app, _ = make_app()
    celery_app = app.extensions["celery"]
    ours = [name for name in celery_app.tasks if name.startswith("flask_tgwebhook.")]
    assert ours == [f"flask_tgwebhook.run_chat:{app.import_name}"]
