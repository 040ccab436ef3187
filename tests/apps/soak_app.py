"""The bot the soak and shutdown tests serve under a real gunicorn.

Its one handler appends ``<update_id> <pid> <instance>`` to ``$SOAK_DIR/record.txt`` (one
``write`` on an ``O_APPEND`` descriptor, so lines from several workers never mix; the instance
is ``$SOAK_INSTANCE``). The record is what the
tests count: an update handled twice shows up twice, a lost one not at all.

Faults are asked for by the message text, each once per update (a marker file in
``$SOAK_DIR/marks`` made with ``O_EXCL`` says it happened, across workers and instances):

- ``fail``: raise on the first two attempts (a passing failure: the retry policy redelivers);
- ``poison``: raise every time (the retry cap must give up on it);
- ``kill``: SIGKILL the worker in the middle of the handler, before its effect;
- ``kill-after``: SIGKILL the worker after the update was marked done, before the answer;
- ``killer``: note the start in ``killer.txt``, then SIGKILL the worker, every time (the
  retry cap, which counts claims, must give up on it);
- ``slow``: note the start in ``started.txt``, then take ``$SOAK_SLOW`` seconds;
- ``call``: send a message through the Bot API (``SOAK_TELEGRAM_API_URL``, the emulator).

Settings come from the environment: ``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_DEDUPE_URL`` and any
``SOAK_TELEGRAM_*`` variable (as config key ``TELEGRAM_*``, the value read as JSON).
``SOAK_LOG_LEVEL`` sends every logger's records at that level to stderr (gunicorn's log).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from flask import Flask

from flask_tgwebhook import TelegramWebhook, Update, signals

SOAK_DIR = Path(os.environ["SOAK_DIR"])
MARKS = SOAK_DIR / "marks"
MARKS.mkdir(exist_ok=True)
INSTANCE = os.environ.get("SOAK_INSTANCE", "-")

tg = TelegramWebhook()


def append(name: str, line: str) -> None:
    fd = os.open(SOAK_DIR / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def first_time(mark: str) -> bool:
    """True for the first caller only, in any process."""
    try:
        os.close(os.open(MARKS / mark, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        return False
    return True


@tg.message
def handle(update: Update) -> None:
    text, uid = update.text or "", update.update_id
    if text == "poison":
        append("poison.txt", f"{uid}\n")
        raise RuntimeError(f"update {uid} can never be handled")
    if text == "fail" and (first_time(f"fail1-{uid}") or first_time(f"fail2-{uid}")):
        raise ConnectionError("the database is restarting")
    if text == "killer":
        append("killer.txt", f"{uid}\n")
        os.kill(os.getpid(), signal.SIGKILL)
    if text == "kill" and first_time(f"kill-{uid}"):
        os.kill(os.getpid(), signal.SIGKILL)
    if text == "slow":
        append("started.txt", f"{uid} {os.getpid()}\n")
        time.sleep(float(os.environ.get("SOAK_SLOW", "0.3")))
    if text == "call":
        tg.bot.send_message(chat_id=update.chat_id or 0, text="hello")
    append("record.txt", f"{uid} {os.getpid()} {INSTANCE}\n")


def kill_after_done(sender: Flask, update: Update, **extra: Any) -> None:
    # update_handled is sent once the update is marked done and before the answer goes out.
    if update.text == "kill-after" and first_time(f"kill-after-{update.update_id}"):
        os.kill(os.getpid(), signal.SIGKILL)


if os.environ.get("SOAK_LOG_LEVEL"):
    logging.basicConfig(
        level=os.environ["SOAK_LOG_LEVEL"],
        stream=sys.stderr,
        format="%(levelname)s %(name)s %(message)s",
    )

app = Flask(__name__)
app.config.update(
    TELEGRAM_ON_ERROR="retry",
    TELEGRAM_MAX_RETRIES=3,
    TELEGRAM_PROCESSING_TIMEOUT=3,
    TELEGRAM_RETRY_AFTER=1,
)
app.config.from_prefixed_env("SOAK")
tg.init_app(app)
signals.update_handled.connect(kill_after_done, app, weak=False)
