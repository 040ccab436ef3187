"""The emulator as a Bot API server: calls, answers, injected faults."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, Request, request
from werkzeug.serving import make_server

from flask_tgwebhook import TelegramWebhook, Update, reply
from flask_tgwebhook.certs import generate_self_signed_cert
from flask_tgwebhook.testing import (
    DEFAULT_TOKEN,
    Attempt,
    Call,
    FakeTelegram,
    make_update,
)
from flask_tgwebhook.testing._emulator.timing import Timing

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(allow_loopback=True, allow_http=True) as telegram:
        yield telegram


def api(telegram: FakeTelegram, method: str) -> str:
    return f"{telegram.api_url}/bot{telegram.token}/{method}"


def test_serves_on_loopback_free_port(telegram: FakeTelegram) -> None:
    assert telegram.api_url == f"http://127.0.0.1:{telegram.port}"
    assert telegram.port > 0
    assert telegram.token == DEFAULT_TOKEN


def test_get_me_answers_the_bot_of_the_token() -> None:
    with FakeTelegram(token="987:abc_DEF-1") as telegram:
        body = requests.get(api(telegram, "getMe"), timeout=5).json()
    assert body["ok"] is True
    assert body["result"]["id"] == 987
    assert body["result"]["is_bot"] is True
    assert body["result"]["username"] == "fake_test_bot"


def test_send_message_answers_a_message_and_is_recorded(telegram: FakeTelegram) -> None:
    first = requests.post(
        api(telegram, "sendMessage"), json={"chat_id": 42, "text": "hi"}, timeout=5
    ).json()["result"]
    second = requests.post(
        api(telegram, "sendMessage"), json={"chat_id": -1001, "text": "yo"}, timeout=5
    ).json()["result"]
    assert first["text"] == "hi"
    assert first["chat"] == {
        "id": 42,
        "first_name": "Test",
        "username": "user42",
        "type": "private",
    }
    assert first["from"]["is_bot"] is True
    assert second["message_id"] == first["message_id"] + 1
    assert second["chat"]["type"] == "group"
    assert telegram.calls == [
        Call("sendMessage", {"chat_id": 42, "text": "hi"}),
        Call("sendMessage", {"chat_id": -1001, "text": "yo"}),
    ]


def test_params_from_query_form_and_multipart(telegram: FakeTelegram) -> None:
    requests.get(api(telegram, "getChat"), params={"chat_id": "7"}, timeout=5)
    requests.post(api(telegram, "sendMessage"), data={"chat_id": "7", "text": "x"}, timeout=5)
    answer = requests.post(
        api(telegram, "sendDocument"),
        data={"chat_id": "7", "caption": "report"},
        files={"document": ("r.txt", b"file body")},
        timeout=5,
    ).json()
    assert answer["result"]["caption"] == "report"
    assert "file_id" in answer["result"]["document"]
    get_chat, send, document = telegram.calls
    assert get_chat.params == {"chat_id": "7"}
    assert send.params == {"chat_id": "7", "text": "x"}
    assert document.params == {"chat_id": "7", "caption": "report"}
    assert document.files == {"document": b"file body"}


def test_method_names_ignore_case_like_telegram(telegram: FakeTelegram) -> None:
    body = requests.post(
        api(telegram, "SENDMESSAGE"), json={"chat_id": 1, "text": "a"}, timeout=5
    ).json()
    assert body["result"]["text"] == "a"
    assert [c.method for c in telegram.calls_to("sendMessage")] == ["SENDMESSAGE"]


def test_other_methods_answer_true_and_are_recorded(telegram: FakeTelegram) -> None:
    body = requests.post(
        api(telegram, "answerCallbackQuery"), json={"callback_query_id": "1"}, timeout=5
    ).json()
    assert body == {"ok": True, "result": True}
    assert telegram.calls_to("answerCallbackQuery")[0].params == {"callback_query_id": "1"}


@pytest.mark.parametrize(
    ("method", "params", "description"),
    [
        ("sendMessage", {"text": "hi"}, "Bad Request: chat_id is empty"),
        ("sendPhoto", {"chat_id": "", "photo": "x"}, "Bad Request: chat_id is empty"),
        ("getChat", {}, "Bad Request: chat_id is empty"),
        ("sendMessage", {"chat_id": 1}, "Bad Request: message text is empty"),
        ("sendMessage", {"chat_id": 1, "text": "  "}, "Bad Request: message text is empty"),
        ("sendMessage", {"chat_id": 1, "text": "x" * 4097}, "Bad Request: message is too long"),
        (
            "sendPhoto",
            {"chat_id": 1, "photo": "x", "caption": "x" * 1025},
            "Bad Request: message caption is too long",
        ),
    ],
)
def test_common_mistakes_are_refused_like_telegram(
    telegram: FakeTelegram, method: str, params: dict[str, Any], description: str
) -> None:
    response = requests.post(api(telegram, method), json=params, timeout=5)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error_code": 400, "description": description}
    assert telegram.calls_to(method)[0].params == params


def test_longest_text_is_accepted(telegram: FakeTelegram) -> None:
    params = {"chat_id": 1, "text": "x" * 4096}
    assert requests.post(api(telegram, "sendMessage"), json=params, timeout=5).status_code == 200


def test_wrong_token_is_unauthorized_and_nothing_recorded(telegram: FakeTelegram) -> None:
    response = requests.get(f"{telegram.api_url}/bot123456:wrong/getMe", timeout=5)
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert telegram.calls == []


def test_unknown_path_is_not_found(telegram: FakeTelegram) -> None:
    response = requests.get(f"{telegram.api_url}/getMe", timeout=5)
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


def test_bad_json_body_is_bad_request(telegram: FakeTelegram) -> None:
    response = requests.post(
        api(telegram, "sendMessage"),
        data=b"{nope",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: can't parse JSON object"


def test_fail_answers_the_error_given_times(telegram: FakeTelegram) -> None:
    telegram.fail("sendMessage", error_code=429, parameters={"retry_after": 3}, times=2)
    answers = [
        requests.post(api(telegram, "sendMessage"), json={"chat_id": 1, "text": "a"}, timeout=5)
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert len(telegram.calls_to("sendMessage")) == 3


def test_fail_with_own_description_until_cleared(telegram: FakeTelegram) -> None:
    telegram.fail("getMe", error_code=403, description="Forbidden: bot was kicked", times=None)
    for _ in range(3):
        assert requests.get(api(telegram, "getMe"), timeout=5).json()["description"] == (
            "Forbidden: bot was kicked"
        )
    telegram.clear()
    assert telegram.calls == []
    assert requests.get(api(telegram, "getMe"), timeout=5).status_code == 200


def test_delay_answers_late(telegram: FakeTelegram) -> None:
    telegram.delay("getMe", 30)
    with pytest.raises(requests.ReadTimeout):
        requests.get(api(telegram, "getMe"), timeout=(5, 0.2))
    # Only the one call was delayed; stop() later cuts the sleeping answer short.
    assert requests.get(api(telegram, "getMe"), timeout=5).status_code == 200


def test_disconnect_records_then_hangs_up(telegram: FakeTelegram) -> None:
    telegram.disconnect("sendMessage")
    with pytest.raises(requests.ConnectionError):
        requests.post(api(telegram, "sendMessage"), json={"chat_id": 1, "text": "a"}, timeout=5)
    assert telegram.calls_to("sendMessage")[0].params == {"chat_id": 1, "text": "a"}
    ok = requests.post(api(telegram, "sendMessage"), json={"chat_id": 1, "text": "b"}, timeout=5)
    assert ok.status_code == 200


def test_get_updates_conflicts_while_webhook_set(telegram: FakeTelegram) -> None:
    assert requests.get(api(telegram, "getUpdates"), timeout=5).json() == {"ok": True, "result": []}
    requests.post(api(telegram, "setWebhook"), json={"url": "https://example.com/hook"}, timeout=5)
    response = requests.get(api(telegram, "getUpdates"), timeout=5)
    assert response.status_code == 409
    assert response.json() == {
        "ok": False,
        "error_code": 409,
        "description": "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first",
    }


def test_wait_for_calls_times_out_with_a_clear_message(telegram: FakeTelegram) -> None:
    with pytest.raises(TimeoutError, match="sendMessage was called 0 time"):
        telegram.wait_for_calls("sendMessage", timeout=0.05)


def test_stop_and_restart() -> None:
    telegram = FakeTelegram(allow_loopback=True, allow_http=True).start()
    first = telegram.api_url
    telegram.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = telegram.api_url
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{first}/bot{telegram.token}/getMe", timeout=5)
    with telegram:
        assert requests.get(api(telegram, "getMe"), timeout=5).status_code == 200


def test_bad_token_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="must look like a Bot API token"):
        FakeTelegram(token="nope")


# -- setWebhook, as the real Bot API server validates it --------------------------------------


def set_webhook(telegram: FakeTelegram, **params: Any) -> requests.Response:
    files = params.pop("files", None)
    if files:
        return requests.post(api(telegram, "setWebhook"), data=params, files=files, timeout=5)
    return requests.post(api(telegram, "setWebhook"), json=params, timeout=5)


@pytest.fixture
def strict() -> Iterator[FakeTelegram]:
    """An emulator with api.telegram.org's rules: https, four ports, no reserved address."""
    with FakeTelegram(allow_loopback=False, allow_http=False, set_webhook_interval=0) as telegram:
        yield telegram


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"url": "ftp://example.com/hook"}, "Bad Request: invalid webhook URL specified"),
        ({"url": "https://exa mple.com/hook"}, "Bad Request: invalid webhook URL specified"),
        ({"url": "https://example.com:99999/"}, "Bad Request: invalid webhook URL specified"),
        (
            {"url": "https://example.com/hook", "secret_token": "a" * 257},
            "Bad Request: secret token is too long",
        ),
        (
            {"url": "https://example.com/hook", "secret_token": "not secret!"},
            "Bad Request: secret token contains unallowed characters",
        ),
        (
            {"url": "http://example.com/hook"},
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
        ),
        (
            {"url": "https://example.com:8080/hook"},
            "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        ),
        (
            {"url": "https://127.0.0.1/hook"},
            "Bad Request: bad webhook: IP address 127.0.0.1 is reserved",
        ),
        (
            {"url": "https://localhost:8443/hook"},
            "Bad Request: bad webhook: IP address 127.0.0.1 is reserved",
        ),
        (
            {"url": "https://192.168.1.20:88/hook"},
            "Bad Request: bad webhook: IP address 192.168.1.20 is reserved",
        ),
        (
            {"url": "https://[::1]/hook"},
            "Bad Request: bad webhook: IPv6-only addresses are not allowed",
        ),
        (
            {"url": "https://example.com/hook", "ip_address": "not-an-ip"},
            "Bad Request: bad webhook: Invalid IP address specified",
        ),
    ],
)
def test_set_webhook_refusals_word_for_word(
    strict: FakeTelegram, params: dict[str, Any], description: str
) -> None:
    response = set_webhook(strict, **params)
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error_code": 400, "description": description}
    assert strict.webhook_info()["url"] == ""


def test_certificate_must_be_a_certificate_of_at_most_3_mb(strict: FakeTelegram) -> None:
    url = "https://example.com/hook"
    garbage = set_webhook(strict, url=url, files={"certificate": ("c.pem", b"not a cert")})
    assert garbage.json()["description"] == (
        "Bad Request: bad webhook: Failed to set custom certificate file"
        "{error:05800088:x509 certificate routines::no certificate or crl found}"
    )
    huge = set_webhook(strict, url=url, files={"certificate": ("c.pem", b"x" * (3 << 20 | 1))})
    assert huge.json()["description"] == (
        f"Bad Request: certificate size is too big ({3 << 20 | 1} bytes)"
    )


def test_public_https_url_is_accepted_by_the_strict_rules(strict: FakeTelegram) -> None:
    response = set_webhook(strict, url="https://example.com:8443/hook", secret_token="s-3_cr3T")
    assert response.json() == {"ok": True, "result": True, "description": "Webhook was set"}
    again = set_webhook(strict, url="https://example.com:8443/hook", secret_token="s-3_cr3T")
    assert again.json()["description"] == "Webhook is already set"
    assert strict.webhook_info() == {
        "url": "https://example.com:8443/hook",
        "has_custom_certificate": False,
        "pending_update_count": 0,
        "max_connections": 40,
        "ip_address": "<unknown>",  # Telegram shows what it resolved; the emulator is offline
    }


def test_a_changed_webhook_is_set_again(strict: FakeTelegram) -> None:
    url = "https://example.com/hook"
    assert set_webhook(strict, url=url).json()["description"] == "Webhook was set"
    changes: list[dict[str, Any]] = [
        {"secret_token": "other"},
        {"secret_token": "other", "max_connections": 5},
        {"secret_token": "other", "max_connections": 5, "ip_address": "203.0.114.1"},
        {"secret_token": "other", "max_connections": 5, "drop_pending_updates": True},
    ]
    for change in changes:
        assert set_webhook(strict, url=url, **change).json()["description"] == "Webhook was set"
    same = {"secret_token": "other", "max_connections": 5}
    assert set_webhook(strict, url=url, **same).json()["description"] == "Webhook is already set"


@pytest.mark.parametrize(("given", "kept"), [(0, 1), (-5, 1), (1000, 100), ("7", 7), ("x", 1)])
def test_max_connections_is_clamped_not_refused(
    strict: FakeTelegram, given: object, kept: int
) -> None:
    response = set_webhook(strict, url="https://example.com/hook", max_connections=given)
    assert response.json()["ok"] is True
    assert strict.webhook_info()["max_connections"] == kept


def test_set_webhook_twice_within_a_second_is_flood_limited() -> None:
    with FakeTelegram() as telegram:
        assert set_webhook(telegram, url="https://example.com/a").status_code == 200
        second = set_webhook(telegram, url="https://example.com/b")
    assert second.status_code == 429
    assert second.json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    }


def test_delete_webhook_words_and_state(strict: FakeTelegram) -> None:
    delete = api(strict, "deleteWebhook")
    assert requests.post(delete, timeout=5).json()["description"] == "Webhook is already deleted"
    set_webhook(strict, url="https://example.com/hook")
    assert requests.post(delete, timeout=5).json() == {
        "ok": True,
        "result": True,
        "description": "Webhook was deleted",
    }
    assert strict.webhook_info() == {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": 0,
    }


def test_allowed_updates_shown_when_not_the_default_and_kept(strict: FakeTelegram) -> None:
    set_webhook(strict, url="https://example.com/h", allowed_updates=["Message", "chat_member"])
    assert strict.webhook_info()["allowed_updates"] == ["message", "chat_member"]
    # Omitted on a later call, the previous choice stays, as on Telegram.
    set_webhook(strict, url="https://example.com/other")
    assert strict.webhook_info()["allowed_updates"] == ["message", "chat_member"]
    set_webhook(strict, url="https://example.com/other", allowed_updates="[]")
    assert "allowed_updates" not in strict.webhook_info()


def test_updates_wait_for_get_updates_without_a_webhook(telegram: FakeTelegram) -> None:
    first = telegram.deliver(make_update(text="one"))
    second = telegram.deliver(make_update(text="two"))
    assert telegram.webhook_info()["pending_update_count"] == 2
    got = requests.get(api(telegram, "getUpdates"), timeout=5).json()["result"]
    assert [u["message"]["text"] for u in got] == ["one", "two"]
    # An offset past the first confirms it.
    got = requests.get(
        api(telegram, "getUpdates"), params={"offset": first.update_id + 1}, timeout=5
    ).json()["result"]
    assert [u["update_id"] for u in got] == [second.update_id]
    assert first.state == "fetched"
    assert second.state == "pending"
    with pytest.raises(RuntimeError, match="No webhook is set"):
        telegram.deliver(make_update(), wait=True)


def test_drop_pending_updates_forgets_waiting_updates(telegram: FakeTelegram) -> None:
    waiting = telegram.deliver(make_update())
    requests.post(api(telegram, "deleteWebhook"), json={"drop_pending_updates": True}, timeout=5)
    assert waiting.state == "dropped"
    assert telegram.webhook_info()["pending_update_count"] == 0


def test_deliver_refuses_what_is_not_an_update(telegram: FakeTelegram) -> None:
    with pytest.raises(ValueError, match="make_update"):
        telegram.deliver({"message": {}})


# -- delivery to real servers on loopback ------------------------------------------------------

Answer = Callable[[Request], Any]


@dataclass
class Hook:
    """A small Flask app on a real loopback server that records every POST it gets."""

    url: str
    seen: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)


@contextmanager
def serve(app: Flask, ssl_context: ssl.SSLContext | None = None) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=ssl_context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def hook_app(answer: Answer, ssl_context: ssl.SSLContext | None = None) -> Iterator[Hook]:
    app = Flask("hook_under_test")
    hook = Hook(url="")

    @app.post("/hook")
    def receive() -> Any:
        hook.seen.append((request.headers.get(SECRET_HEADER), request.get_json()))
        return answer(request)

    with serve(app, ssl_context) as base:
        hook.url = f"{base}/hook"
        yield hook


def tls_server(tmp_path: Path, host: str) -> tuple[ssl.SSLContext, bytes]:
    """A server context for a self-signed certificate made for ``host``, and that certificate."""
    cert = generate_self_signed_cert(host)
    cert.write(tmp_path / "cert.pem", tmp_path / "key.pem")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    return context, cert.cert_pem


@pytest.fixture
def fast() -> Iterator[FakeTelegram]:
    """An emulator that retries quickly and gives up after three attempts."""
    with FakeTelegram(
        max_attempts=3, time_scale=0.01, allow_loopback=True, allow_http=True
    ) as telegram:
        yield telegram


def ok(_: Request) -> str:
    return ""


def test_delivers_json_with_the_secret_header(fast: FakeTelegram) -> None:
    update = make_update(text="/start")
    with hook_app(ok) as hook:
        set_webhook(fast, url=hook.url, secret_token="s3cret")
        delivery = fast.deliver(update, wait=True)
    assert delivery.ok
    assert [a.status for a in delivery.attempts] == [200]
    assert hook.seen == [("s3cret", update)]
    assert fast.webhook_info()["pending_update_count"] == 0


def test_no_secret_header_without_a_secret(fast: FakeTelegram) -> None:
    with hook_app(ok) as hook:
        set_webhook(fast, url=hook.url)
        fast.deliver(make_update(), wait=True)
    assert hook.seen[0][0] is None


def test_retries_after_a_500_and_records_the_error(fast: FakeTelegram) -> None:
    answers = iter([("boom", 500), ("", 200)])
    with hook_app(lambda _: next(answers)) as hook:
        set_webhook(fast, url=hook.url)
        delivery = fast.deliver(make_update(), wait=True)
    assert delivery.ok
    assert [a.status for a in delivery.attempts] == [500, 200]
    # WebhookActor::handle repeats the server's own reason phrase (werkzeug writes it upper-case).
    assert delivery.attempts[0].error == (
        "Wrong response from the webhook: 500 INTERNAL SERVER ERROR"
    )
    assert len(hook.seen) == 2
    info = fast.webhook_info()
    assert info["last_error_message"] == delivery.attempts[0].error
    assert abs(info["last_error_date"] - time.time()) < 60


def test_retry_after_header_is_read(fast: FakeTelegram) -> None:
    answers = iter([("", 503, {"Retry-After": "7"}), ("", 200)])
    with hook_app(lambda _: next(answers)) as hook:
        set_webhook(fast, url=hook.url)
        delivery = fast.deliver(make_update(), wait=True)
    assert [(a.status, a.retry_after) for a in delivery.attempts] == [(503, 7), (200, None)]


def test_gives_up_after_max_attempts(fast: FakeTelegram) -> None:
    with hook_app(lambda _: ("", 502)) as hook:
        set_webhook(fast, url=hook.url)
        delivery = fast.deliver(make_update(), wait=True)
    assert delivery.state == "dropped"
    assert len(hook.seen) == 3
    assert fast.webhook_info()["pending_update_count"] == 0


def test_redirect_is_a_wrong_response(fast: FakeTelegram) -> None:
    with hook_app(lambda _: ("", 302, {"Location": "/elsewhere"})) as hook:
        set_webhook(fast, url=hook.url)
        fast.deliver(make_update(), wait=True)
    assert fast.webhook_info()["last_error_message"] == "Wrong response from the webhook: 302 FOUND"


def test_connection_refused_is_recorded(fast: FakeTelegram) -> None:
    with socket.socket() as placeholder:  # a port that was free a moment ago
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    set_webhook(fast, url=f"http://127.0.0.1:{port}/hook")
    delivery = fast.deliver(make_update(), wait=True)
    assert delivery.state == "dropped"
    assert [a.error for a in delivery.attempts] == ["Connection refused"] * 3
    assert fast.webhook_info()["last_error_message"] == "Connection refused"


def read_request(connection: socket.socket) -> bytes:
    """Read one HTTP request with a Content-Length body from a raw socket."""
    data = b""
    for _ in range(100):
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            if len(body) >= length:
                break
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_webhook_closing_without_an_answer_is_retried_but_not_reported(
    fast: FakeTelegram,
) -> None:
    """WebhookActor::handle: a hang-up fails the update ("Webhook connection closed") without
    calling on_webhook_error, so getWebhookInfo shows no error for it."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)

        def hang_up_three_times() -> None:
            for _ in range(3):
                connection, _ = listener.accept()
                with connection:
                    read_request(connection)  # all of it, so closing sends FIN, not RST

        thread = threading.Thread(target=hang_up_three_times)
        thread.start()
        set_webhook(fast, url=f"http://127.0.0.1:{listener.getsockname()[1]}/hook")
        delivery = fast.deliver(make_update(), wait=True)
        thread.join(timeout=5)
    assert delivery.state == "dropped"
    assert delivery.attempts == [Attempt(None, "Webhook connection closed")] * 3
    assert "last_error_message" not in fast.webhook_info()


def _has_the_fin(local: tuple[str, int]) -> bool:
    """Whether the IPv4 socket bound to ``local`` got its peer's FIN (state CLOSE_WAIT)."""
    address = socket.inet_aton(local[0])[::-1].hex().upper()  # /proc/net/tcp: little-endian
    wanted = f"{address}:{local[1]:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == wanted and fields[3] == "08":  # 08 = TCP_CLOSE_WAIT
            return True
    return False


def test_a_kept_connection_the_webhook_closed_is_not_reused(fast: FakeTelegram) -> None:
    """td sees the webhook's FIN on an idle keep-alive connection and drops it: the next update
    goes on a new connection, not into the closed one (which cost an attempt, and was shown as
    "Connection reset by peer" when the webhook's RST won the race)."""
    peers: list[tuple[str, int]] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)

        def answer_and_close() -> None:
            connection, peer = listener.accept()
            peers.append(peer)
            with connection:
                read_request(connection)
                # No "Connection: close": kept alive, which a server may still end when it likes.
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

        set_webhook(fast, url=f"http://127.0.0.1:{listener.getsockname()[1]}/hook")
        first = threading.Thread(target=answer_and_close)
        first.start()
        delivered = fast.deliver(make_update(), wait=True)
        first.join(timeout=5)
        # The race made certain: the emulator's end holds the FIN before the next update.
        deadline = time.monotonic() + 5
        while not _has_the_fin(peers[0]) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _has_the_fin(peers[0])
        second = threading.Thread(target=answer_and_close)
        second.start()
        next_one = fast.deliver(make_update(), wait=True)
        second.join(timeout=5)
    assert delivered.attempts == [Attempt(200, None)]
    assert next_one.attempts == [Attempt(200, None)]
    assert len(peers) == 2


def test_slow_webhook_is_a_read_timeout() -> None:
    release = threading.Event()

    def slow(_: Request) -> str:
        release.wait(5)
        return ""

    with (
        FakeTelegram(
            max_attempts=1, webhook_timeout=0.2, allow_loopback=True, allow_http=True
        ) as telegram,
        hook_app(slow) as hook,
    ):
        set_webhook(telegram, url=hook.url)
        delivery = telegram.deliver(make_update(), wait=True)
        release.set()
    assert delivery.attempts == [Attempt(None, "Read timeout expired")]


def test_wrong_secret_seen_as_delivery_error_by_the_extension(fast: FakeTelegram) -> None:
    app = Flask("bot_with_extension")
    app.config.update(
        TELEGRAM_BOT_TOKEN=fast.token,
        TELEGRAM_API_URL=fast.api_url,
        TELEGRAM_WEBHOOK_SECRET="the-right-secret",
    )
    tg = TelegramWebhook(app)
    ran: list[int] = []

    @tg.message()
    def any_message(update: Update) -> None:
        ran.append(update.update_id)

    with serve(app) as base:
        set_webhook(fast, url=f"{base}/telegram/webhook", secret_token="a-wrong-secret")
        delivery = fast.deliver(make_update(text="hi"), wait=True)
    assert delivery.state == "dropped"
    assert ran == []
    info = fast.webhook_info()
    assert info["last_error_message"] == "Wrong response from the webhook: 403 FORBIDDEN"
    assert info["pending_update_count"] == 0


def test_webhook_reply_runs_as_a_call_and_is_recorded(fast: FakeTelegram) -> None:
    app = Flask("bot_with_reply")
    app.config.update(TELEGRAM_BOT_TOKEN=fast.token, TELEGRAM_API_URL=fast.api_url)
    tg = TelegramWebhook(app)

    @tg.message(commands=["start"])
    def start(update: Update) -> Any:
        return reply("sendMessage", chat_id=update.chat_id, text="Welcome!")

    with serve(app) as base:
        secret = app.extensions["tgwebhook"].settings.webhook_secret
        set_webhook(fast, url=f"{base}/telegram/webhook", secret_token=secret)
        delivery = fast.deliver(make_update(text="/start", chat_id=77), wait=True)
    assert delivery.ok
    (call,) = fast.calls_to("sendMessage")
    assert call == Call("sendMessage", {"chat_id": 77, "text": "Welcome!"}, source="webhook_reply")
    assert delivery.reply == call
    assert delivery.reply_result is not None
    assert delivery.reply_result["result"]["text"] == "Welcome!"
    assert delivery.reply_result["result"]["chat"]["id"] == 77


@pytest.mark.parametrize("method", ["getMe", "setWebhook", "deleteWebhook", "logOut", "close"])
def test_replies_telegram_ignores_are_not_run(fast: FakeTelegram, method: str) -> None:
    with hook_app(lambda _: {"method": method, "url": ""}) as hook:
        set_webhook(fast, url=hook.url)
        delivery = fast.deliver(make_update(), wait=True)
    assert delivery.ok
    assert delivery.reply is None
    assert [c for c in fast.calls if c.source == "webhook_reply"] == []
    assert fast.webhook_info()["url"] == hook.url


def test_a_faulty_reply_is_recorded_with_telegrams_answer(fast: FakeTelegram) -> None:
    with hook_app(lambda _: {"method": "sendMessage", "chat_id": 5}) as hook:
        set_webhook(fast, url=hook.url)
        delivery = fast.deliver(make_update(), wait=True)
    assert delivery.ok  # Telegram does not tell the webhook that its reply failed
    assert delivery.reply == Call("sendMessage", {"chat_id": 5}, source="webhook_reply")
    assert delivery.reply_result == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: message text is empty",
    }


def test_form_encoded_reply_is_run(fast: FakeTelegram) -> None:
    form = ("method=sendMessage&chat_id=5&text=hi", 200, {"Content-Type": FORM})
    with hook_app(lambda _: form) as hook:
        set_webhook(fast, url=hook.url)
        fast.deliver(make_update(), wait=True)
    assert fast.calls_to("sendMessage")[0].params == {"chat_id": "5", "text": "hi"}


def test_only_allowed_update_types_are_sent(fast: FakeTelegram) -> None:
    with hook_app(ok) as hook:
        set_webhook(fast, url=hook.url, allowed_updates=["callback_query"])
        skipped = fast.deliver(make_update("message", text="x"), wait=True)
        sent = fast.deliver(make_update("callback_query", data="y"), wait=True)
    assert skipped.state == "filtered"
    assert sent.ok
    assert [body for _, body in hook.seen] == [sent.update]


def test_default_allowed_updates_leave_out_chat_member_and_reactions(fast: FakeTelegram) -> None:
    with hook_app(ok) as hook:
        set_webhook(fast, url=hook.url)
        states = [
            fast.deliver(make_update(kind), wait=True).state
            for kind in ("chat_member", "message_reaction", "message_reaction_count", "poll")
        ]
    assert states == ["filtered", "filtered", "filtered", "delivered"]
    assert len(hook.seen) == 1


# -- https and the uploaded certificate --------------------------------------------------------


def test_https_delivery_trusts_the_uploaded_certificate(fast: FakeTelegram, tmp_path: Path) -> None:
    context, cert_pem = tls_server(tmp_path, "127.0.0.1")
    with hook_app(ok, context) as hook:
        answer = set_webhook(fast, url=hook.url, files={"certificate": ("cert.pem", cert_pem)})
        assert answer.json()["ok"] is True
        delivery = fast.deliver(make_update(), wait=True)
    assert delivery.ok
    assert fast.webhook_info()["has_custom_certificate"] is True


def test_certificate_for_another_host_is_refused(fast: FakeTelegram, tmp_path: Path) -> None:
    context, cert_pem = tls_server(tmp_path, "bot.example.com")
    with hook_app(ok, context) as hook:
        set_webhook(fast, url=hook.url, files={"certificate": ("cert.pem", cert_pem)})
        delivery = fast.deliver(make_update(), wait=True)
    assert delivery.state == "dropped"
    assert hook.seen == []
    assert fast.webhook_info()["last_error_message"] == (
        "SSL error {error:0A000086:SSL routines::certificate verify failed}"
    )


def test_self_signed_server_without_uploaded_certificate_is_refused(
    fast: FakeTelegram, tmp_path: Path
) -> None:
    context, _ = tls_server(tmp_path, "127.0.0.1")
    with hook_app(ok, context) as hook:
        set_webhook(fast, url=hook.url)
        delivery = fast.deliver(make_update(), wait=True)
    assert delivery.state == "dropped"
    assert hook.seen == []


# -- order and concurrency ---------------------------------------------------------------------


def test_per_chat_order_kept_while_chats_run_in_parallel(fast: FakeTelegram) -> None:
    lock = threading.Lock()
    in_flight: dict[int, int] = {}
    overlap: list[int] = []
    arrived: dict[int, list[str]] = {}
    chat_b_started = threading.Event()

    def answer(req: Request) -> str:
        message = req.get_json()["message"]
        chat = message["chat"]["id"]
        with lock:
            in_flight[chat] = in_flight.get(chat, 0) + 1
            overlap.append(in_flight[chat])
            arrived.setdefault(chat, []).append(message["text"])
        if chat == 2:
            chat_b_started.set()
        if message["text"] == "1-0":
            # Chat 1's first update is held until chat 2 has begun: chats are not serialised.
            assert chat_b_started.wait(5)
        with lock:
            in_flight[chat] -= 1
        return ""

    updates = [
        make_update(text=f"{chat}-{n}", chat_id=chat, user_id=chat)
        for n in range(5)
        for chat in (1, 2, 3)
    ]
    with hook_app(answer) as hook:
        set_webhook(fast, url=hook.url)
        # Telegram sends over one connection until a delivery succeeds
        # (WebhookActor::create_new_connections), so chats go in parallel only after that.
        assert fast.deliver(make_update(text="0-0", chat_id=0), wait=True).ok
        deliveries = fast.deliver_many(updates, wait=True, timeout=20)
    assert all(d.ok and len(d.attempts) == 1 for d in deliveries)
    assert max(overlap) == 1  # never two updates of one chat at once
    assert {chat: texts for chat, texts in arrived.items()} == {
        0: ["0-0"],
        **{chat: [f"{chat}-{n}" for n in range(5)] for chat in (1, 2, 3)},
    }


def test_a_failing_update_holds_back_its_chat_only(fast: FakeTelegram) -> None:
    answers = {"a-1": iter([("", 500), ("", 200)])}

    def answer(req: Request) -> Any:
        text = req.get_json()["message"]["text"]
        return next(answers[text]) if text in answers else ""

    with hook_app(answer) as hook:
        set_webhook(fast, url=hook.url)
        fast.deliver_many(
            [
                make_update(text="a-1", chat_id=10),
                make_update(text="a-2", chat_id=10),
                make_update(text="b-1", chat_id=20),
            ],
            wait=True,
        )
    messages = [body["message"] for _, body in hook.seen]
    assert [m["text"] for m in messages if m["chat"]["id"] == 10] == ["a-1", "a-1", "a-2"]


def test_wait_idle_and_pending_count(fast: FakeTelegram) -> None:
    with hook_app(ok) as hook:
        set_webhook(fast, url=hook.url)
        deliveries = fast.deliver_many([make_update(chat_id=n) for n in range(6)])
        fast.wait_idle(timeout=10)
    assert all(d.ok for d in deliveries)
    assert fast.webhook_info()["pending_update_count"] == 0


def test_backoff_doubles_from_2_s_after_an_immediate_first_retry() -> None:
    """WebhookActor::on_update_error: the first retry at once, then 2, 4, 8 ... seconds."""
    timing = Timing(time_scale=0.5)
    delay, waits = 1, []
    for failures in range(5):
        delay, wait = timing.backoff(delay, failures, 0)
        waits.append(wait)
    assert waits == [0.0, 1.0, 2.0, 4.0, 8.0]  # 0, 2, 4, 8, 16 Telegram seconds at half scale


def test_backoff_tops_out_between_60_and_120_seconds() -> None:
    """WebhookActor::on_update_error: min(random(60, 120), delay * 2)."""
    timing = Timing()
    for _ in range(20):
        step, wait = timing.backoff(64, 7, 0)
        assert 60 <= step <= 120 and 60.0 <= wait <= 120.0


def test_retry_after_is_honoured_in_full_and_does_not_grow_the_backoff() -> None:
    """WebhookActor::on_update_error: Retry-After (clamped to 3600) is the wait; delay_ stays."""
    timing = Timing(time_scale=0.01)
    assert timing.backoff(4, 3, 90) == (4, 0.9)
    assert timing.backoff(4, 3, 99_999) == (4, 36.0)


def test_webhook_info_shows_the_address_delivered_to(fast: FakeTelegram) -> None:
    with hook_app(ok) as hook:
        set_webhook(fast, url=hook.url, max_connections=3)
        info = fast.webhook_info()
    assert info == {
        "url": hook.url,
        "has_custom_certificate": False,
        "pending_update_count": 0,
        "max_connections": 3,
        "ip_address": "127.0.0.1",
    }


# -- the "Testing your bot" page ---------------------------------------------------------------


def test_the_docs_example_passes() -> None:
    example = Path(__file__).resolve().parents[1] / "docs" / "examples" / "testing"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(example)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=example,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout


@pytest.mark.parametrize(
    ("url", "description"),
    [
        ("http://bot.example.com/hook", "Bad Request: bad webhook: An HTTPS URL must be provided"),
        ("https://bot.example.com:8000/hook", "Bad Request: bad webhook: Webhook can be set up"),
        ("https://127.0.0.1/hook", "Bad Request: bad webhook: IP address 127.0.0.1 is reserved"),
    ],
)
def test_by_default_it_is_as_strict_as_telegram(url: str, description: str) -> None:
    with FakeTelegram(set_webhook_interval=0) as telegram:
        answer = set_webhook(telegram, url=url)
    assert answer.status_code == 400
    assert answer.json()["description"].startswith(description)
