"""Two bots in one Flask app: the shop's bot and a support bot, each with its own token."""

from __future__ import annotations

from typing import Any

from flask import Flask

from flask_tgwebhook import TelegramWebhook, Update, reply

shop = TelegramWebhook()  # the app's unnamed bot: TELEGRAM_BOT_TOKEN, /telegram/webhook
support = TelegramWebhook(name="support")  # TELEGRAM_BOTS["support"], /telegram/support/webhook


@shop.message(commands=["start"])
def welcome(update: Update) -> Any:
    return reply("sendMessage", chat_id=update.chat_id, text="Welcome to the shop!")


@support.message
def ticket(update: Update) -> Any:
    return reply("sendMessage", chat_id=update.chat_id, text="A human will answer soon.")


def create_app(**config: Any) -> Flask:
    app = Flask(__name__)
    # TELEGRAM_BOT_TOKEN and TELEGRAM_SUPPORT_BOT_TOKEN from the environment, or in config:
    # TELEGRAM_BOTS = {"support": {"BOT_TOKEN": "...", "WEBHOOK_URL": "https://..."}}
    app.config.update(config)
    shop.init_app(app)
    support.init_app(app)
    return app
