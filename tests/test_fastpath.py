"""``TELEGRAM_FAST_PATH``: the same answers as the routed webhook, without Flask's routing.

tests/test_views.py runs every row of the webhook table on both layers; here: the two
layers side by side on the same requests, what a handler keeps and loses on the fast path,
hooks and signals, and the rest of the app left alone.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, current_app, g, has_request_context
from werkzeug.test import TestResponse

from flask_tgwebhook import TelegramWebhook, Update, reply, signals
from flask_tgwebhook.fastpath import FastPath
from flask_tgwebhook.testing.updates import make_update

from .conftest import SECRET, TOKEN

WEBHOOK = "/telegram/webhook"
Send = Callable[..., TestResponse]


def make_bot(fast: bool, **config: Any) -> tuple[Flask, TelegramWebhook]:
    """A bot with a command that replies, a catch-all that raises on "boom", and an error
    handler that acknowledges; ``fast`` picks the layer."""
    tg = TelegramWebhook()

    @tg.message(commands=["start"])
    def start(update: Update) -> Any:
        return reply("sendMessage", chat_id=update.raw["message"]["chat"]["id"], text="hi")

    @tg.message
    def anything(update: Update) -> None:
        if update.text == "boom":
            raise ValueError("boom")

    app = Flask("fast_path_under_test")
    app.config.update(
        {
            "TESTING": True,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BOT_USERNAME": "fake_test_bot",
            "TELEGRAM_FAST_PATH": fast,
            "TELEGRAM_MAX_BODY_SIZE": 4096,
            **config,
        }
    )
    tg.init_app(app)
    return app, tg


def body(update: dict[str, Any]) -> bytes:
    return json.dumps(update).encode()


# (name, method, headers, body) for each row of the webhook table that one request shows.
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
ROWS: list[tuple[str, str, dict[str, str], bytes]] = [
    ("handled", "POST", HEADERS, body(make_update(text="hello", update_id=1))),
    ("reply", "POST", HEADERS, body(make_update(text="/start", update_id=2))),
    ("handler raises", "POST", HEADERS, body(make_update(text="boom", update_id=3))),
    ("no handler", "POST", HEADERS, body(make_update("poll", update_id=4))),
    ("unknown type", "POST", HEADERS, b'{"update_id": 5, "from_the_future": {}}'),
    ("duplicate", "POST", HEADERS, body(make_update(text="hello", update_id=1))),
    ("no secret", "POST", {"Content-Type": "application/json"}, body(make_update(update_id=6))),
    ("wrong secret", "POST", {**HEADERS, "X-Telegram-Bot-Api-Secret-Token": "x"}, b"{}"),
    ("not JSON", "POST", HEADERS, b"not json"),
    ("not an object", "POST", HEADERS, b"[1, 2]"),
    ("no update_id", "POST", HEADERS, b'{"message": {}}'),
    ("too large", "POST", HEADERS, b'{"update_id": 7, "pad": "' + b"x" * 5000 + b'"}'),
    ("not JSON type", "POST", {**HEADERS, "Content-Type": "text/plain"}, b'{"update_id": 8}'),
    ("not JSON, no type", "POST", {"X-Telegram-Bot-Api-Secret-Token": SECRET}, b"not json"),
    ("GET", "GET", HEADERS, b""),
    ("PUT", "PUT", HEADERS, b'{"update_id": 9}'),
    ("DELETE", "DELETE", HEADERS, b""),
]


def comparable(response: TestResponse) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = sorted((k, v) for k, v in response.headers.items() if k != "Date")
    return response.status_code, headers, response.get_data()


def test_every_row_answers_exactly_like_the_routed_webhook() -> None:
    routed, _ = make_bot(fast=False)
    fast, _ = make_bot(fast=True)
    assert isinstance(fast.wsgi_app, FastPath)
    assert not isinstance(routed.wsgi_app, FastPath)
    statuses = {}
    one, other = routed.test_client(), fast.test_client()
    for path in (WEBHOOK, WEBHOOK + "/"):  # both spellings of the route
        for name, method, headers, data in ROWS:
            a = one.open(path, method=method, headers=headers, data=data)
            b = other.open(path, method=method, headers=headers, data=data)
            assert comparable(a) == comparable(b), (path, name)
            statuses[name] = b.status_code
    assert statuses == {
        "handled": 200,
        "reply": 200,
        "handler raises": 200,
        "no handler": 200,
        "unknown type": 200,
        "duplicate": 200,
        "no secret": 403,
        "wrong secret": 403,
        "not JSON": 400,
        "not an object": 400,
        "no update_id": 400,
        "too large": 413,
        "not JSON type": 415,
        "not JSON, no type": 400,
        "GET": 405,
        "PUT": 405,
        "DELETE": 405,
    }


def test_retry_policy_and_unconfigured_bot_answer_alike() -> None:
    update = body(make_update(text="boom", update_id=11))
    for config in ({"TELEGRAM_ON_ERROR": "retry"}, {"TELEGRAM_BOT_TOKEN": "not-a-token"}):
        answers = []
        for fast in (False, True):
            app, _ = make_bot(fast, **config)
            answers.append(
                comparable(app.test_client().post(WEBHOOK, headers=HEADERS, data=update))
            )
        assert answers[0] == answers[1]
        assert answers[1][0] in (500, 503)


@pytest.fixture
def fast_app() -> Iterator[tuple[Flask, TelegramWebhook, list[str]]]:
    app, tg = make_bot(fast=True)
    events: list[str] = []

    @app.before_request
    def before_request() -> None:
        events.append("before_request")

    @app.after_request
    def after_request(response: Any) -> Any:
        events.append("after_request")
        return response

    @app.get("/health")
    def health() -> str:
        return "ok"

    yield app, tg, events


def test_a_handler_keeps_current_app_g_and_the_bot_but_not_the_request(
    fast_app: tuple[Flask, TelegramWebhook, list[str]],
) -> None:
    app, tg, events = fast_app
    seen: dict[str, Any] = {}

    @tg.callback_query
    def pressed(update: Update) -> Any:
        seen["app"] = current_app.name
        g.counted = True
        seen["g"] = g.get("counted")
        seen["request"] = has_request_context()
        seen["bot"] = tg.bot is tg.state().bot
        return reply("answerCallbackQuery", callback_query_id=update.callback_query.id)

    answer = app.test_client().post(
        WEBHOOK, headers=HEADERS, data=body(make_update("callback_query", data="yes"))
    )
    assert answer.status_code == 200
    assert answer.json is not None and answer.json["method"] == "answerCallbackQuery"
    assert seen == {"app": app.name, "g": True, "request": False, "bot": True}
    assert events == []  # no before_request, no after_request: Flask's routing was skipped


def test_the_rest_of_the_app_is_untouched(
    fast_app: tuple[Flask, TelegramWebhook, list[str]],
) -> None:
    app, _, events = fast_app
    client = app.test_client()
    assert client.get("/health").get_data() == b"ok"
    assert events == ["before_request", "after_request"]
    assert client.post("/health").status_code == 405
    assert client.get(WEBHOOK).status_code == 405  # Flask answered: it was routed
    assert events.count("before_request") == 3


def test_update_hooks_and_signals_run_on_the_fast_path(
    fast_app: tuple[Flask, TelegramWebhook, list[str]],
) -> None:
    app, tg, _ = fast_app
    calls: list[str] = []
    tg.before_update(lambda update: calls.append("before_update"))
    tg.after_update(lambda update, result: calls.append("after_update"))
    tg.teardown_update(lambda update, exc: calls.append(f"teardown_update {exc!r}"))

    def on(name: str) -> Callable[..., None]:
        def receiver(sender: Flask, **extra: Any) -> None:
            assert sender is app
            calls.append(name)

        return receiver

    receivers = {
        signals.update_received: on("received"),
        signals.update_handled: on("handled"),
        signals.update_failed: on("failed"),
        signals.update_duplicate: on("duplicate"),
        signals.request_rejected: on("rejected"),
    }
    for signal, receiver in receivers.items():
        signal.connect(receiver)
    try:
        client = app.test_client()
        update = body(make_update(text="hello", update_id=21))
        assert client.post(WEBHOOK, headers=HEADERS, data=update).status_code == 200
        assert client.post(WEBHOOK, headers=HEADERS, data=update).status_code == 200
        failing = body(make_update(text="boom", update_id=22))
        assert client.post(WEBHOOK, headers=HEADERS, data=failing).status_code == 200
        assert client.post(WEBHOOK, data=update).status_code == 403
    finally:
        for signal, receiver in receivers.items():
            signal.disconnect(receiver)
    assert calls == [
        "received",
        "before_update",
        "after_update",
        "teardown_update None",
        "handled",
        "received",
        "duplicate",
        "received",
        "before_update",
        "teardown_update ValueError('boom')",
        "failed",
        "rejected",
    ]
    assert app.extensions["tgwebhook"].stats["handled"] == 1


def test_trusted_proxies_fix_the_address_before_the_fast_path() -> None:
    app, _ = make_bot(
        fast=True, TELEGRAM_TRUSTED_PROXIES=1, TELEGRAM_ALLOWED_NETWORKS="203.0.113.0/24"
    )
    client = app.test_client()
    update = body(make_update(update_id=31))
    forwarded = {**HEADERS, "X-Forwarded-For": "203.0.113.5"}
    assert client.post(WEBHOOK, headers=forwarded, data=update).status_code == 200
    outside = {**HEADERS, "X-Forwarded-For": "198.51.100.7"}
    assert client.post(WEBHOOK, headers=outside, data=update).status_code == 403


def test_an_unexpected_error_is_a_logged_500_like_flasks(caplog: pytest.LogCaptureFixture) -> None:
    def explode(sender: Flask, **extra: Any) -> None:
        raise RuntimeError("receiver broke")

    answers = []
    signals.update_received.connect(explode)
    try:
        for fast in (False, True):
            app, _ = make_bot(fast)
            app.testing = False
            update = body(make_update(update_id=41))
            with caplog.at_level(logging.ERROR):
                answers.append(app.test_client().post(WEBHOOK, headers=HEADERS, data=update))
    finally:
        signals.update_received.disconnect(explode)
    assert [a.status_code for a in answers] == [500, 500]
    assert "fast path" in caplog.text and "receiver broke" in caplog.text


def test_the_fast_path_raises_in_testing_like_flask() -> None:
    def explode(sender: Flask, **extra: Any) -> None:
        raise RuntimeError("receiver broke")

    app, _ = make_bot(fast=True)
    signals.update_received.connect(explode)
    try:
        with pytest.raises(RuntimeError, match="receiver broke"):
            app.test_client().post(WEBHOOK, headers=HEADERS, data=body(make_update(update_id=51)))
    finally:
        signals.update_received.disconnect(explode)


def test_the_thread_executor_runs_fast_path_updates_in_the_background() -> None:
    app, tg = make_bot(fast=True, TELEGRAM_EXECUTOR="thread")
    release, ran = threading.Event(), threading.Event()
    seen: list[tuple[int, str]] = []

    @tg.callback_query
    def slow(update: Update) -> None:
        assert release.wait(10), "the test never released the handler"
        seen.append((update.update_id, current_app.name))
        ran.set()

    update = body(make_update("callback_query", data="later", update_id=61))
    answer = app.test_client().post(WEBHOOK, headers=HEADERS, data=update)
    assert answer.status_code == 200  # answered while the handler still waits
    assert seen == []
    release.set()
    assert ran.wait(10)
    assert seen == [(61, app.name)]
