"""The Bot API client over real loopback HTTP against the emulator."""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from flask_tgwebhook.client import MAX_FLOOD_WAITS, Bot, InputFile, is_idempotent
from flask_tgwebhook.errors import (
    APIError,
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidResponse,
    NetworkError,
    NotFound,
    RetryAfter,
    ServerError,
    TelegramError,
    TimedOut,
    Unauthorized,
)
from flask_tgwebhook.testing import FakeTelegram

TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"
OTHER_TOKEN = "123456:ANOTHER-well-formed-but-wrong-token"
SECRETS = [t.split(":", 1)[1] for t in (TOKEN, OTHER_TOKEN)]
PAYLOAD = bytes(range(256)) * 64 + b"\r\n--boundary\r\n\x00end"


def assert_clean(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def assert_clean_exception(exc: BaseException) -> None:
    assert_clean(str(exc))
    assert_clean(repr(exc))
    assert_clean("".join(traceback.format_exception(exc)))
    # Error trackers (Sentry) and debuggers record every frame's local variables.
    with_locals = traceback.TracebackException.from_exception(exc, capture_locals=True)
    assert_clean("".join(with_locals.format()))
    # Error trackers walk the chain even when it is suppressed from tracebacks.
    chained = exc.__cause__ or exc.__context__
    if chained is not None:
        assert_clean_exception(chained)


@pytest.fixture(autouse=True)
def no_token_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test runs with DEBUG logging on, and no record may hold a token."""
    caplog.set_level(logging.DEBUG)
    yield
    assert_clean(caplog.text)
    for record in caplog.records:
        assert_clean(record.getMessage())
        if record.exc_info:
            assert_clean(logging.Formatter().formatException(record.exc_info))


# -- plain calls ------------------------------------------------------------------------


def test_json_call_returns_the_result_and_sends_typed_params(
    bot: Bot, telegram: FakeTelegram
) -> None:
    markup = {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}
    result = bot.call("sendMessage", chat_id=42, text="héllo", parse_mode=None, reply_markup=markup)
    assert result["text"] == "héllo"
    [call] = telegram.calls
    assert call.method == "sendMessage"
    assert call.params == {"chat_id": 42, "text": "héllo", "reply_markup": markup}
    assert call.files == {}


def test_helpers_map_to_camel_case_methods(bot: Bot, telegram: FakeTelegram) -> None:
    me = bot.get_me()
    bot.send_message(chat_id=7, text="hi", disable_notification=True)
    assert bot.close_bot() is not None
    assert me["id"] == bot.bot_id
    assert [c.method for c in telegram.calls] == ["getMe", "sendMessage", "close"]
    assert telegram.calls[1].params == {"chat_id": 7, "text": "hi", "disable_notification": True}


def test_debug_log_names_the_method_and_duration(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot.get_me()
    [message] = [r.getMessage() for r in caplog.records if r.name == "flask_tgwebhook.client"]
    assert message.startswith("getMe answered 200 in ")
    assert message.endswith(" ms")


def test_bot_id_and_repr_show_only_the_id() -> None:
    with Bot(TOKEN) as bot:
        assert bot.bot_id == 123456
        assert repr(bot) == "<Bot id=123456>"


@pytest.mark.parametrize("token", ["", "987654", "abc:def", "987654:has/slash", " 987654:x"])
def test_malformed_token_is_refused_without_echoing_it(token: str) -> None:
    with pytest.raises(ValueError, match="@BotFather") as info:
        Bot(token)
    if token.strip():
        assert token.strip() not in str(info.value)


def test_api_url_needs_a_scheme() -> None:
    with pytest.raises(ValueError, match="TELEGRAM_API_URL"):
        Bot(TOKEN, api_url="api.telegram.org")


def test_method_names_cannot_leave_the_bot_path(bot: Bot, telegram: FakeTelegram) -> None:
    with pytest.raises(ValueError, match="sendMessage"):
        bot.call("../getMe")
    assert telegram.calls == []


def test_unserialisable_params_say_what_to_pass(bot: Bot, telegram: FakeTelegram) -> None:
    with pytest.raises(TypeError, match="sendMessage"):
        bot.call("sendMessage", chat_id=1, text={1, 2})
    assert telegram.calls == []


def test_the_session_has_pooled_connect_only_retries() -> None:
    with Bot(TOKEN, pool_size=4) as bot:
        adapter = bot.session.get_adapter("https://api.telegram.org/")
        assert isinstance(adapter, requests.adapters.HTTPAdapter)
        retry = adapter.max_retries
        assert (retry.connect, retry.read, retry.status, retry.other) == (2, False, 0, 0)
        assert adapter.poolmanager.connection_pool_kw["maxsize"] == 4


def test_close_releases_own_pools_but_not_a_given_session(telegram: FakeTelegram) -> None:
    with Bot(TOKEN, api_url=telegram.api_url) as bot:
        bot.get_me()
        adapter = bot.session.get_adapter(telegram.api_url)
        assert isinstance(adapter, requests.adapters.HTTPAdapter)
        pools = adapter.poolmanager.pools
        assert len(pools) == 1
    assert len(pools) == 0

    statuses: list[int] = []
    with requests.Session() as session:
        session.hooks["response"].append(lambda r, *a, **k: statuses.append(r.status_code))
        with Bot(TOKEN, api_url=telegram.api_url, session=session) as bot:
            bot.get_me()
        assert statuses == [200]
        adapter = session.get_adapter(telegram.api_url)
        assert isinstance(adapter, requests.adapters.HTTPAdapter)
        assert len(adapter.poolmanager.pools) == 1


# -- files ------------------------------------------------------------------------------


def _file_values(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "report.bin"
    path.write_bytes(PAYLOAD)
    return {
        "bytes": PAYLOAD,
        "bytearray": bytearray(PAYLOAD),
        "BytesIO": io.BytesIO(PAYLOAD),
        "Path": path,
        "InputFile": InputFile(PAYLOAD, filename="r.bin", content_type="application/pdf"),
        "InputFile(Path)": InputFile(path),
    }


@pytest.mark.parametrize(
    "kind", ["bytes", "bytearray", "BytesIO", "Path", "InputFile", "InputFile(Path)", "open file"]
)
def test_files_are_uploaded_byte_for_byte(
    kind: str, bot: Bot, telegram: FakeTelegram, tmp_path: Path
) -> None:
    values = _file_values(tmp_path)
    markup = {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}
    if kind == "open file":
        with (tmp_path / "report.bin").open("rb") as f:
            bot.send_document(chat_id=42, document=f, caption="c", reply_markup=markup)
    else:
        bot.send_document(chat_id=42, document=values[kind], caption="c", reply_markup=markup)
    [call] = telegram.calls_to("sendDocument")
    assert call.files == {"document": PAYLOAD}
    # Form fields are strings; non-strings travel JSON-encoded.
    assert call.params == {"chat_id": "42", "caption": "c", "reply_markup": json.dumps(markup)}


def test_several_files_with_attach_references(bot: Bot, telegram: FakeTelegram) -> None:
    media = [{"type": "photo", "media": "attach://one"}, {"type": "photo", "media": "attach://two"}]
    bot.send_media_group(chat_id=1, media=media, one=b"first", two=InputFile(b"second"))
    [call] = telegram.calls
    assert call.files == {"one": b"first", "two": b"second"}
    assert json.loads(call.params["media"]) == media


def test_a_str_is_never_read_as_a_path(bot: Bot, telegram: FakeTelegram, tmp_path: Path) -> None:
    path = tmp_path / "exists.bin"
    path.write_bytes(b"secret contents")
    bot.send_document(chat_id=1, document=str(path))
    [call] = telegram.calls
    assert call.files == {}
    assert call.params["document"] == str(path)


def test_input_file_refuses_a_str() -> None:
    with pytest.raises(TypeError, match="Path"):
        InputFile("photo.jpg")  # type: ignore[arg-type]


# -- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "parameters", "cls"),
    [
        (400, None, BadRequest),
        (401, None, Unauthorized),
        (403, None, Forbidden),
        (404, None, NotFound),
        (409, None, Conflict),
        (429, {"retry_after": 3}, RetryAfter),
        (400, {"migrate_to_chat_id": -1009876543210}, ChatMigrated),
        (500, None, ServerError),
        (502, None, ServerError),
    ],
)
def test_error_answers_raise_their_class(
    code: int,
    parameters: dict[str, Any] | None,
    cls: type[APIError],
    bot: Bot,
    telegram: FakeTelegram,
) -> None:
    telegram.fail("sendMessage", error_code=code, description="Told: no", parameters=parameters)
    with pytest.raises(cls) as info:
        bot.send_message(chat_id=1, text="hi")
    exc = info.value
    assert type(exc) is cls
    assert (exc.method, exc.error_code, exc.description) == ("sendMessage", code, "Told: no")
    assert exc.parameters == (parameters or {})
    if isinstance(exc, RetryAfter):
        assert exc.retry_after == 3
    if isinstance(exc, ChatMigrated):
        assert exc.new_chat_id == -1009876543210
    assert_clean_exception(exc)
    assert len(telegram.calls) == 1


def test_a_wrong_token_is_unauthorized(telegram: FakeTelegram) -> None:
    with Bot(OTHER_TOKEN, api_url=telegram.api_url) as bot, pytest.raises(Unauthorized) as info:
        bot.get_me()
    assert_clean_exception(info.value)


@pytest.fixture
def not_a_bot_api() -> Iterator[str]:
    """A loopback server that answers like a misconfigured proxy, not like the Bot API."""

    @Request.application
    def app(request: Request) -> Response:
        if request.path.endswith("/html"):
            return Response("<h1>502 Bad Gateway</h1>", status=502, mimetype="text/html")
        return Response("[1, 2]", status=200, mimetype="application/json")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(("method", "status"), [("html", 502), ("json", 200)])
def test_an_answer_that_is_not_the_bot_api_envelope(
    method: str, status: int, not_a_bot_api: str
) -> None:
    with Bot(TOKEN, api_url=not_a_bot_api) as bot, pytest.raises(InvalidResponse) as info:
        bot.call(method)
    message = str(info.value)
    assert f"HTTP {status}" in message
    assert "/bot" not in message
    assert "127.0.0.1" not in message
    assert_clean_exception(info.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_connection_refused_is_retried_then_a_network_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with (
        Bot(TOKEN, api_url=f"http://127.0.0.1:{_closed_port()}") as bot,
        pytest.raises(NetworkError) as info,
    ):
        bot.get_me()
    assert not isinstance(info.value, TimedOut)
    assert "TELEGRAM_API_URL" in str(info.value)
    assert_clean_exception(info.value)
    retries = [
        r.getMessage()
        for r in caplog.records
        if r.name == "urllib3.connectionpool" and r.getMessage().startswith("Retrying")
    ]
    assert len(retries) == 2
    assert all("/bot123456:<redacted>/getMe" in m for m in retries)


def test_read_timeout_is_timed_out_and_never_resent(telegram: FakeTelegram) -> None:
    telegram.delay("sendMessage", 1.5)
    with (
        Bot(TOKEN, api_url=telegram.api_url, timeout=(2.0, 0.3)) as bot,
        pytest.raises(TimedOut) as info,
    ):
        bot.send_message(chat_id=1, text="once")
    assert isinstance(info.value, NetworkError)
    assert_clean_exception(info.value)
    assert len(telegram.calls_to("sendMessage")) == 1


def test_dropped_connection_is_a_network_error_and_never_resent(
    bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.disconnect("sendMessage")
    with pytest.raises(NetworkError) as info:
        bot.send_message(chat_id=1, text="once")
    assert not isinstance(info.value, TimedOut)
    assert_clean_exception(info.value)
    assert len(telegram.calls_to("sendMessage")) == 1
    bot.send_message(chat_id=1, text="the pool recovers")
    assert len(telegram.calls_to("sendMessage")) == 2


# -- timeouts ---------------------------------------------------------------------------


def test_get_updates_adds_the_long_poll_to_the_read_timeout(telegram: FakeTelegram) -> None:
    # The emulator holds the poll open for `timeout` seconds when no update is queued,
    # longer than the bot's own read timeout.
    with Bot(TOKEN, api_url=telegram.api_url, timeout=(2.0, 0.8)) as bot:
        assert bot.get_updates(timeout=1) == []


def test_request_timeout_overrides_the_bot_timeout(bot: Bot, telegram: FakeTelegram) -> None:
    telegram.delay("getMe", 1.5)
    with pytest.raises(TimedOut):
        bot.call("getMe", request_timeout=(2.0, 0.3))


# -- opt-in waiting ---------------------------------------------------------------------


def test_flood_wait_is_waited_out_when_allowed(
    telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    telegram.fail("sendMessage", error_code=429, parameters={"retry_after": 1})
    with Bot(TOKEN, api_url=telegram.api_url, flood_wait_max=2) as bot:
        assert bot.send_message(chat_id=1, text="hi")["text"] == "hi"
    assert len(telegram.calls_to("sendMessage")) == 2
    assert any("flood control" in r.getMessage() for r in caplog.records)


def test_flood_wait_is_not_waited_by_default_or_when_too_long(telegram: FakeTelegram) -> None:
    telegram.fail("sendMessage", error_code=429, parameters={"retry_after": 1})
    telegram.fail("getMe", error_code=429, parameters={"retry_after": 30})
    with Bot(TOKEN, api_url=telegram.api_url) as plain, pytest.raises(RetryAfter):
        plain.send_message(chat_id=1, text="hi")
    with (
        Bot(TOKEN, api_url=telegram.api_url, flood_wait_max=5) as patient,
        pytest.raises(RetryAfter) as info,
    ):
        patient.get_me()
    assert info.value.retry_after == 30
    assert [c.method for c in telegram.calls] == ["sendMessage", "getMe"]


def test_flood_waits_are_bounded(telegram: FakeTelegram) -> None:
    telegram.fail("getMe", error_code=429, parameters={"retry_after": 0}, times=None)
    with Bot(TOKEN, api_url=telegram.api_url, flood_wait_max=1) as bot, pytest.raises(RetryAfter):
        bot.get_me()
    assert len(telegram.calls_to("getMe")) == MAX_FLOOD_WAITS + 1


@pytest.fixture
def retrying_bot(telegram: FakeTelegram) -> Iterator[Bot]:
    with Bot(
        TOKEN, api_url=telegram.api_url, server_error_retries=2, server_error_backoff=0.01
    ) as bot:
        yield bot


def test_server_errors_retry_idempotent_methods(retrying_bot: Bot, telegram: FakeTelegram) -> None:
    telegram.fail("getMe", error_code=500, times=2)
    assert retrying_bot.get_me()["id"] == 123456
    assert len(telegram.calls_to("getMe")) == 3

    telegram.fail("getMe", error_code=502, times=None)
    with pytest.raises(ServerError):
        retrying_bot.get_me()
    assert len(telegram.calls_to("getMe")) == 6


def test_server_errors_never_retry_other_methods(retrying_bot: Bot, telegram: FakeTelegram) -> None:
    telegram.fail("sendMessage", error_code=500)
    with pytest.raises(ServerError):
        retrying_bot.send_message(chat_id=1, text="once")
    assert len(telegram.calls_to("sendMessage")) == 1


def test_a_retried_upload_sends_the_whole_file_again(
    retrying_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.fail("setChatPhoto", error_code=500)
    stream = io.BytesIO(b"skip" + PAYLOAD)
    stream.seek(4)  # uploads start where the caller left the stream
    retrying_bot.set_chat_photo(chat_id=1, photo=stream)
    assert [c.files for c in telegram.calls] == [{"photo": PAYLOAD}, {"photo": PAYLOAD}]


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("getMe", True),
        ("getUpdates", True),
        ("setWebhook", True),
        ("deleteWebhook", True),
        ("deleteMessage", True),
        ("logOut", True),
        ("close", True),
        ("GETME", True),
        ("sendMessage", False),
        ("answerCallbackQuery", False),
        ("forwardMessage", False),
        ("editMessageText", False),
        ("closeForumTopic", False),
    ],
)
def test_is_idempotent(method: str, expected: bool) -> None:
    assert is_idempotent(method) is expected


def test_errors_share_one_root() -> None:
    for cls in (APIError, NetworkError, TimedOut, InvalidResponse):
        assert issubclass(cls, TelegramError)
