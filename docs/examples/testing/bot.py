"""A small bot to test: a welcome, a report sent through the API, and a button."""

from __future__ import annotations

from typing import Any

from flask import Flask

from flask_tgwebhook import TelegramWebhook, Update, reply
from flask_tgwebhook.errors import Forbidden

tg = TelegramWebhook()
blocked_by: list[int] = []  # a real bot would keep this in its database


@tg.message(commands=["start"])
def start(update: Update) -> Any:
    return reply("sendMessage", chat_id=update.chat_id, text="Welcome!")


@tg.message(commands=["report"])
def report(update: Update) -> None:
    tg.bot.send_document(
        chat_id=update.message.chat.id, document=b"all good", caption="Today's report"
    )


@tg.callback_query(data="ping")
def ping(update: Update) -> None:
    tg.bot.answer_callback_query(callback_query_id=update.payload["id"], text="pong")


@tg.errorhandler(Forbidden)
def user_blocked_us(exc: Forbidden, update: Update) -> None:
    if update.chat_id is not None:
        blocked_by.append(update.chat_id)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(config or {})
    tg.init_app(app)
    return app
