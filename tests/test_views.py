"""Every row of the webhook table (docs/webhook.rst), over the Flask test client."""

from __future__ import annotations

import io
import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from flask_tgwebhook import TelegramWebhook, Update, reply, signals
from flask_tgwebhook.dedupe import DedupeStore, MemoryStore
from flask_tgwebhook.testing.updates import make_update

from .conftest import SECRET, TOKEN, PostUpdate, load_update
from .servers import Gunicorn

APPS = Path(__file__).parent / "apps"


@pytest.fixture(autouse=True, params=["routed", "fast path"])
def webhook_layer(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs twice: through Flask's routing, and with TELEGRAM_FAST_PATH (set
    in the environment, so the apps tests build themselves and real servers get it too)."""
    if request.param == "fast path":
        monkeypatch.setenv("TELEGRAM_FAST_PATH", "true")
    else:
        monkeypatch.delenv("TELEGRAM_FAST_PATH", raising=False)
    return str(request.param)


@pytest.fixture
def seen(tg: TelegramWebhook) -> list[Update]:
    """Every update the catch-all message handler saw."""
    seen: list[Update] = []

    @tg.message
    def record(update: Update) -> None:
        seen.append(update)

    return seen


def test_valid_update_runs_the_handler(seen: list[Update], post_update: PostUpdate) -> None:
    response = post_update(load_update("message_start"))
    assert response.status_code == 200
    assert response.data == b""
    assert [u.update_id for u in seen] == [900000001]


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET[:-1], SECRET + "x", "é" * 43])
def test_missing_or_wrong_secret_is_403(
    seen: list[Update], post_update: PostUpdate, secret: str | None
) -> None:
    response = post_update(make_update(text="hi"), secret=secret)
    assert response.status_code == 403
    assert seen == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        b"[1, 2]",
        b'"text"',
        b"{}",
        b'{"update_id": "1", "message": {}}',
        b'{"update_id": true, "message": {}}',
        b'{"update_id": 1.5, "message": {}}',
        b'{"update_id": 1, "message": \xff}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_bad_body_is_400(seen: list[Update], post_update: PostUpdate, body: bytes) -> None:
    response = post_update(None, data=body, content_type="application/json")
    assert response.status_code == 400
    assert seen == []


def test_body_over_the_limit_is_413(seen: list[Update], post_update: PostUpdate) -> None:
    update = make_update(text="x" * (1024 * 1024))
    assert post_update(update).status_code == 413
    assert seen == []


def test_chunked_body_over_the_limit_is_413(seen: list[Update], client: FlaskClient) -> None:
    # No Content-Length: the view must stop reading at the limit, not trust the client.
    body = b'{"update_id": 1, "message": {"text": "' + b"x" * (1024 * 1024) + b'"}}'
    response = client.post(
        "/telegram/webhook",
        input_stream=io.BytesIO(body),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert seen == []


def test_size_limit_is_configurable(tg: TelegramWebhook) -> None:
    app = Flask("small")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_MAX_BODY_SIZE=1000)
    tg.init_app(app)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    client = app.test_client()
    assert (
        client.post("/telegram/webhook", json=make_update(text="a"), headers=headers).status_code
        == 200
    )
    big = make_update(text="a" * 1000)
    assert client.post("/telegram/webhook", json=big, headers=headers).status_code == 413


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_other_methods_are_405(client: FlaskClient, method: str) -> None:
    response = client.open("/telegram/webhook", method=method)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_type_without_handler_is_200_and_counted(
    app: Flask, seen: list[Update], post_update: PostUpdate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_tgwebhook")
    assert post_update(make_update("poll_answer")).status_code == 200
    assert post_update({"update_id": 77, "subscription": {"id": 1}}).status_code == 200
    assert post_update({"update_id": 78}).status_code == 200
    assert seen == []
    assert app.extensions["tgwebhook"].stats["unhandled"] == 3
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("'subscription'" in m for m in debug)


def test_unknown_type_reaches_a_generic_handler(
    tg: TelegramWebhook, post_update: PostUpdate
) -> None:
    got: list[Any] = []
    tg.on("subscription")(lambda update: got.append(update.subscription.plan))
    assert post_update({"update_id": 5, "subscription": {"plan": "gold"}}).status_code == 200
    assert got == ["gold"]


def test_same_update_id_runs_once(seen: list[Update], post_update: PostUpdate) -> None:
    update = make_update(text="once")
    for _ in range(3):
        assert post_update(update).status_code == 200
    assert len(seen) == 1


def test_handler_error_runs_error_handlers_and_answers_200(
    tg: TelegramWebhook, post_update: PostUpdate
) -> None:
    errors: list[tuple[BaseException, int]] = []

    @tg.message
    def boom(update: Update) -> None:
        raise KeyError("broken")

    @tg.errorhandler(LookupError)
    def on_lookup(exc: BaseException, update: Update) -> None:
        errors.append((exc, update.update_id))

    update = make_update(text="x")
    assert post_update(update).status_code == 200
    assert [(type(e), uid) for e, uid in errors] == [(KeyError, update["update_id"])]
    # acknowledged: Telegram's redelivery is a duplicate, not a second failure
    assert post_update(update).status_code == 200
    assert len(errors) == 1


def test_unhandled_handler_error_is_logged_and_answered_200(
    tg: TelegramWebhook, post_update: PostUpdate, caplog: pytest.LogCaptureFixture
) -> None:
    tg.message(lambda u: 1 / 0)
    tg.add_handler("message", lambda u: 1 / 0)
    assert post_update(make_update(text="x")).status_code == 200
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and errors[0].exc_info and errors[0].exc_info[0] is ZeroDivisionError


def test_retry_policy_answers_500_and_handles_the_redelivery(tg: TelegramWebhook) -> None:
    calls: list[int] = []

    @tg.message
    def flaky(update: Update) -> None:
        calls.append(update.update_id)
        if len(calls) == 1:
            raise ConnectionError("database away")

    app = Flask("retrying")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_ON_ERROR="retry")
    tg.init_app(app)
    client = app.test_client()
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    update = make_update(text="x")
    assert client.post("/telegram/webhook", json=update, headers=headers).status_code == 500
    assert client.post("/telegram/webhook", json=update, headers=headers).status_code == 200
    assert client.post("/telegram/webhook", json=update, headers=headers).status_code == 200
    assert len(calls) == 2


def test_reply_is_the_json_body(tg: TelegramWebhook, post_update: PostUpdate) -> None:
    @tg.message(commands=["start"])
    def start(update: Update) -> Any:
        return reply("sendMessage", chat_id=update.chat_id, text=f"hi {update.command_args}")

    response = post_update(load_update("message_start"))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "method": "sendMessage",
        "chat_id": 42,
        "text": "hi deep-link-payload",
    }


def test_error_handler_may_reply(tg: TelegramWebhook, post_update: PostUpdate) -> None:
    tg.add_handler("message", lambda u: {"present": 1}["missing"])
    tg.register_error_handler(
        KeyError, lambda exc, u: reply("sendMessage", chat_id=u.chat_id, text="sorry")
    )
    response = post_update(make_update(text="x", chat_id=9))
    assert response.get_json() == {"method": "sendMessage", "chat_id": 9, "text": "sorry"}


def test_duplicate_while_running_is_503_then_handled_once(tg: TelegramWebhook, app: Flask) -> None:
    started, release = threading.Event(), threading.Event()
    runs: list[int] = []

    @tg.message
    def slow(update: Update) -> None:
        runs.append(update.update_id)
        started.set()
        release.wait(10)

    update = make_update(text="slow")
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    first: list[int] = []
    worker = threading.Thread(
        target=lambda: first.append(
            app.test_client().post("/telegram/webhook", json=update, headers=headers).status_code
        )
    )
    worker.start()
    assert started.wait(10)
    second = app.test_client().post("/telegram/webhook", json=update, headers=headers)
    release.set()
    worker.join(10)
    assert second.status_code == 503
    assert second.headers["Retry-After"] == "5"
    assert first == [200]
    assert runs == [update["update_id"]]


def test_retry_is_not_lost_when_the_first_copy_died(tg: TelegramWebhook) -> None:
    store = MemoryStore()
    runs: list[int] = []
    tg.add_handler("message", lambda u: runs.append(u.update_id))
    app = Flask("lease")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_PROCESSING_TIMEOUT=1)
    tg_store = TelegramWebhook(store=store)
    tg_store.include_router(tg)
    tg_store.init_app(app)
    update = make_update(text="x")
    # A worker took the update and died before finishing: its lease is all that is left.
    state = app.extensions["tgwebhook"]
    store.claim(state.key_prefix + str(update["update_id"]), 1)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    client = app.test_client()
    assert client.post("/telegram/webhook", json=update, headers=headers).status_code == 503
    deadline = time.monotonic() + 5
    while client.post("/telegram/webhook", json=update, headers=headers).status_code == 503:
        assert time.monotonic() < deadline, "the lease never ran out"
        time.sleep(0.1)
    assert runs == [update["update_id"]]


class BrokenStore(DedupeStore):
    def add(self, key: str, value: str, ttl: float) -> bool:
        raise ConnectionError("store down")

    def get(self, key: str) -> str | None:
        raise ConnectionError("store down")

    def set(self, key: str, value: str, ttl: float) -> None:
        raise ConnectionError("store down")

    def delete(self, key: str) -> None:
        raise ConnectionError("store down")


def test_store_outage_fails_open(caplog: pytest.LogCaptureFixture) -> None:
    tg = TelegramWebhook(store=BrokenStore())
    runs: list[int] = []
    tg.add_handler("message", lambda u: runs.append(u.update_id))
    app = Flask("outage")
    app.config["TELEGRAM_BOT_TOKEN"] = TOKEN
    tg.init_app(app)
    response = app.test_client().post(
        "/telegram/webhook",
        json=make_update(text="x"),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    assert response.status_code == 200
    assert len(runs) == 1
    assert any("dedupe store failed" in r.getMessage() for r in caplog.records)


def test_signals_report_each_outcome(
    tg: TelegramWebhook, app: Flask, post_update: PostUpdate
) -> None:
    tg.add_handler("message", lambda u: None, commands=["ok"])
    tg.add_handler("message", lambda u: 1 / 0, commands=["fail"])
    events: list[str] = []
    receivers = {
        signals.update_received: "received",
        signals.update_handled: "handled",
        signals.update_unhandled: "unhandled",
        signals.update_failed: "failed",
        signals.update_duplicate: "duplicate",
        signals.request_rejected: "rejected",
    }
    listeners = [lambda sender, name=name, **kw: events.append(name) for name in receivers.values()]
    for signal, listener in zip(receivers, listeners, strict=True):
        signal.connect(listener, app)
    ok = make_update(text="/ok")
    post_update(ok)
    post_update(ok)
    post_update(make_update(text="/fail"))
    post_update(make_update(text="other"))
    post_update(make_update(text="/ok"), secret="bad")
    assert events == [
        "received", "handled",
        "received", "duplicate",
        "received", "failed",
        "received", "unhandled",
        "rejected",
    ]  # fmt: skip


def test_token_never_in_logs_responses_or_url_rules(
    tg: TelegramWebhook, app: Flask, post_update: PostUpdate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tg.add_handler("message", lambda u: 1 / 0, commands=["fail"])
    tg.add_handler("message", lambda u: reply("sendMessage", chat_id=1, text="ok"))
    bodies = [
        post_update(make_update(text="/fail")).data,
        post_update(make_update(text="hello")).data,
        post_update(make_update(text="hello"), secret="wrong").data,
        post_update(None, data=b"nope").data,
        post_update(make_update("poll")).data,
    ]
    secret_part = TOKEN.split(":")[1]
    logged = "\n".join(
        r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
        for r in caplog.records
    )
    assert caplog.records, "the requests should have logged something to check"
    for text in [
        logged,
        *[b.decode() for b in bodies],
        *[r.rule for r in app.url_map.iter_rules()],
    ]:
        assert secret_part not in text
        assert SECRET not in text


@pytest.mark.parametrize("length", ["abc", "-5", "0"])
def test_malformed_content_length_is_400(
    seen: list[Update], client: FlaskClient, length: str
) -> None:
    response = client.post(
        "/telegram/webhook",
        data=b'{"update_id": 1, "message": {"text": "x"}}',
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
        environ_overrides={"CONTENT_LENGTH": length},  # the test client would fix a header
    )
    assert response.status_code == 400
    assert seen == []


def test_chunked_body_under_the_limit_is_handled(seen: list[Update], client: FlaskClient) -> None:
    body = json.dumps(make_update(text="chunked")).encode()
    response = client.post(
        "/telegram/webhook",
        input_stream=io.BytesIO(body),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 200
    assert [u.text for u in seen] == ["chunked"]


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonx",
        "application/json-patch+json",
        "json",
    ],
)
def test_wrong_content_type_is_415(
    seen: list[Update], client: FlaskClient, content_type: str | None
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    if content_type is not None:
        headers["Content-Type"] = content_type
    body = json.dumps(make_update(text="x")).encode()
    response = client.post("/telegram/webhook", data=body, headers=headers)
    assert response.status_code == 415
    assert b"application/json" in response.data
    assert seen == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json"])
@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"message": {}}'])
def test_a_body_that_is_no_update_is_400_whatever_its_content_type(
    seen: list[Update], client: FlaskClient, content_type: str | None, body: bytes
) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = client.post("/telegram/webhook", data=body, headers=headers)
    assert response.status_code == 400
    assert b"JSON update object" in response.data
    assert seen == []


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", " application/json "]
)
def test_json_content_type_with_parameters_is_accepted(
    seen: list[Update], client: FlaskClient, content_type: str
) -> None:
    response = client.post(
        "/telegram/webhook",
        data=json.dumps(make_update(text="x")).encode(),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": content_type},
    )
    assert response.status_code == 200
    assert len(seen) == 1


def test_secret_is_checked_before_the_content_type(seen: list[Update], client: FlaskClient) -> None:
    response = client.post("/telegram/webhook", data=b"x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 403


def retrying_app(tg: TelegramWebhook, **config: object) -> Flask:
    app = Flask("retry_cap")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_ON_ERROR="retry", **config)
    tg.init_app(app)
    return app


def test_retries_are_capped_per_update(
    tg: TelegramWebhook, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[int] = []

    @tg.message
    def poison(update: Update) -> None:
        runs.append(update.update_id)
        raise ValueError("cannot handle this one")

    client = retrying_app(tg, TELEGRAM_MAX_RETRIES=2).test_client()
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    update = make_update(text="poison")
    statuses = [
        client.post("/telegram/webhook", json=update, headers=headers).status_code for _ in range(5)
    ]
    # Two redeliveries asked for, then acknowledged and remembered as done.
    assert statuses == [500, 500, 200, 200, 200]
    assert len(runs) == 3
    gave_up = [r for r in caplog.records if "failed 3 times" in r.getMessage()]
    assert len(gave_up) == 1 and gave_up[0].levelno == logging.ERROR
    # Another update still gets its own retries.
    other = make_update(text="poison")
    assert client.post("/telegram/webhook", json=other, headers=headers).status_code == 500


def test_no_retries_means_acknowledge_at_once(tg: TelegramWebhook) -> None:
    tg.add_handler("message", lambda u: 1 / 0)
    client = retrying_app(tg, TELEGRAM_MAX_RETRIES=0).test_client()
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert client.post("/telegram/webhook", json=make_update(), headers=headers).status_code == 200


def test_retry_cap_holds_while_the_store_is_down(tg: TelegramWebhook) -> None:
    runs: list[int] = []

    @tg.message
    def failing(update: Update) -> None:
        runs.append(update.update_id)
        raise ConnectionError("the database is restarting")

    app = Flask("retry_outage")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_ON_ERROR="retry", TELEGRAM_MAX_RETRIES=1)
    broken = TelegramWebhook(store=BrokenStore())
    broken.include_router(tg)
    broken.init_app(app)
    client = app.test_client()
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    update = make_update(text="x")
    statuses = [
        client.post("/telegram/webhook", json=update, headers=headers).status_code for _ in range(2)
    ]
    assert statuses == [500, 200]  # counted in the process while the store is away
    assert len(runs) == 2


# -- bodies over a real server (gunicorn's sync worker) --------------------------------------


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[Gunicorn]:
    soak_dir = tmp_path / "soak"
    soak_dir.mkdir()
    env = {
        "SOAK_DIR": str(soak_dir),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "SOAK_TELEGRAM_MAX_BODY_SIZE": "65536",
    }
    server = Gunicorn("soak_app:app", chdir=APPS, log_dir=soak_dir, workers=1, env=env)
    yield server
    server.stop()


def raw_post(port: int, head: str, send_body: Callable[[socket.socket], int]) -> tuple[bytes, int]:
    """Send a request by hand; returns the answer's status line and the body bytes sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        sock.sendall(
            f"POST /telegram/webhook HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
            f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\n{head}\r\n".encode()
        )
        sent = send_body(sock)
        answer = b""
        while b"\r\n" not in answer and len(answer) < 65536:
            got = sock.recv(4096)
            if not got:
                break
            answer += got
    return answer.split(b"\r\n", 1)[0], sent


@pytest.mark.slow
def test_chunked_body_is_cut_off_at_the_limit_by_a_real_server(real_server: Gunicorn) -> None:
    offered = 64 * 1024 * 1024
    frame = b"4000\r\n" + b"x" * 0x4000 + b"\r\n"

    def send_until_answered(sock: socket.socket) -> int:
        sent = 0
        while sent < offered:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the answer came before the body was all sent
            try:
                sent += sock.send(frame)
            except OSError:
                break
        return sent

    status, sent = raw_post(real_server.port, "Transfer-Encoding: chunked\r\n", send_until_answered)
    assert status.startswith(b"HTTP/1.1 413")
    assert sent < offered // 16  # it stopped reading long before the client stopped offering


@pytest.mark.slow
def test_announced_length_over_the_limit_is_refused_unread(real_server: Gunicorn) -> None:
    status, _ = raw_post(real_server.port, "Content-Length: 10000000000\r\n", lambda sock: 0)
    assert status.startswith(b"HTTP/1.1 413")


@pytest.mark.slow
def test_deep_json_does_not_crash_a_real_worker(tmp_path: Path) -> None:
    soak_dir = tmp_path / "soak"
    soak_dir.mkdir()
    env = {"SOAK_DIR": str(soak_dir), "TELEGRAM_BOT_TOKEN": TOKEN}
    server = Gunicorn("soak_app:app", chdir=APPS, log_dir=soak_dir, workers=1, env=env)
    try:
        workers = server.worker_pids()
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
        url = server.url + "/telegram/webhook"
        for body in [
            b"[" * 500_000 + b"]" * 500_000,
            b'{"update_id": 1, "message": ' + b'{"a": ' * 140_000 + b"1" + b"}" * 140_001,
            b'{"update_id": ' + b"9" * 100_000 + b"}",
        ]:
            response = requests.post(url, data=body, headers=headers, timeout=30)
            assert response.status_code == 400
        ok = requests.post(url, json=make_update(text="still here"), headers=headers, timeout=30)
        assert ok.status_code == 200
        assert server.worker_pids() == workers  # the same worker answered them all
    finally:
        server.stop()


def test_a_token_in_a_handlers_exception_is_redacted_from_the_log(
    tg: TelegramWebhook, post_update: PostUpdate, caplog: pytest.LogCaptureFixture
) -> None:
    @tg.message
    def own_request(update: Update) -> None:
        # What requests says when a handler calls the Bot API by hand and the network fails.
        raise ConnectionError(f"Max retries exceeded with url: /bot{TOKEN}/sendMessage")

    assert post_update(make_update(text="x")).status_code == 200
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("%(message)s"))
    for record in caplog.records:
        handler.handle(record)
    logged = handler.stream.getvalue()
    assert "ConnectionError" in logged
    assert "/bot123456:<redacted>/sendMessage" in logged
    assert TOKEN.split(":")[1] not in logged
