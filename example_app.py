"""A small Telegram bot on Flask: /start, /help, a button, and an echo.

Run it offline (no token, no internet): ``python example_app.py`` starts a local Telegram
emulator, serves this app over HTTPS with a self-signed certificate, registers the webhook
and plays a short conversation through it.

With a real bot: set ``TELEGRAM_BOT_TOKEN`` and ``TELEGRAM_WEBHOOK_URL`` in the environment,
serve the app with gunicorn (``gunicorn "example_app:create_app()"``) behind nginx, and run
``flask --app example_app tg set-webhook`` once.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from flask_tgwebhook import TelegramWebhook, Update, reply

tg = TelegramWebhook()

KEYBOARD = {
    "inline_keyboard": [
        [{"text": "👍 Yes", "callback_data": "yes"}, {"text": "👎 No", "callback_data": "no"}]
    ]
}


@tg.message(commands=["start"])
def start(update: Update) -> Any:
    name = update.user.first_name if update.user else "there"
    return reply(
        "sendMessage",
        chat_id=update.chat_id,
        text=f"Hello, {name}! Do you like Flask?",
        reply_markup=KEYBOARD,
    )


@tg.message(commands=["help"])
def help_(update: Update) -> Any:
    return reply(
        "sendMessage", chat_id=update.chat_id, text="/start shows a button; anything else I echo."
    )


@tg.callback_query(data=["yes", "no"])
def answer_button(update: Update) -> Any:
    # Two calls: one through the client now, one in the webhook response.
    tg.bot.answer_callback_query(callback_query_id=update.payload["id"], text="Noted!")
    verdict = "Me too!" if update.data == "yes" else "Maybe Django then?"
    return reply("sendMessage", chat_id=update.chat_id, text=verdict)


@tg.message(content_type="text")
def echo(update: Update) -> Any:
    return reply("sendMessage", chat_id=update.chat_id, text=update.text)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The app factory. ``TELEGRAM_BOT_TOKEN`` and ``TELEGRAM_WEBHOOK_URL`` may also come
    from the environment."""
    app = Flask(__name__)
    app.config.update(config or {})
    tg.init_app(app)
    return app


if __name__ == "__main__":
    from flask_tgwebhook.testing.demo import main

    main(create_app, conversation=["/start", ("button", "yes"), "Hello, bot!", "/help"])
