"""The bot the store tests serve under a real gunicorn, with the store its config names.

Its handler appends ``<update_id> <pid>`` to ``$STORE_APP_DIR/record.txt`` (one ``write`` on
an ``O_APPEND`` descriptor, so lines from several workers never mix) after sleeping
``$STORE_APP_SLOW`` seconds. The instance folder is ``$STORE_APP_DIR/instance``, where the
default store lives.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from flask import Flask

from flask_tgwebhook import TelegramWebhook, Update

DIRECTORY = Path(os.environ["STORE_APP_DIR"])

tg = TelegramWebhook()


@tg.message
def handle(update: Update) -> None:
    time.sleep(float(os.environ.get("STORE_APP_SLOW", "0")))
    fd = os.open(DIRECTORY / "record.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{update.update_id} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


app = Flask(__name__, instance_path=str(DIRECTORY / "instance"))
tg.init_app(app)
