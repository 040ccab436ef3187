"""One external command; tests/test_external_gunicorn.py serves it with a real gunicorn."""

from __future__ import annotations

from flask import Flask

from flask_tgwebhook import ExternalCall, TelegramWebhook

tg = TelegramWebhook()


@tg.external("paid")
def paid(call: ExternalCall) -> str:
    return f"paid by {call.user_id}"


app = Flask(__name__)
app.config.update(
    SECRET_KEY="external-app-test-key",
    TELEGRAM_BOT_TOKEN="123456:TEST-fake-token-for-flask-tgwebhook",
    TELEGRAM_WEBHOOK_URL="https://bot.example.com/telegram/webhook",
)
tg.init_app(app)
