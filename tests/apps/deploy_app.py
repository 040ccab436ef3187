"""The bot the deploy tests serve under gunicorn (behind nginx, or serving TLS itself).

Its message handler appends ``<update_id>`` to ``$DEPLOY_DIR/record.txt`` (one ``write`` on
an ``O_APPEND`` descriptor) and answers in the webhook reply; its signed-link handler
``ping`` answers ``pong <user_id>``. The token, the proxies and the rest come from the
environment, as in production; ``SECRET_KEY`` too.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from flask_tgwebhook import ExternalCall, TelegramWebhook, Update, reply
from flask_tgwebhook.reply import Reply

RECORD = Path(os.environ["DEPLOY_DIR"]) / "record.txt"

tg = TelegramWebhook()


@tg.message
def echo(update: Update) -> Reply:
    fd = os.open(RECORD, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{update.update_id}\n".encode())
    finally:
        os.close(fd)
    return reply("sendMessage", chat_id=update.chat_id, text=f"got {update.update_id}")


@tg.external("ping")
def ping(call: ExternalCall) -> str:
    return f"pong {call.user_id}"


app = Flask(__name__)
app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
tg.init_app(app)
