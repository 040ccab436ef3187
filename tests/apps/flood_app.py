"""A bot that broadcasts; tests/test_broadcast.py serves it with gunicorn and runs it as a script.

Configured from the environment: ``TELEGRAM_API_URL`` (the emulator), ``TELEGRAM_DEDUPE_URL``
(the redis-server every worker shares) and ``TELEGRAM_FLOOD_CONTROL``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from flask import Flask, request

from flask_tgwebhook import Bot, TelegramWebhook
from flask_tgwebhook.broadcast import broadcast

tg = TelegramWebhook()
app = Flask(__name__)
app.config.update(TELEGRAM_BOT_TOKEN="123456:TEST-fake-token-for-flask-tgwebhook")
tg.init_app(app)


def _chats() -> range:
    first = int(request.args["first"])
    return range(first, first + int(request.args["count"]))


@app.post("/broadcast")
def run_broadcast() -> dict[str, Any]:
    report = broadcast(_chats(), job=request.args["job"], text="news")
    return {
        "pid": os.getpid(),
        "reached": report.reached,
        "blocked": report.blocked,
        "failed": report.failed,
    }


@app.post("/repeat")
def repeat() -> dict[str, Any]:
    """Several messages to one chat through ``tg.bot`` (paced when the config says so)."""
    for n in range(int(request.args["count"])):
        tg.bot.send_message(chat_id=int(request.args["chat"]), text=f"{os.getpid()}-{n}")
    return {"pid": os.getpid()}


@app.post("/burst")
def burst() -> dict[str, Any]:
    """The same messages with a client that does not pace: what flood control prevents."""
    with Bot(app.config["TELEGRAM_BOT_TOKEN"], api_url=app.config["TELEGRAM_API_URL"]) as bot:
        for chat_id in _chats():
            bot.send_message(chat_id=chat_id, text="unpaced")
    return {"pid": os.getpid()}


if __name__ == "__main__":
    # python flood_app.py JOB FIRST COUNT: a broadcast in a process a test can kill.
    job, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with app.app_context():
        print(broadcast(range(first, first + count), job=job, text="news"), flush=True)
