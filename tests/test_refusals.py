"""Refused webhook requests are visible: a WARNING with the fix, then at most one a minute."""

from __future__ import annotations

import json
import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_tgwebhook.refusals import INTERVAL, RefusalLog
from flask_tgwebhook.testing import make_update
from flask_tgwebhook.views import WebhookView

from .conftest import SECRET, PostUpdate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "Refused a webhook request" in r.getMessage()]


def test_a_wrong_secret_is_a_warning_with_the_fix(
    app: Flask, post_update: PostUpdate, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flask_tgwebhook")
    assert post_update(make_update(text="hi"), secret="stale-secret").status_code == 403
    [line] = refusal_lines(caplog)
    assert line.levelno == logging.WARNING
    message = line.getMessage()
    assert "403" in message and "flask tg set-webhook" in message
    assert "X-Telegram-Bot-Api-Secret-Token" in message  # a proxy dropping the header
    assert "stale-secret" not in message and SECRET not in message


def test_each_kind_is_logged_once_then_at_most_once_a_minute(
    app: Flask, client: FlaskClient, post_update: PostUpdate, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    view = app.view_functions["tgwebhook.webhook"]
    assert isinstance(view, WebhookView)
    view.refusals.clock = clock
    caplog.set_level(logging.WARNING, logger="flask_tgwebhook")
    for _ in range(50):  # a scanner
        assert post_update(make_update(text="hi"), secret=None).status_code == 403
    # Another kind still gets its own first line.
    update = json.dumps(make_update(text="hi"))
    assert post_update(None, data=update, content_type="text/plain").status_code == 415
    lines = refusal_lines(caplog)
    assert [("403" in r.getMessage(), "415" in r.getMessage()) for r in lines] == [
        (True, False),
        (False, True),
    ]
    clock.now += INTERVAL
    assert post_update(make_update(text="hi"), secret=None).status_code == 403
    last = refusal_lines(caplog)[-1].getMessage()
    assert len(refusal_lines(caplog)) == 3
    assert "49 more like it" in last


def test_the_limiter_counts_per_kind() -> None:
    clock = Clock()
    log = RefusalLog(logging.getLogger("test_refusals"), interval=10, clock=clock)
    assert log.refused("secret", 403, "x", "127.0.0.1")
    assert not log.refused("secret", 403, "x", "127.0.0.1")
    assert log.refused("size", 413, "y", None)
    clock.now += 10
    assert log.refused("secret", 403, "x", "127.0.0.1")
