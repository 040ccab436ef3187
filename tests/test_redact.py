"""Token redaction in text and in the log records of urllib3 and requests."""

from __future__ import annotations

import logging
import sys
from typing import Any

import pytest

from flask_tgwebhook.redact import (
    REDACTED_LOGGERS,
    RedactingFilter,
    install_log_redaction,
    redact,
)

TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"
SECRET = TOKEN.split(":", 1)[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (TOKEN, "123456:<redacted>"),
        (f"token={TOKEN}.", "token=123456:<redacted>."),
        (
            f"Max retries exceeded with url: /bot{TOKEN}/getMe (Caused by ...)",
            "Max retries exceeded with url: /bot123456:<redacted>/getMe (Caused by ...)",
        ),
        ("http://127.0.0.1:8081/bot42:short/getMe", "http://127.0.0.1:8081/bot42:<redacted>/getMe"),
        (f"/bot{TOKEN.replace(':', '%3A')}/x", "/bot123456:<redacted>/x"),
        (TOKEN.replace(":", "%3a"), "123456:<redacted>"),
        (f"{TOKEN} and 987:{'A' * 35}", "123456:<redacted> and 987:<redacted>"),
    ],
)
def test_redact_replaces_tokens_and_keeps_the_bot_id(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no tokens here",
        "http://127.0.0.1:8443/telegram/webhook",
        "12:30 and 10:00",
        "chat 123456:hello",  # secret part too short to be a token outside a URL
    ],
)
def test_redact_leaves_other_text_alone(text: str) -> None:
    assert redact(text) == text


def test_redact_is_idempotent() -> None:
    once = redact(f"/bot{TOKEN}/getMe {TOKEN}")
    assert redact(once) == once
    assert SECRET not in once


def _record(msg: str, *args: object, exc_info: Any = None) -> logging.LogRecord:
    name = "urllib3.connectionpool"
    return logging.LogRecord(name, logging.DEBUG, __file__, 1, msg, args, exc_info)


def test_filter_renders_redacts_and_clears_args() -> None:
    # the shape of urllib3's request line
    args = ("http", "127.0.0.1", 80, "POST", f"/bot{TOKEN}/getMe", "HTTP/1.1", 200)
    record = _record('%s://%s:%s "%s %s %s" %s', *args)
    assert RedactingFilter().filter(record) is True
    assert record.args is None
    expected = 'http://127.0.0.1:80 "POST /bot123456:<redacted>/getMe HTTP/1.1" 200'
    assert record.getMessage() == expected


def test_filter_redacts_an_attached_traceback() -> None:
    try:
        raise ConnectionError(f"Max retries exceeded with url: /bot{TOKEN}/getMe")
    except ConnectionError:
        record = _record("request failed", exc_info=sys.exc_info())
    RedactingFilter().filter(record)
    handler_output = logging.Formatter().format(record)
    assert "ConnectionError" in handler_output
    assert "/bot123456:<redacted>/getMe" in handler_output
    assert SECRET not in handler_output


def test_filter_keeps_a_record_whose_format_is_broken() -> None:
    record = _record("%d items", "not a number")
    assert RedactingFilter().filter(record) is True
    assert record.args == ("not a number",)


def test_install_is_idempotent_and_covers_every_logger_of_the_namespaces(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_redaction()
    factory = logging.getLogRecordFactory()
    install_log_redaction()
    assert logging.getLogRecordFactory() is factory  # wrapped once, however often called
    assert set(REDACTED_LOGGERS) >= {"urllib3", "requests", "flask_tgwebhook"}
    caplog.set_level(logging.DEBUG)
    # Children of any depth, and ones made after the install (a module urllib3 adds later).
    names = ["urllib3", "urllib3.connection", "urllib3.a.future.module", "requests.x"]
    for name in names:
        logging.getLogger(name).debug("GET %s", f"/bot{TOKEN}/getMe")
    logging.getLogger("urllib3x").debug("GET %s", f"/bot{TOKEN}/getMe")  # not a child
    assert caplog.messages[:4] == ["GET /bot123456:<redacted>/getMe"] * 4
    assert SECRET in caplog.messages[4]


def test_installed_filter_rewrites_what_handlers_see(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").debug("Retry: %s", f"/bot{TOKEN}/sendMessage")
    assert caplog.messages == ["Retry: /bot123456:<redacted>/sendMessage"]
    assert SECRET not in caplog.text
