"""Links for other services: every answer of the table in docs/external.rst."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from flask import Flask, Response, abort
from flask.testing import FlaskClient
from itsdangerous import base64_decode, base64_encode
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from flask_tgwebhook import TelegramWebhook
from flask_tgwebhook.client import Bot
from flask_tgwebhook.config import derive_secret
from flask_tgwebhook.external import (
    ExpiredLink,
    ExternalCall,
    LinkClaims,
    LinkError,
    RateLimiter,
    dump_token,
    load_token,
    send_external_link,
    signing_keys,
)
from flask_tgwebhook.redact import RedactingFilter, add_link_path
from flask_tgwebhook.testing import FakeTelegram, make_update

from .conftest import TOKEN, load_example

BOT_ID = int(TOKEN.split(":")[0])
KEY = "current-secret-key-for-tests"
OLD_KEY = "previous-secret-key-for-tests"


@pytest.fixture
def calls() -> list[ExternalCall]:
    return []


@pytest.fixture
def tg(calls: list[ExternalCall]) -> TelegramWebhook:
    """The extension with a recording ``paid`` command."""
    tg = TelegramWebhook()

    @tg.external("paid")
    def paid(call: ExternalCall) -> str:
        calls.append(call)
        return f"thanks, user {call.user_id}"

    return tg


def make_app(tg: TelegramWebhook, **config: Any) -> Flask:
    app = Flask("external_under_test")
    defaults = {
        "TESTING": True,
        "SECRET_KEY": KEY,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_URL": "https://bot.example.com/telegram/webhook",
    }
    app.config.update({**defaults, **config})
    tg.init_app(app)
    return app


@pytest.fixture
def app(tg: TelegramWebhook) -> Flask:
    return make_app(tg)


def link(app: Flask, tg: TelegramWebhook, command: str = "paid", **kwargs: Any) -> str:
    """The path (what the test client requests) of a new link."""
    with app.app_context():
        return urlsplit(tg.external_url(command, **kwargs)).path


def token_of(path: str) -> str:
    return path.rsplit("/", 1)[1]


def tamper(path: str, **changes: Any) -> str:
    """The same link with payload fields changed and the original signature kept."""
    prefix, token = path.rsplit("/", 1)
    payload_b64, signature = token.rsplit(".", 1)
    assert not payload_b64.startswith(".")  # not compressed: short payloads never are
    payload = json.loads(base64_decode(payload_b64))
    payload.update(changes)
    encoded = base64_encode(json.dumps(payload, separators=(",", ":"))).decode()
    return f"{prefix}/{encoded}.{signature}"


# --- making links --------------------------------------------------------------------------


def test_link_is_absolute_https_on_the_webhook_origin(app: Flask, tg: TelegramWebhook) -> None:
    with app.app_context():
        url = tg.external_url("paid", user_id=42)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "bot.example.com")
    assert parts.path.startswith("/telegram/external/") and parts.path.count("/") == 3
    assert not parts.query


def test_configured_base_url_and_path_win(tg: TelegramWebhook) -> None:
    app = make_app(
        tg,
        TELEGRAM_EXTERNAL_BASE_URL="https://hooks.example.org/bot/",
        TELEGRAM_EXTERNAL_PATH="/in",
    )
    with app.app_context():
        url = tg.external_url("paid", user_id=1)
    assert url.startswith("https://hooks.example.org/bot/in/")
    # The route itself lives at the path; the prefix belongs to the proxy in front.
    response = app.test_client().get(urlsplit(url).path.removeprefix("/bot"))
    assert response.status_code == 200


def test_without_public_url_the_request_host_is_used(tg: TelegramWebhook) -> None:
    app = make_app(tg, TELEGRAM_WEBHOOK_URL=None)
    with app.test_request_context("/", base_url="http://bot.internal:8000"):
        assert tg.external_url("paid").startswith("https://bot.internal:8000/telegram/external/")
    with app.app_context(), pytest.raises(RuntimeError, match="TELEGRAM_EXTERNAL_BASE_URL"):
        tg.external_url("paid")


def test_missing_secret_key_says_to_set_it(tg: TelegramWebhook) -> None:
    app = make_app(tg, SECRET_KEY=None)
    with app.app_context(), pytest.raises(RuntimeError, match=r"Set app.config\['SECRET_KEY'\]"):
        tg.external_url("paid", user_id=1)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"user_id": "42"}, TypeError),
        ({"user_id": True}, TypeError),
        ({"expires_in": 0}, ValueError),
        ({"expires_in": -5}, ValueError),
        ({"order": object()}, TypeError),
    ],
)
def test_bad_link_arguments_fail_when_making_the_link(
    app: Flask, tg: TelegramWebhook, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with app.app_context(), pytest.raises(error):
        tg.external_url("paid", **kwargs)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"TELEGRAM_EXTERNAL_BASE_URL": "http://bot.example.com"}, "https origin"),
        ({"TELEGRAM_EXTERNAL_PATH": "/telegram/webhook"}, "must differ"),
        ({"TELEGRAM_EXTERNAL_PATH": "relative"}, "starting with '/'"),
        ({"TELEGRAM_EXTERNAL_MAX_BODY_SIZE": 0}, "positive whole number"),
        ({"TELEGRAM_EXTERNAL_RATE_LIMIT": "lots"}, "60/minute"),
    ],
)
def test_misconfiguration_fails_at_init(
    tg: TelegramWebhook, config: dict[str, Any], match: str
) -> None:
    with pytest.raises(RuntimeError, match=match):
        make_app(tg, **config)


# --- 200: the call reaches the handler -----------------------------------------------------


def test_get_reaches_the_handler_with_everything(
    app: Flask, tg: TelegramWebhook, client: FlaskClient, calls: list[ExternalCall]
) -> None:
    path = link(app, tg, user_id=42, order="A-17")
    response = client.get(
        path,
        query_string={"status": "ok", "order": "forged", "content": "hello"},
        headers={"X-Provider": "acme"},
        environ_base={"REMOTE_ADDR": "198.51.100.4"},
    )
    assert response.status_code == 200
    assert response.text == "thanks, user 42"
    [call] = calls
    assert (call.user_id, call.command, call.method, call.ip) == (42, "paid", "GET", "198.51.100.4")
    assert call.content == "hello"
    assert call.extra == {"order": "A-17"}
    # Query arguments are there, but a signed extra can't be overridden from the query.
    assert call.params == {"status": "ok", "order": "A-17", "content": "hello"}
    assert call.headers["X-Provider"] == "acme"
    assert call.url.startswith("http://localhost/telegram/external/") and "status=ok" in call.url
    assert call.body == b""
    with pytest.raises(AttributeError):
        call.user_id = 7  # type: ignore[misc]


def test_post_body_reaches_the_handler_byte_for_byte(
    app: Flask, tg: TelegramWebhook, client: FlaskClient, calls: list[ExternalCall]
) -> None:
    body = b'{ "event":"paid",\n  "amount": 1250, "note": "caf\xc3\xa9" }\r\n'
    response = client.post(link(app, tg, user_id=42), data=body, content_type="application/json")
    assert response.status_code == 200
    [call] = calls
    assert call.body == body
    assert call.content == {"event": "paid", "amount": 1250, "note": "café"}
    assert call.method == "POST"


def test_form_post_gives_the_form_and_the_raw_body(
    app: Flask, tg: TelegramWebhook, client: FlaskClient, calls: list[ExternalCall]
) -> None:
    body = b"status=paid&amount=12.50&tag=a&tag=b"
    response = client.post(
        link(app, tg), data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert calls[0].body == body
    assert calls[0].content == {"status": "paid", "amount": "12.50", "tag": "a"}
    assert calls[0].user_id is None  # a bot-wide hook


def test_content_form_parameter_wins_over_the_rest_of_the_form(
    app: Flask, tg: TelegramWebhook, client: FlaskClient, calls: list[ExternalCall]
) -> None:
    client.post(link(app, tg), data={"content": "the payload", "other": "x"})
    assert calls[0].content == "the payload"


def test_binary_body_is_kept_and_content_is_none(
    app: Flask, tg: TelegramWebhook, client: FlaskClient, calls: list[ExternalCall]
) -> None:
    body = bytes(range(256))
    client.post(link(app, tg), data=body, content_type="application/octet-stream")
    assert calls[0].body == body
    assert calls[0].content is None


@pytest.mark.parametrize(
    ("result", "status", "body", "mimetype"),
    [
        (None, 200, b"", None),
        ("<p>Paid, thank you!</p>", 200, b"<p>Paid, thank you!</p>", "text/html"),
        (Response("created", 201, mimetype="text/plain"), 201, b"created", "text/plain"),
        ({"ok": True}, 200, b'{"ok":true}\n', "application/json"),
    ],
)
def test_handler_result_is_the_answer(
    result: Any, status: int, body: bytes, mimetype: str | None
) -> None:
    tg = TelegramWebhook()
    tg.add_external("answer", lambda call: result)
    app = make_app(tg)
    response = app.test_client().get(link(app, tg, "answer"))
    assert response.status_code == status
    assert response.data == body
    if mimetype:
        assert response.mimetype == mimetype
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_abort_in_a_handler_answers_with_its_status() -> None:
    tg = TelegramWebhook()

    @tg.external
    def checked(call: ExternalCall) -> None:
        abort(400)

    app = make_app(tg)
    assert app.test_client().post(link(app, tg, "checked")).status_code == 400


def test_link_within_its_expiry_works(
    app: Flask, tg: TelegramWebhook, client: FlaskClient, calls: list[ExternalCall]
) -> None:
    assert client.get(link(app, tg, user_id=5, expires_in=3600)).status_code == 200
    assert calls[0].user_id == 5


# --- 403 / 410: signature, key rotation, other bots, expiry --------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"u": 43},  # user_id
        {"u": None},  # user_id removed: a bot-wide hook
        {"c": "other"},  # command
        {"x": {"order": "B-99"}},  # extras changed
        {"x": {}},  # extras removed
        {"e": 4102444800},  # expiry pushed to 2100
        {"b": 654321},  # bot id
    ],
)
def test_tampering_with_any_signed_field_is_403(
    tg: TelegramWebhook,
    client: FlaskClient,
    app: Flask,
    calls: list[ExternalCall],
    changes: dict[str, Any],
) -> None:
    tg.add_external("other", lambda call: calls.append(call))
    path = link(app, tg, user_id=42, expires_in=60, order="A-17")
    assert client.get(tamper(path)).status_code == 200  # the helper itself keeps links valid
    response = client.get(tamper(path, **changes))
    assert response.status_code == 403
    assert len(calls) == 1


@pytest.mark.parametrize(
    "token",
    [
        "x",
        "a.b",
        "eyJjIjoicGFpZCJ9.AAAA",
        "." * 10,
        "A" * 5000,
    ],
)
def test_garbage_tokens_are_403(client: FlaskClient, token: str) -> None:
    assert client.get(f"/telegram/external/{token}").status_code == 403


def test_wrong_key_is_403(
    app: Flask, tg: TelegramWebhook, client: FlaskClient, calls: list[ExternalCall]
) -> None:
    claims = LinkClaims(BOT_ID, "paid", 42)
    token = dump_token(signing_keys({"SECRET_KEY": "somebody-elses-key"}), claims)
    assert client.get(f"/telegram/external/{token}").status_code == 403
    assert calls == []


def test_link_for_another_bot_is_403_even_with_the_same_key(
    client: FlaskClient, calls: list[ExternalCall]
) -> None:
    token = dump_token(signing_keys({"SECRET_KEY": KEY}), LinkClaims(654321, "paid", 42))
    assert client.get(f"/telegram/external/{token}").status_code == 403
    assert calls == []


def test_other_itsdangerous_data_signed_with_the_key_is_403(client: FlaskClient) -> None:
    # What Flask's session cookie would hold: same key, other salt.
    from itsdangerous import URLSafeSerializer

    token = URLSafeSerializer(KEY, salt="cookie-session").dumps({"b": BOT_ID, "c": "paid"})
    assert client.get(f"/telegram/external/{token}").status_code == 403


def test_key_rotation(tg: TelegramWebhook, calls: list[ExternalCall]) -> None:
    old_app = make_app(tg, SECRET_KEY=OLD_KEY)
    old_link = link(old_app, tg, user_id=7)

    rotated_tg = TelegramWebhook()
    rotated_tg.add_external("paid", lambda call: calls.append(call))
    rotated = make_app(rotated_tg, SECRET_KEY=KEY, SECRET_KEY_FALLBACKS=["older", OLD_KEY])
    assert rotated.test_client().get(old_link).status_code == 200  # the old key still verifies
    new_link = link(rotated, rotated_tg, user_id=7)
    # New links are signed with the current key only.
    assert load_token([KEY.encode()], token_of(new_link)).user_id == 7
    with pytest.raises(LinkError):
        load_token([OLD_KEY.encode()], token_of(new_link))

    retired_tg = TelegramWebhook()
    retired_tg.add_external("paid", lambda call: calls.append(call))
    retired = make_app(retired_tg, SECRET_KEY=KEY)  # the old key removed from the fallbacks
    assert retired.test_client().get(old_link).status_code == 403
    assert retired.test_client().get(new_link).status_code == 200
    assert len(calls) == 2


def test_expired_link_is_410(client: FlaskClient, calls: list[ExternalCall]) -> None:
    past = int(time.time()) - 5
    token = dump_token([KEY.encode()], LinkClaims(BOT_ID, "paid", 42, expires_at=past))
    response = client.get(f"/telegram/external/{token}")
    assert response.status_code == 410
    assert calls == []


def test_expiry_is_checked_against_the_clock() -> None:
    keys = [KEY.encode()]
    token = dump_token(keys, LinkClaims(BOT_ID, "paid", expires_at=1_000_000))
    assert load_token(keys, token, now=999_999).expires_at == 1_000_000
    with pytest.raises(ExpiredLink):
        load_token(keys, token, now=1_000_000)


def test_a_forged_expired_link_is_403_not_410(
    app: Flask, tg: TelegramWebhook, client: FlaskClient
) -> None:
    # 410 would tell a forger the payload parsed; only a genuine link learns it expired.
    path = tamper(link(app, tg, user_id=1, expires_in=60), e=1)
    assert client.get(path).status_code == 403


# --- 404, 405, 413, 503 --------------------------------------------------------------------


def test_unregistered_command_is_404(
    app: Flask, tg: TelegramWebhook, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "flask_tgwebhook.external"):
        path = link(app, tg, "nobody-handles-this", user_id=1)
    assert "no external handler is registered" in caplog.text
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def test_other_methods_are_405(
    app: Flask, tg: TelegramWebhook, client: FlaskClient, calls: list[ExternalCall], method: str
) -> None:
    response = client.open(link(app, tg, user_id=1), method=method)
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    assert calls == []


def test_declared_body_over_the_limit_is_413_before_reading(
    tg: TelegramWebhook, calls: list[ExternalCall]
) -> None:
    app = make_app(tg, TELEGRAM_EXTERNAL_MAX_BODY_SIZE=100)
    client = app.test_client()
    path = link(app, tg, user_id=1)
    assert client.post(path, data=b"x" * 100).status_code == 200
    assert client.post(path, data=b"x" * 101).status_code == 413
    # Even a garbage token gets 413 first: nothing is verified for a body we won't read.
    assert client.post("/telegram/external/garbage", data=b"x" * 101).status_code == 413
    assert len(calls) == 1


def test_undeclared_body_over_the_limit_is_413_while_reading(
    tg: TelegramWebhook, calls: list[ExternalCall]
) -> None:
    app = make_app(tg, TELEGRAM_EXTERNAL_MAX_BODY_SIZE=100)
    response = app.test_client().post(
        link(app, tg, user_id=1),
        input_stream=io.BytesIO(b"x" * 1000),
        environ_overrides={"wsgi.input_terminated": True},  # chunked: no Content-Length
    )
    assert response.status_code == 413
    assert calls == []


def test_handler_raising_is_503_with_a_logged_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tg = TelegramWebhook()

    @tg.external("boom")
    def boom(call: ExternalCall) -> None:
        raise ValueError("database password is hunter2")

    app = make_app(tg)
    with caplog.at_level(logging.ERROR, "flask_tgwebhook.external"):
        response = app.test_client().post(link(app, tg, "boom", user_id=9))
    assert response.status_code == 503
    assert b"hunter2" not in response.data and b"Traceback" not in response.data
    [record] = [r for r in caplog.records if r.name == "flask_tgwebhook.external"]
    assert record.exc_info is not None and "'boom'" in record.getMessage()


# --- 429: flood protection -----------------------------------------------------------------


def test_rate_limit_per_client_address(tg: TelegramWebhook, calls: list[ExternalCall]) -> None:
    app = make_app(tg, TELEGRAM_EXTERNAL_RATE_LIMIT="3/minute")
    client = app.test_client()
    first, second = link(app, tg, user_id=1), link(app, tg, user_id=2)
    noisy = {"REMOTE_ADDR": "198.51.100.1"}
    answers = [client.get(p, environ_base=noisy).status_code for p in (first, second, "/x")]
    assert answers == [200, 200, 404]  # not our route: not counted
    assert client.get("/telegram/external/bad", environ_base=noisy).status_code == 403
    response = client.get(second, environ_base=noisy)
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # Another client is not affected.
    assert client.get(second, environ_base={"REMOTE_ADDR": "198.51.100.2"}).status_code == 200
    assert len(calls) == 3


def test_rate_limit_per_link(tg: TelegramWebhook, calls: list[ExternalCall]) -> None:
    app = make_app(tg, TELEGRAM_EXTERNAL_RATE_LIMIT="2/minute")
    client = app.test_client()
    path, other = link(app, tg, user_id=1), link(app, tg, user_id=2)
    answers = [
        client.get(path, environ_base={"REMOTE_ADDR": f"198.51.100.{n}"}).status_code
        for n in range(1, 4)
    ]
    assert answers == [200, 200, 429]
    assert client.get(other, environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 200


def test_rate_limit_needs_the_limits_package(
    tg: TelegramWebhook, monkeypatch: pytest.MonkeyPatch
) -> None:
    # None in sys.modules makes the import fail as if the package were not installed.
    for name in [n for n in sys.modules if n == "limits" or n.startswith("limits.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "limits", None)
    with pytest.raises(RuntimeError, match=r"pip install flask_tgwebhook\[limits\]"):
        make_app(tg, TELEGRAM_EXTERNAL_RATE_LIMIT="60/minute")
    make_app(TelegramWebhook())  # without a rate limit it is not needed


def test_unreachable_rate_limit_storage_lets_calls_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = RateLimiter("1/minute", "redis://127.0.0.1:1/0")  # nothing listens on port 1
    with caplog.at_level(logging.WARNING, "flask_tgwebhook.external"):
        assert limiter.hit("ip", "198.51.100.1") is None
    assert "letting calls through" in caplog.text


# --- client addresses ----------------------------------------------------------------------


@pytest.fixture
def guarded() -> tuple[TelegramWebhook, list[ExternalCall]]:
    tg, calls = TelegramWebhook(), []

    @tg.external("guarded", allow_ips=["203.0.113.0/24", "2001:db8::/32"])
    def handler(call: ExternalCall) -> None:
        calls.append(call)

    return tg, calls


@pytest.mark.parametrize(
    ("address", "status"),
    [
        ("203.0.113.7", 200),
        ("::ffff:203.0.113.7", 200),
        ("2001:db8::1", 200),
        ("198.51.100.7", 403),
        ("", 403),
    ],
)
def test_ip_allowlist(
    guarded: tuple[TelegramWebhook, list[ExternalCall]], address: str, status: int
) -> None:
    tg, calls = guarded
    app = make_app(tg)
    response = app.test_client().get(
        link(app, tg, "guarded"), environ_base={"REMOTE_ADDR": address}
    )
    assert response.status_code == status
    assert len(calls) == (status == 200)


@pytest.mark.parametrize(
    ("forwarded_for", "status", "ip"),
    [
        ("203.0.113.9", 200, "203.0.113.9"),
        ("198.51.100.1, 203.0.113.9", 200, "203.0.113.9"),  # only the proxy's hop is trusted
        ("203.0.113.9, 198.51.100.1", 403, None),  # the client wrote the left part
        ("not-an-address", 403, None),
        ("203.0.113.9\x00", 403, None),
        ("999.1.1.1", 403, None),
    ],
)
def test_ip_allowlist_behind_a_trusted_proxy(
    guarded: tuple[TelegramWebhook, list[ExternalCall]],
    forwarded_for: str,
    status: int,
    ip: str | None,
) -> None:
    tg, calls = guarded
    app = make_app(tg, TELEGRAM_TRUSTED_PROXIES=1)
    response = app.test_client().get(
        link(app, tg, "guarded"),
        headers={"X-Forwarded-For": forwarded_for},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},  # nginx
    )
    assert response.status_code == status
    assert [c.ip for c in calls] == ([ip] if ip else [])


def test_bad_allowlist_fails_at_registration() -> None:
    with pytest.raises(ValueError, match=r"203\.0\.113\.0/24"):
        TelegramWebhook().add_external("x", print, allow_ips=["203.0.113.300"])


# --- registration --------------------------------------------------------------------------


def test_registration_forms() -> None:
    tg = TelegramWebhook()

    @tg.external
    def bare(call: ExternalCall) -> str:
        return "bare"

    @tg.external()
    def called(call: ExternalCall) -> str:
        return "called"

    @tg.external("named", allow_ips="203.0.113.1")
    def other_name(call: ExternalCall) -> str:
        return "named"

    tg.add_external("added", lambda call: "added")
    assert sorted(tg.external_hooks.hooks) == ["added", "bare", "called", "named"]
    with pytest.raises(ValueError, match="already handled"):
        tg.add_external("bare", lambda call: None)
    with pytest.raises(ValueError, match="non-empty string"):
        tg.add_external("", lambda call: None)

    app = make_app(tg)
    client = app.test_client()
    local = {"REMOTE_ADDR": "203.0.113.1"}
    answers = {
        c: client.get(link(app, tg, c), environ_base=local).text for c in tg.external_hooks.hooks
    }
    assert answers == {"bare": "bare", "called": "called", "named": "named", "added": "added"}
    with pytest.raises(RuntimeError, match="before the app starts serving"):
        tg.add_external("late", lambda call: None)


# --- the token never reaches a log line ----------------------------------------------------


def test_token_is_absent_from_our_logs(
    tg: TelegramWebhook, calls: list[ExternalCall], caplog: pytest.LogCaptureFixture
) -> None:
    tg.add_external("fails", lambda call: 1 / 0)
    app = make_app(tg, TELEGRAM_EXTERNAL_RATE_LIMIT="2/minute", TELEGRAM_EXTERNAL_MAX_BODY_SIZE=10)
    client = app.test_client()
    caplog.set_level(logging.DEBUG)
    paths = [
        link(app, tg, user_id=1),
        link(app, tg, "fails", user_id=1),
        link(app, tg, "unknown", user_id=1),
        tamper(link(app, tg, user_id=1), u=2),
        "/telegram/external/" + dump_token([KEY.encode()], LinkClaims(BOT_ID, "paid", 1, {}, 1)),
    ]
    for path in paths:
        for n in range(3):  # 200/503/404/403/410, then 429 per link
            client.post(path, data=b"x" * (5 + n * 10), environ_base={"REMOTE_ADDR": f"10.0.{n}.1"})
    app.config["SECRET_KEY"] = None  # a misconfiguration is logged without the path either
    assert client.get(paths[0], environ_base={"REMOTE_ADDR": "10.1.0.1"}).status_code == 503
    assert "SECRET_KEY" in caplog.text
    assert caplog.records  # the refusals and the failure were logged...
    for path in paths:
        assert token_of(path) not in caplog.text  # ...without the token
        assert token_of(path)[:20] not in caplog.text


@pytest.fixture
def served_app(app: Flask) -> Iterator[str]:
    """``app`` on a real loopback server; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_development_server_request_lines_are_redacted(
    app: Flask, tg: TelegramWebhook, served_app: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = link(app, tg, user_id=1)
    with caplog.at_level(logging.INFO, "werkzeug"):
        response = requests.get(f"{served_app}{path}?a=1", timeout=5)
    assert response.status_code == 200
    request_lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("/telegram/external/<redacted>" in line for line in request_lines)
    assert token_of(path) not in caplog.text


def test_redacting_filter_leaves_other_lines_alone() -> None:
    log_filter = RedactingFilter()
    add_link_path("/hooks/")
    record = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, "%s %s", ("GET", "/x/abc"), None
    )
    assert log_filter.filter(record) and record.getMessage() == "GET /x/abc"
    record.args = ("GET", "/hooks/eyJiIjoxfQ.sig-_x HTTP/1.1")
    assert log_filter.filter(record)
    assert record.getMessage() == "GET /hooks/<redacted> HTTP/1.1"


def test_real_http_post_reaches_the_handler_byte_for_byte(
    app: Flask, tg: TelegramWebhook, served_app: str, calls: list[ExternalCall]
) -> None:
    body = b"event=paid&sig=" + bytes(range(128, 160))
    response = requests.post(
        served_app + link(app, tg, user_id=3),
        data=iter([body[:7], body[7:]]),  # a generator is sent chunked, without a length
        headers={"Content-Type": "application/octet-stream"},
        timeout=5,
    )
    assert response.status_code == 200
    assert calls[0].body == body


# --- sending links, and the payment example ------------------------------------------------


def test_send_external_link_turns_previews_off(bot: Bot, telegram: FakeTelegram) -> None:
    url = "https://bot.example.com/telegram/external/abc.def"
    message = send_external_link(bot, 42, "Your link:", url, disable_notification=True)
    assert message["text"] == f"Your link:\n{url}"
    [call] = telegram.calls_to("sendMessage")
    assert call.params == {
        "chat_id": 42,
        "text": f"Your link:\n{url}",
        "disable_notification": True,
        "link_preview_options": {"is_disabled": True},
    }


def test_send_external_link_as_a_button(bot: Bot, telegram: FakeTelegram) -> None:
    url = "https://bot.example.com/telegram/external/abc.def"
    send_external_link(bot, 42, "*Pay* here", url, button="Pay", parse_mode="MarkdownV2")
    [call] = telegram.calls_to("sendMessage")
    assert call.params["text"] == "*Pay* here"  # untouched, so any parse mode works
    assert call.params["reply_markup"] == {"inline_keyboard": [[{"text": "Pay", "url": url}]]}
    assert call.params["link_preview_options"] == {"is_disabled": True}
    with pytest.raises(ValueError, match="not both"):
        send_external_link(bot, 42, "x", url, button="Pay", reply_markup={"inline_keyboard": []})


EXAMPLE = Path(__file__).parent.parent / "examples" / "payment_callback.py"
PROVIDER_SECRET = "provider-signing-secret"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return load_example(EXAMPLE, "payment_callback_example")


def provider_post(client: FlaskClient, path: str, event: dict[str, Any]) -> TestResponse:
    """What the payment provider sends: JSON signed with its own secret."""
    body = json.dumps(event).encode()
    signature = hmac.new(PROVIDER_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        path,
        data=body,
        content_type="application/json",
        headers={"X-Payment-Signature": signature},
    )


def test_payment_example_messages_the_user_who_paid(
    example: ModuleType, telegram: FakeTelegram
) -> None:
    app: Flask = example.create_app(
        {
            "TESTING": True,
            "SECRET_KEY": KEY,
            "PAYMENTS_WEBHOOK_SECRET": PROVIDER_SECRET,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": telegram.api_url,
            "TELEGRAM_WEBHOOK_URL": "https://bot.example.com/telegram/webhook",
        }
    )
    client = app.test_client()
    update = make_update(text="/pay", user_id=4242, chat_id=4242)
    headers = {"X-Telegram-Bot-Api-Secret-Token": derive_secret(TOKEN)}
    assert client.post("/telegram/webhook", json=update, headers=headers).status_code == 200

    [offer] = telegram.calls_to("sendMessage")
    assert offer.params["chat_id"] == 4242
    assert offer.params["link_preview_options"] == {"is_disabled": True}
    checkout = offer.params["reply_markup"]["inline_keyboard"][0][0]["url"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(checkout).query).items()}
    notify = urlsplit(query["notify_url"])
    assert (notify.scheme, notify.netloc) == ("https", "bot.example.com")
    event = {"id": "evt_1", "order": query["order"], "status": "paid"}

    # A forged event, or a genuine one for another order, is refused and messages nobody.
    forged = client.post(notify.path, json=event, headers={"X-Payment-Signature": "0" * 64})
    assert forged.status_code == 400
    assert provider_post(client, notify.path, {**event, "order": "other"}).status_code == 400

    # Telegram fails once: 503, so the provider delivers again, and then it works.
    telegram.fail("sendMessage", error_code=500)
    assert provider_post(client, notify.path, event).status_code == 503
    response = provider_post(client, notify.path, event)
    assert (response.status_code, response.text) == (200, "ok")
    assert provider_post(client, notify.path, event).text == "already processed"

    sent = telegram.calls_to("sendMessage")[1:]
    assert [c.params["chat_id"] for c in sent] == [4242, 4242]  # the failed try and the retry
    assert sent[-1].params["text"].startswith("Payment received")


def test_links_live_in_the_one_per_app_state(app: Flask, tg: TelegramWebhook) -> None:
    from flask_tgwebhook.state import get_state

    assert [key for key in app.extensions if "tgwebhook" in key] == ["tgwebhook"]
    links = get_state(app).links
    assert links is not None and links.registry is tg.external_hooks
    assert links.settings is get_state(app).settings  # TELEGRAM_EXTERNAL_* read with the rest
    assert links.settings.external_path == "/telegram/external"
