"""A bot for the executor tests, configured from the environment, run under real gunicorn
(and a Celery worker): it records every run of a handler in a file, one JSON line each.

- EXEC_APP_DIR: where record.jsonl (and the instance folder) go.
- TELEGRAM_EXECUTOR, TELEGRAM_STORE_URL, TELEGRAM_MAX_RETRIES, TELEGRAM_PROCESSING_TIMEOUT:
  as documented.
- Message texts steer the handler: "slow <s>" sleeps, "kill-once" kills its worker the first
  time it runs, "kill" kills it every time.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from flask import Flask

import flask_tgwebhook.albums
import flask_tgwebhook.executors
from flask_tgwebhook import TelegramWebhook, Update
from flask_tgwebhook.albums import Album

DIRECTORY = Path(os.environ["EXEC_APP_DIR"])
RECORD = DIRECTORY / "record.jsonl"
flask_tgwebhook.executors.SWEEP_INTERVAL = 0.5  # find dead workers' updates quickly
flask_tgwebhook.albums.SWEEP_INTERVAL = 0.5  # and the albums they left behind

tg = TelegramWebhook()


def record(**fields: Any) -> None:
    line = json.dumps({"pid": os.getpid(), **fields}) + "\n"
    with RECORD.open("a") as out:  # one write per line, under a lock: whole lines only
        fcntl.flock(out, fcntl.LOCK_EX)
        out.write(line)


@tg.message
def handle(update: Update) -> None:
    text = update.text or ""
    started = time.time()
    record(event="start", update_id=update.update_id, chat=update.chat_id, at=started)
    if text.startswith("slow"):
        time.sleep(float(text.split()[1]))
    marker = DIRECTORY / f"killed-{update.update_id}"
    if text == "kill" or (text == "kill-once" and not marker.exists()):
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    record(event="done", update_id=update.update_id, chat=update.chat_id, at=time.time())


@tg.media_group()
def album(album: Album) -> None:
    ids = [u.payload["message_id"] for u in album.updates]
    record(event="album", group=album.media_group_id, message_ids=ids)


def make_celery(app: Flask) -> Any:
    from celery import Celery

    celery_app = Celery(app.name, broker=os.environ["CELERY_BROKER_URL"])
    celery_app.conf.update(task_acks_late=True, worker_prefetch_multiplier=1)
    app.extensions["celery"] = celery_app
    return celery_app


app = Flask(__name__, instance_path=str(DIRECTORY / "instance"))
celery_app = make_celery(app) if os.environ.get("CELERY_BROKER_URL") else None
tg.init_app(app)
