"""The second security review: one regression test per finding (docs/security.rst lists them).

Each test failed on the code the review attacked; the finding's number is in its docstring.
Tests marked slow run a real server (werkzeug's, gunicorn) on 127.0.0.1.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from flask_tgwebhook import Bot, ExternalCall, TelegramWebhook
from flask_tgwebhook.external import LinkClaims, dump_token
from flask_tgwebhook.startup import setup_webhook
from flask_tgwebhook.testing import FakeTelegram, make_update
from flask_tgwebhook.webhook_url import WebhookURLError, validate_webhook_url

from .conftest import SECRET, TOKEN
from .servers import HOST, Gunicorn, free_port, wait_until
from .test_fake_telegram import read_request

APPS = Path(__file__).parent / "apps"
KEY = "security-review-secret-key"
LIMIT = 1024 * 1024  # the default TELEGRAM_EXTERNAL_MAX_BODY_SIZE


def links_app(calls: list[ExternalCall], **config: Any) -> tuple[Flask, TelegramWebhook]:
    """An app with one external command, ``paid``, that records its calls."""
    tg = TelegramWebhook()

    @tg.external("paid")
    def paid(call: ExternalCall) -> str:
        calls.append(call)
        return "ok"

    app = Flask("security_under_test")
    app.config.update(
        TESTING=True,
        SECRET_KEY=KEY,
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_WEBHOOK_URL="https://bot.example.com/telegram/webhook",
    )
    app.config.update(config)
    tg.init_app(app)
    return app, tg


def link_path(app: Flask, tg: TelegramWebhook, **kwargs: Any) -> str:
    with app.app_context():
        return urlsplit(tg.external_url("paid", **kwargs)).path


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(app)`` runs ``app`` on werkzeug's real server on 127.0.0.1; returns its URL."""
    servers: list[Any] = []

    def start(app: Flask) -> str:
        server = make_server(HOST, 0, app, threaded=True)
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        servers.append((server, thread))
        return f"http://{HOST}:{server.port}"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def raw_request(port: int, request: bytes) -> bytes:
    """Send ``request`` as it is and return the whole answer (the server closes)."""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        for _ in range(1000):  # bounded: the answer is a few KiB at most
            got = sock.recv(65536)
            if not got:
                break
            answer += got
    return answer


# --- 4: a chunked link body over the limit ---------------------------------------------------


@pytest.mark.slow
def test_chunked_link_body_over_the_limit_is_413_on_a_real_server(serve: Any) -> None:
    """Finding 4: the handler got the body cut at exactly 1 MiB, with a 200."""
    calls: list[ExternalCall] = []
    app, tg = links_app(calls)
    url = serve(app) + link_path(app, tg, user_id=1)
    for size in (LIMIT + 1, LIMIT + 70_000, 3 * LIMIT):
        body = b"x" * size
        pieces = iter([body[i : i + 65536] for i in range(0, size, 65536)])  # sent chunked
        answer = requests.post(url, data=pieces, timeout=10)
        assert answer.status_code == 413, size
    assert calls == []
    exact = b"y" * LIMIT  # the limit itself is allowed, byte for byte
    assert requests.post(url, data=iter([exact]), timeout=10).status_code == 200
    assert [call.body for call in calls] == [exact]


# --- 8: broken chunked framing on the webhook ------------------------------------------------


@pytest.fixture
def gunicorn_bot(tmp_path: Path) -> Iterator[Gunicorn]:
    """tests/apps/soak_app.py under a real gunicorn with one sync worker."""
    soak_dir = tmp_path / "soak"
    soak_dir.mkdir()
    env = {"SOAK_DIR": str(soak_dir), "TELEGRAM_BOT_TOKEN": TOKEN}
    server = Gunicorn("soak_app:app", chdir=APPS, log_dir=soak_dir, workers=1, env=env)
    yield server
    server.stop()


@pytest.mark.slow
@pytest.mark.parametrize(
    "body",
    [
        b"zz\r\n{}\r\n0\r\n\r\n",  # a chunk size that is not hex
        b"2\r\n{}XX0\r\n\r\n",  # a chunk without its CRLF terminator
        b"5\r\n{}",  # the client stops mid-chunk
    ],
)
def test_broken_chunked_framing_is_400_without_a_traceback(
    gunicorn_bot: Gunicorn, body: bytes
) -> None:
    """Finding 8: with the right secret, gunicorn's parse error escaped the view: 500 and an
    ERROR traceback in the log."""
    head = (
        "POST /telegram/webhook HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
        f"X-Telegram-Bot-Api-Secret-Token: {SECRET}\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n"
    )
    answer = raw_request(gunicorn_bot.port, head.encode() + body)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    log = gunicorn_bot.log()
    assert "Traceback" not in log and "ERROR" not in log, log[-2000:]
    assert gunicorn_bot.alive()


# --- 5: one link, many spellings -------------------------------------------------------------


def test_a_respelled_link_shares_the_links_rate_limit() -> None:
    """Finding 5: ``=``, ``==`` or ``%C3%A9`` appended still verified, and each spelling got
    a fresh budget of its own."""
    calls: list[ExternalCall] = []
    app, tg = links_app(calls, TELEGRAM_EXTERNAL_RATE_LIMIT="2/minute")
    client = app.test_client()
    path = link_path(app, tg, user_id=1)
    spellings = [path, path, path + "=", path + "==", path + "%C3%A9", path[:-1] + "%41"]
    answers = [
        # A new client address each time: only the per-link limit can refuse.
        client.get(p, environ_base={"REMOTE_ADDR": f"198.51.100.{n}"}).status_code
        for n, p in enumerate(spellings, 1)
    ]
    assert answers[:2] == [200, 200]
    assert all(status in (403, 429) for status in answers[2:]), answers
    assert len(calls) == 2


# --- 6: SECRET_KEY_FALLBACKS given as a string -----------------------------------------------


def test_secret_key_fallbacks_as_a_string_is_refused_at_start_up() -> None:
    """Finding 6: ``"old-key"`` became one key per character, so a link signed with ``"o"``
    ran its handler."""
    with pytest.raises(RuntimeError, match=r"SECRET_KEY_FALLBACKS must be a list") as info:
        links_app([], SECRET_KEY_FALLBACKS="old-key")
    assert "old-key" not in str(info.value)  # a key is a secret: never echoed
    assert "FLASK_SECRET_KEY_FALLBACKS" in str(info.value)  # the fix for the environment
    calls: list[ExternalCall] = []
    app, _ = links_app(calls, SECRET_KEY_FALLBACKS=["old-key"])
    forged = dump_token([b"o"], LinkClaims(int(TOKEN.split(":")[0]), "paid", 1))
    app.config["SECRET_KEY_FALLBACKS"] = "old-key"  # changed after start-up: refused too
    assert app.test_client().get(f"/telegram/external/{forged}").status_code == 503
    assert calls == []


# --- 9: deeply nested JSON on a valid link ---------------------------------------------------


def test_deep_json_on_a_valid_link_still_reaches_the_handler() -> None:
    """Finding 9: an uncaught RecursionError answered 503 and the handler never ran."""
    calls: list[ExternalCall] = []
    app, tg = links_app(calls)
    body = b"[" * 100_000 + b"]" * 100_000
    response = app.test_client().post(
        link_path(app, tg, user_id=1), data=body, content_type="application/json"
    )
    assert response.status_code == 200
    [call] = calls
    assert call.body == body  # the raw body is there for the handler to judge
    assert call.content is None  # as for any JSON that can't be parsed


# --- 11: the origin of a link ----------------------------------------------------------------


def test_links_are_not_minted_from_the_host_header_in_production(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Finding 11: with no base URL configured, ``Host: evil.example`` minted links to
    evil.example."""
    app, tg = links_app([], TESTING=False, TELEGRAM_WEBHOOK_URL=None)
    with (
        app.test_request_context("/", headers={"Host": "evil.example"}),
        pytest.raises(RuntimeError, match="TELEGRAM_EXTERNAL_BASE_URL") as info,
    ):
        tg.external_url("paid", user_id=1)
    assert "evil.example" not in str(info.value)
    # In development and tests the request's host is used, and said so loudly, once.
    app.debug = True
    with caplog.at_level(logging.WARNING, "flask_tgwebhook.external"):
        for _ in range(2):
            with app.test_request_context("/", base_url="http://bot.internal:8000"):
                url = tg.external_url("paid", user_id=1)
    assert url.startswith("https://bot.internal:8000/telegram/external/")
    warnings = [r.getMessage() for r in caplog.records if "Host header" in r.getMessage()]
    assert len(warnings) == 1


# --- 1: a malformed header line from the Bot API ---------------------------------------------


class BotAPIStandIn:
    """A tiny Bot API on a raw socket: each connection gets ``answer`` as it is, then closed.

    ``answer`` is whatever bytes a test needs (a malformed header line, an HTML 502); with
    ``answer = None`` the request is read and never answered, for timeouts.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server((HOST, 0))
        self.port: int = self.listener.getsockname()[1]
        self.answer: bytes | None = b""
        self.requests: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self.answer_one, args=(conn,), daemon=True).start()

    def answer_one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            # The whole request, body too: closing on unread bytes sends RST, not our answer.
            request = read_request(conn)
            self.requests.append(request.split(b"\r\n", 1)[0])
            answer = self.answer
            if answer is None:
                self.stop.wait(10)  # the client's read timeout ends the wait first
            else:
                conn.sendall(answer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.listener.close()  # connection threads end with the stop event


def http_answer(status: str, body: bytes, *extra_headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", *extra_headers, f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\nConnection: close\r\n\r\n").encode() + body


#: A header line without a colon in the middle of the head: urllib3 reports it at WARNING.
MALFORMED = http_answer(
    "200 OK", b'{"ok":true,"result":{"id":123456}}', "Content-Type: application/json", "oops"
)


@pytest.fixture
def stand_in() -> Iterator[BotAPIStandIn]:
    server = BotAPIStandIn()
    yield server
    server.close()


@pytest.fixture
def root_records() -> Iterator[list[logging.LogRecord]]:
    """Every record any logger emits at DEBUG, as the root logger's handlers get it."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            self.format(record)  # what a real handler writes, traceback included
            records.append(record)

    root = logging.getLogger()
    handler, level = Keep(logging.DEBUG), root.level
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield records
    root.removeHandler(handler)
    root.setLevel(level)


def rendered(records: list[logging.LogRecord]) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


BOT_SECRET = TOKEN.split(":", 1)[1]


def test_a_malformed_header_line_logs_no_token(
    stand_in: BotAPIStandIn, root_records: list[logging.LogRecord]
) -> None:
    """Finding 1: urllib3.connection's ``Failed to parse headers (url=.../bot<token>/...)``
    came out whole, from a logger the redaction did not cover, and the call succeeded."""
    stand_in.answer = MALFORMED
    with Bot(TOKEN, api_url=stand_in.api_url, timeout=(2.0, 2.0)) as bot:
        assert bot.call("getMe") == {"id": 123456}
    text = rendered(root_records)
    assert "Failed to parse headers" in text  # urllib3 did report it...
    assert "/bot123456:<redacted>/getMe" in text
    assert BOT_SECRET not in text  # ...without the token
    for record in root_records:
        assert BOT_SECRET not in str(record.msg) and BOT_SECRET not in str(record.args)


# --- 3: link tokens in Flask's error log and in handler tracebacks ---------------------------


def test_link_tokens_stay_out_of_flasks_error_log_and_handler_tracebacks(
    root_records: list[logging.LogRecord],
) -> None:
    """Finding 3: an app-wide hook that raised during a link call made Flask log
    ``Exception on /telegram/external/<token>``, and a handler's traceback quoting
    ``call.url`` was not redacted either."""
    calls: list[ExternalCall] = []
    app, tg = links_app(calls, TESTING=False)

    @tg.external("quotes")
    def quotes(call: ExternalCall) -> None:
        raise ValueError(f"unexpected call to {call.url}")

    broken = {"hook": "before"}

    @app.before_request
    def before() -> None:
        if broken["hook"] == "before":
            raise RuntimeError("the database is down")

    @app.after_request
    def after(response: Any) -> Any:
        if broken["hook"] == "after":
            raise RuntimeError("the session could not be saved")
        return response

    client = app.test_client()
    paid = link_path(app, tg, user_id=1)
    with app.app_context():
        quoting = urlsplit(tg.external_url("quotes", user_id=1)).path
    assert client.get(paid).status_code == 500  # the before_request hook raised
    broken["hook"] = "after"
    assert client.get(paid).status_code == 500  # the after_request hook raised
    broken["hook"] = "none"
    assert client.get(quoting).status_code == 503  # the handler raised, quoting the URL
    text = rendered(root_records)
    assert text.count("Exception on /telegram/external/<redacted> [GET]") == 2
    assert "ValueError: unexpected call to http://localhost/telegram/external/<redacted>" in text
    for path in (paid, quoting):
        token = path.rsplit("/", 1)[1]
        assert token[:24] not in text


# --- 10: the token in traceback frame locals -------------------------------------------------


def leaked_locals(exc: BaseException, secret: str = BOT_SECRET) -> list[str]:
    """``function:local`` for every local, in every frame of ``exc``'s traceback and of the
    exceptions chained to it, whose repr holds ``secret``: what an error tracker records."""
    found, seen = [], set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        pending += [error.__cause__, error.__context__]
        tb = error.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_code.co_filename != __file__:  # this test's own frames hold TOKEN
                for name, value in frame.f_locals.items():
                    try:
                        text = repr(value)
                    except Exception:
                        text = ""  # an object that can't say what it is says nothing
                    if secret in text:
                        found.append(f"{frame.f_code.co_name}:{name}")
            tb = tb.tb_next
    return found


class UnreadableFile(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        raise OSError("the disk went away")


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"text": object()}, TypeError),  # a parameter that is not JSON
        ({"document": UnreadableFile()}, OSError),  # a file whose read fails
        ({"document": Path("/nonexistent/flask_tgwebhook.pdf")}, FileNotFoundError),
    ],
)
def test_no_frame_of_a_client_error_holds_the_token(
    stand_in: BotAPIStandIn, params: dict[str, Any], error: type[Exception]
) -> None:
    """Finding 10: the error was raised in the client frame whose ``url`` local held the
    token, and error trackers (Sentry) record locals."""
    stand_in.answer = MALFORMED
    with Bot(TOKEN, api_url=stand_in.api_url) as bot, pytest.raises(error) as info:
        bot.call("sendDocument", chat_id=1, **params)
    assert leaked_locals(info.value) == []
    assert BOT_SECRET not in str(info.value)
    assert stand_in.requests == []  # nothing was sent


# --- 2: a token inside a registered webhook URL ----------------------------------------------

#: What bots migrating from older libraries often have registered.
URL_WITH_TOKEN = f"https://bot.example.com/{TOKEN}"


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        (["webhook-info"], None),
        (["delete-webhook"], None),
        (["poll", "--once", "--timeout", "0"], "y\n"),
    ],
)
def test_cli_never_prints_a_token_inside_the_registered_url(
    telegram: FakeTelegram, command: list[str], answer: str | None
) -> None:
    """Finding 2: ``flask tg webhook-info`` and ``delete-webhook`` printed it as it was."""
    with Bot(TOKEN, api_url=telegram.api_url) as bot:
        bot.call("setWebhook", url=URL_WITH_TOKEN)
    app = Flask("cli_security")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.api_url)
    TelegramWebhook(app)
    result = app.test_cli_runner().invoke(args=["tg", *command], input=answer)
    assert result.exit_code == 0, result.output
    assert "https://bot.example.com/123456:<redacted>" in result.output
    assert BOT_SECRET not in result.output


@pytest.mark.parametrize(
    "url",
    [
        f"http://bot.example.com/{TOKEN}",  # refused for http before the token was looked for
        f"https://bot.example.com:8080/{TOKEN}",
        f"https://:443/{TOKEN}",
        f"https://bot.example.com/hook/{BOT_SECRET}",  # the secret part alone
    ],
)
def test_webhook_url_errors_never_quote_the_token(url: str) -> None:
    """Finding 2: ``validate_webhook_url`` quoted an ``http://`` URL before it checked for
    the token."""
    with pytest.raises(WebhookURLError, match="contains the bot token") as info:
        validate_webhook_url(url, token=TOKEN)
    assert BOT_SECRET not in str(info.value)
    if BOT_SECRET in url and TOKEN not in url:
        return  # without the token, the secret part alone is not recognisable
    with pytest.raises(WebhookURLError) as info:
        validate_webhook_url(url)
    assert BOT_SECRET not in str(info.value)


# --- 1, 2, 10: every logger at DEBUG while the Bot API misbehaves ---------------------------

JSON = "Content-Type: application/json"
ANSWERS: dict[str, bytes | None] = {
    "malformed header": MALFORMED,
    "401": http_answer(
        "401 Unauthorized", b'{"ok":false,"error_code":401,"description":"Unauthorized"}', JSON
    ),
    "429": http_answer(
        "429 Too Many Requests",
        b'{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 120",'
        b'"parameters":{"retry_after":120}}',
        JSON,
    ),
    "502 html": http_answer(
        "502 Bad Gateway",
        b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        "Content-Type: text/html",
    ),
    "timeout": None,
    "refused": b"",  # nobody listens: see api_url below
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(ANSWERS))
def test_no_token_anywhere_at_debug_whatever_the_bot_api_does(
    stand_in: BotAPIStandIn, root_records: list[logging.LogRecord], case: str
) -> None:
    """Every record of every logger at DEBUG (seen by a root handler, not per-logger
    filters), every exception message and frame local, and the CLI's output, while the
    client meets each kind of trouble."""
    stand_in.answer = ANSWERS[case]
    api_url = f"http://{HOST}:{free_port()}" if case == "refused" else stand_in.api_url
    with Bot(TOKEN, api_url=api_url, timeout=(1.0, 0.5)) as bot:
        try:
            bot.call("getMe")
        except Exception as exc:
            assert BOT_SECRET not in str(exc) and BOT_SECRET not in repr(exc)
            assert leaked_locals(exc) == []
        else:
            assert case == "malformed header"
    app = Flask("debug_everything")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=api_url, TELEGRAM_READ_TIMEOUT=0.5)
    TelegramWebhook(app)
    result = app.test_cli_runner().invoke(args=["tg", "me"])
    assert (result.exit_code == 0) is (case == "malformed header"), result.output
    assert BOT_SECRET not in result.output and BOT_SECRET not in repr(result.exception)
    text = rendered(root_records)
    assert "urllib3" in text  # urllib3 did log at DEBUG...
    assert BOT_SECRET not in text  # ...and nothing anywhere holds the token


# --- 7: an update whose handler kills its worker ---------------------------------------------


@pytest.mark.slow
def test_an_update_that_kills_its_worker_stops_at_the_retry_cap(tmp_path: Path) -> None:
    """Finding 7: ``TELEGRAM_MAX_RETRIES`` counted only raised exceptions, so an update that
    killed its worker (SIGKILL, the OOM killer, gunicorn's timeout) ran on every redelivery."""
    soak_dir = tmp_path / "soak"
    soak_dir.mkdir()
    env = {
        "SOAK_DIR": str(soak_dir),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "SOAK_TELEGRAM_STORE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
        "SOAK_TELEGRAM_PROCESSING_TIMEOUT": "1",
        "SOAK_TELEGRAM_MAX_RETRIES": "2",
    }
    server = Gunicorn("soak_app:app", chdir=APPS, log_dir=soak_dir, workers=1, env=env)
    update = make_update("message", text="killer")
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    answers: list[int | None] = []

    def deliver() -> bool:
        """One delivery, as Telegram makes it; True once it is answered 200."""
        try:
            status: int | None = requests.post(
                f"{server.url}/telegram/webhook", json=update, headers=headers, timeout=10
            ).status_code
        except requests.ConnectionError:
            status = None  # the worker died under the request
        if not answers or status != answers[-1]:
            answers.append(status)
        return status == 200

    try:
        # Telegram redelivers until it gets a 2xx; the lease (1 s) keeps each retry out
        # until the dead worker's claim runs out, and gunicorn starts a new worker.
        wait_until(deliver, timeout=60, what="the update to be answered 200", interval=0.2)
        killed = (soak_dir / "killer.txt").read_text().split()
        assert len(killed) == 1 + 2  # the first delivery and TELEGRAM_MAX_RETRIES more
        assert deliver()  # and it stays done
        assert "Acknowledging it without running it again" in server.log()
    finally:
        server.stop()
    assert None in answers and answers[-1] == 200


@pytest.mark.parametrize("enabled", [True, False])
def test_setup_webhook_never_logs_a_token_inside_the_registered_url(
    telegram: FakeTelegram, root_records: list[logging.LogRecord], enabled: bool
) -> None:
    """Finding 2: ``setup_webhook`` logged the URL it replaced on ``flask_tgwebhook.startup``,
    which no filter covered (a parent logger's filter does not apply to child records)."""
    with Bot(TOKEN, api_url=telegram.api_url) as bot:
        bot.call("setWebhook", url=URL_WITH_TOKEN)
    app = Flask("setup_security")
    app.config.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=telegram.api_url,
        TELEGRAM_WEBHOOK_URL="https://127.0.0.1:8443/telegram/webhook",
        TELEGRAM_BOT_ENABLED=enabled,
    )
    TelegramWebhook(app)
    own = logging.getLogger("a_deploy_script_of_yours")  # a logger no redaction knows
    for logger in (None, own):
        with Bot(TOKEN, api_url=telegram.api_url) as bot:
            bot.call("setWebhook", url=URL_WITH_TOKEN)
        setup_webhook(app, logger=logger)
    text = rendered(root_records)
    assert "https://bot.example.com/123456:<redacted>" in text
    assert BOT_SECRET not in text


@pytest.mark.parametrize(
    "config",
    [
        {"TELEGRAM_API_URL": "api.telegram.org"},
        {"TELEGRAM_MAX_BODY_SIZE": "lots"},
        {"TELEGRAM_WEBHOOK_SECRET": "not allowed!"},
        {"TELEGRAM_EXTERNAL_PATH": "relative"},
        {"TELEGRAM_EXTERNAL_RATE_LIMIT": "lots"},
        {"TELEGRAM_FLOOD_PER_SECOND": "fast"},
    ],
)
def test_no_frame_of_a_start_up_config_error_holds_the_token(config: dict[str, Any]) -> None:
    """Finding 10: start-up config errors carried ``token`` and ``config`` locals."""
    app = Flask("config_error")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, SECRET_KEY=KEY, **config)
    with pytest.raises(RuntimeError) as info:
        TelegramWebhook(app)
    assert leaked_locals(info.value) == []
    assert leaked_locals(info.value, KEY) == []

    named = Flask("named_config_error")
    named.config.update(TELEGRAM_BOTS={"support": {"BOT_TOKEN": TOKEN, "API_URL": "nowhere"}})
    with pytest.raises(RuntimeError) as info:
        TelegramWebhook(named, name="support")
    assert leaked_locals(info.value) == []
