"""Albums in one process: the parts reach ``@tg.media_group()`` once, in message order, and a
handler that raises goes to the error handlers and the ``update_failed`` signal like any
update's (across gunicorn workers: ``test_executors.py``)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from flask import Flask

from flask_tgwebhook import Router, TelegramWebhook, albums, reply, signals
from flask_tgwebhook.albums import Album
from flask_tgwebhook.testing import FakeTelegram, make_update

from .conftest import SECRET, TOKEN
from .servers import wait_until

PHOTO = [{"file_id": "AgAC", "file_unique_id": "AQAD", "width": 90, "height": 90}]


def album_app(telegram: FakeTelegram, tg: TelegramWebhook) -> Flask:
    app = Flask(__name__)
    app.config.update(
        TESTING=True,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_BOT_USERNAME="fake_test_bot",
        TELEGRAM_API_URL=telegram.api_url,
        TELEGRAM_MEDIA_GROUP_WAIT=0.05,
    )
    tg.init_app(app)
    return app


def send_album(app: Flask, count: int = 3) -> None:
    client = app.test_client()
    for n in reversed(range(count)):  # message order is not arrival order
        part = make_update(
            "message", update_id=700 + n, chat_id=5, message_id=40 + n,
            media_group_id="album-7", photo=PHOTO,
        )  # fmt: skip
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        assert client.post("/telegram/webhook", json=part, headers=headers).status_code == 200


def record_albums(tg: TelegramWebhook) -> tuple[list[list[int]], threading.Event]:
    """An album handler on ``tg`` that records each album's message ids and sets the event."""
    received: list[list[int]] = []
    done = threading.Event()

    @tg.media_group()
    def album(album: Album) -> None:
        received.append([u.payload["message_id"] for u in album.updates])
        done.set()

    return received, done


@pytest.fixture
def telegram() -> Any:
    with FakeTelegram() as emulator:
        yield emulator


def test_the_album_handler_gets_every_part_once_in_message_order(telegram: FakeTelegram) -> None:
    tg = TelegramWebhook()
    received, done = record_albums(tg)
    app = album_app(telegram, tg)
    send_album(app)
    assert done.wait(10)
    assert received == [[40, 41, 42]]
    assert tg.state(app).stats["albums"] == 1


def test_an_album_handler_that_raises_goes_to_its_routers_error_handler(
    telegram: FakeTelegram,
) -> None:
    tg, photos = TelegramWebhook(), Router("photos")
    seen: list[tuple[str, Any]] = []
    done = threading.Event()

    @photos.media_group()
    def album(album: Album) -> None:
        raise ValueError("no room for the album")

    @photos.errorhandler(ValueError)
    def too_big(exc: ValueError, update: Any) -> Any:
        seen.append(("error handler", (str(exc), update.update_id)))
        return reply("sendMessage", chat_id=update.chat_id, text="That album is too big.")

    @tg.errorhandler(Exception)
    def anything(exc: Exception, update: Any) -> None:
        seen.append(("root error handler", exc))

    def failed(sender: Flask, **extra: Any) -> None:
        seen.append(("update_failed", (extra["handled"], type(extra["exception"]).__name__)))
        done.set()

    tg.include_router(photos)
    app = album_app(telegram, tg)
    with signals.update_failed.connected_to(failed, app):
        send_album(app)
        assert done.wait(10)
    assert seen == [
        ("error handler", ("no room for the album", 700)),  # the first part, in message order
        ("update_failed", (True, "ValueError")),
    ]
    # The error handler's reply, sent through the client after the signal.
    wait_until(lambda: bool(telegram.calls_to("sendMessage")), timeout=10, what="the reply")
    [sent] = telegram.calls_to("sendMessage")
    assert sent.params["text"] == "That album is too big."
    assert tg.state(app).stats["failed"] == 1


def test_an_album_left_behind_is_handed_out_by_the_next_worker_that_looks(
    telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(albums, "SWEEP_INTERVAL", 0.1)
    tg = TelegramWebhook()
    handed_out, done = record_albums(tg)
    app = album_app(telegram, tg)
    state = tg.state(app)
    for n in (51, 50):  # what a worker killed in the quiet window left: parts, and no timer
        part = make_update(
            "message", update_id=900 + n, chat_id=5, message_id=n,
            media_group_id="left", photo=PHOTO,
        )  # fmt: skip
        assert state.store.album_add(f"{state.key_prefix}album:left", n, json.dumps(part), 60)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    update = make_update("message", text="hello", update_id=999)
    assert (
        app.test_client().post("/telegram/webhook", json=update, headers=headers).status_code == 200
    )
    assert done.wait(10)
    assert handed_out == [[50, 51]]
    assert albums.sweep_albums(state) == 0  # handed out once
