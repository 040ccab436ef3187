"""The emulator follows the official Bot API server (tdlib/telegram-bot-api) rule by rule.

Each test names the place in the server's source (file and function) whose behaviour it
checks: ``Client.cpp``, ``ClientManager.cpp``, ``WebhookActor.cpp`` of telegram-bot-api, and
td's ``HttpUrl.cpp``, ``SslCtx.cpp``, ``SslStream.cpp`` and ``TQueue.cpp``.
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Request

from flask_tgwebhook.testing import DEFAULT_TOKEN, FakeTelegram, make_update
from flask_tgwebhook.testing._emulator.delivery import queue_key
from flask_tgwebhook.testing._emulator.methods import KNOWN_METHODS
from flask_tgwebhook.testing._emulator.webhook_rules import parse_webhook_url
from flask_tgwebhook.testing.fake_telegram import TEST_OPTIONS

from .test_fake_telegram import hook_app, ok, read_request, set_webhook

OTHER_TOKEN = "777000:AAbbCCddEEffGGhhIIjjKKllMMnn_-0"


def api(telegram: FakeTelegram, method: str, token: str | None = None) -> str:
    return f"{telegram.api_url}/bot{token or telegram.token}/{method}"


@pytest.fixture
def scaled() -> Iterator[FakeTelegram]:
    """Telegram's rules at 2 % of Telegram's clock (a 2 s wait lasts 0.04 s), 3 attempts."""
    with FakeTelegram(
        allow_loopback=True, allow_http=True, time_scale=0.02, max_attempts=3
    ) as telegram:
        yield telegram


# -- 1. every bot ------------------------------------------------------------------------------


def test_any_well_formed_token_is_a_bot_of_its_own(scaled: FakeTelegram) -> None:
    """ClientManager.cpp ClientManager::send: a Client per token, created on its first request."""
    me = requests.get(api(scaled, "getMe"), timeout=5).json()["result"]
    other = requests.get(api(scaled, "getMe", OTHER_TOKEN), timeout=5).json()["result"]
    assert (me["id"], me["username"]) == (123456, "fake_test_bot")
    assert (other["id"], other["username"]) == (777000, "test777000_bot")
    assert [call.bot_id for call in scaled.calls] == [123456, 777000]
    # Each bot has its own webhook.
    with hook_app(ok) as hook:
        set_webhook(scaled, url=hook.url)
        assert scaled.webhook_info(OTHER_TOKEN)["url"] == ""
        delivery = scaled.deliver(make_update(text="to the other bot"), token=OTHER_TOKEN)
        assert delivery.state == "pending"  # it waits for the other bot's getUpdates
        got = requests.get(api(scaled, "getUpdates", OTHER_TOKEN), timeout=5).json()["result"]
    assert [u["message"]["text"] for u in got] == ["to the other bot"]
    assert hook.seen == []


@pytest.mark.parametrize(
    ("token", "description"),
    [
        ("0123:AAbbCCddEEffGGhhIIjjKKllMMnn", "Unauthorized: invalid token specified"),
        ("123456", "Unauthorized: invalid token specified"),
        ("123:" + "a" * 80, "Unauthorized: invalid token specified"),
        ("abc:AAbbCCddEEffGGhhIIjjKKllMMnn", "Unauthorized: invalid token specified"),
        ("123456:short", "Unauthorized"),
        ("123456:AAbbCCddEEffGGhhIIjjKKllM", "Unauthorized"),  # 25 chars: not base64url
        ("123456:AAbbCCddEEffGGhhIIjjKK.lMMnn", "Unauthorized"),
    ],
)
def test_tokens_no_bot_could_have_are_refused_in_telegrams_words(
    scaled: FakeTelegram, token: str, description: str
) -> None:
    """ClientManager.cpp ClientManager::send (leading 0, over 80 characters, no colon, a bot
    id that is no number) and Client.cpp Client::start_up (a secret of fewer than 24
    base64url characters: the bot logs out, "Unauthorized")."""
    answer = requests.get(f"{scaled.api_url}/bot{token}/getMe", timeout=5)
    assert answer.status_code == 401
    assert answer.json() == {"ok": False, "error_code": 401, "description": description}
    assert scaled.calls == []


def test_another_secret_for_a_known_bot_id_is_unauthorized(scaled: FakeTelegram) -> None:
    """Client.cpp: a token whose secret is not the bot's fails authorization ("Unauthorized")."""
    requests.get(api(scaled, "getMe"), timeout=5)
    forged = DEFAULT_TOKEN.split(":")[0] + ":" + "x" * 35
    answer = requests.get(f"{scaled.api_url}/bot{forged}/getMe", timeout=5)
    assert (answer.status_code, answer.json()["description"]) == (401, "Unauthorized")


def test_token_given_means_that_bot_only() -> None:
    """Strict mode (``token=``): one bot, as a Bot API server with a single bot would be."""
    with FakeTelegram(token=OTHER_TOKEN) as telegram:
        assert requests.get(api(telegram, "getMe"), timeout=5).status_code == 200
        refused = requests.get(api(telegram, "getMe", DEFAULT_TOKEN), timeout=5)
    assert (refused.status_code, refused.json()["description"]) == (401, "Unauthorized")


# -- 2. uploaded certificates ------------------------------------------------------------------


def make_cert(
    tmp_path: Path, cn: str, dns: list[str], ips: list[str]
) -> tuple[ssl.SSLContext, bytes]:
    """A self-signed certificate with exactly this CN and these SAN entries, served by a context."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    entries: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    entries += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if entries:
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    return context, cert_pem


def test_a_der_certificate_is_refused_with_openssls_words(tmp_path: Path) -> None:
    """td SslCtx.cpp do_create_ssl_ctx: SSL_CTX_load_verify_locations reads PEM only, and
    create_openssl_error appends OpenSSL's queue as ``{error:...}``."""
    _, cert_pem = make_cert(tmp_path, "bot.example.com", ["bot.example.com"], [])
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    with FakeTelegram(set_webhook_interval=0) as telegram:
        answer = set_webhook(
            telegram, url="https://bot.example.com/hook", files={"certificate": ("c.der", der)}
        )
        assert answer.json()["description"] == (
            "Bad Request: bad webhook: Failed to set custom certificate file"
            "{error:05800088:x509 certificate routines::no certificate or crl found}"
        )
        pem = set_webhook(
            telegram, url="https://bot.example.com/hook", files={"certificate": ("c.pem", cert_pem)}
        )
        assert pem.json()["ok"] is True


@pytest.mark.parametrize(
    ("cn", "dns", "ips", "delivered"),
    [
        ("127.0.0.1", [], [], True),  # CN only: Telegram checks the IP as a host name
        ("somewhere.else", [], ["127.0.0.1"], False),  # IP SAN only: ignored with a certificate
        ("127.0.0.1", ["bot.example.com"], ["127.0.0.1"], False),  # DNS names hide the CN
        ("x", ["127.0.0.1"], [], True),  # the IP written as a DNS name matches
    ],
)
def test_an_ip_webhook_with_a_certificate_matches_its_cn_or_dns_names(
    scaled: FakeTelegram,
    tmp_path: Path,
    cn: str,
    dns: list[str],
    ips: list[str],
    delivered: bool,
) -> None:
    """WebhookActor.cpp create_ssl_stream passes ``!cert_path_.empty()`` as td SslStream.cpp
    SslStreamImpl::init's check_ip_address_as_host: X509_VERIFY_PARAM_set1_host, not
    set1_ip, so OpenSSL compares the IP with DNS names (or the CN without any)."""
    context, cert_pem = make_cert(tmp_path, cn, dns, ips)
    with hook_app(ok, context) as hook:
        set_webhook(scaled, url=hook.url, files={"certificate": ("c.pem", cert_pem)})
        delivery = scaled.deliver(make_update(), wait=True)
    assert delivery.ok is delivered
    if not delivered:
        assert scaled.webhook_info()["last_error_message"] == (
            "SSL error {error:0A000086:SSL routines::certificate verify failed}"
        )


# -- 3. unknown methods ------------------------------------------------------------------------


def test_an_unknown_method_is_not_found(scaled: FakeTelegram) -> None:
    """Client.cpp Client::on_cmd: a method missing from methods_ answers 404."""
    answer = requests.post(api(scaled, "sendMesage"), json={"chat_id": 1, "text": "x"}, timeout=5)
    assert answer.status_code == 404
    assert answer.json() == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }
    assert scaled.calls_to("sendMesage")[0].params == {"chat_id": 1, "text": "x"}


def test_an_unknown_method_in_a_webhook_reply_is_not_found(scaled: FakeTelegram) -> None:
    """WebhookActor.cpp WebhookActor::handle sends the reply to Client::on_cmd like a call."""
    with hook_app(lambda _: {"method": "sendMesage", "chat_id": 5, "text": "x"}) as hook:
        set_webhook(scaled, url=hook.url)
        delivery = scaled.deliver(make_update(), wait=True)
    assert delivery.ok
    assert delivery.reply_result == {
        "ok": False,
        "error_code": 404,
        "description": "Not Found: method not found",
    }


def test_known_methods_are_the_specs_plus_the_servers_old_names() -> None:
    """Client.cpp Client::init_methods: the spec's methods and a few old aliases."""
    spec = Path(__file__).resolve().parents[1] / "spec" / "telegram-bot-api" / "api.json"
    names = {name.lower() for name in json.loads(spec.read_text())["methods"]}
    assert names <= KNOWN_METHODS
    assert KNOWN_METHODS - names == {
        "kickchatmember",
        "getchatmemberscount",
        "setstickersetthumb",
        "answercustomquery",
        "sendcustomrequest",
    }


# -- 4. connections ----------------------------------------------------------------------------


def test_one_connection_until_a_delivery_succeeds_then_up_to_max_connections() -> None:
    """WebhookActor.cpp create_new_connections: without a success in the last 10 s, one
    connection; after one, as many as busy queues, up to max_connections (here 20 > 8)."""
    lock = threading.Lock()
    state = {"failing": True, "now": 0, "most": 0}
    barrier = threading.Barrier(20, timeout=10)

    def answer(req: Request) -> Any:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            failing = bool(state["failing"])
        try:
            if failing:
                time.sleep(0.02)
                return ("", 500)
            if req.get_json()["message"]["chat"]["id"] >= 100:
                barrier.wait()  # 20 chats at once, or a BrokenBarrierError
            return ""
        finally:
            with lock:
                state["now"] -= 1

    with (
        FakeTelegram(allow_loopback=True, allow_http=True, time_scale=0.01) as telegram,
        hook_app(answer) as hook,
    ):
        set_webhook(telegram, url=hook.url, max_connections=20)
        failing = telegram.deliver_many([make_update(chat_id=n) for n in range(5)])
        time.sleep(0.5)
        assert state["most"] == 1  # one connection while nothing has succeeded
        with lock:
            state["failing"], state["most"] = False, 0
        telegram.wait_idle(timeout=10)
        assert all(d.ok for d in failing)
        burst = telegram.deliver_many([make_update(chat_id=100 + n) for n in range(20)], wait=True)
    assert all(d.ok for d in burst)
    assert state["most"] == 20
    assert len(hook.seen) > 25


def test_a_failing_webhook_gets_a_new_connection_every_2_seconds() -> None:
    """WebhookActor.cpp start_up: pending_new_connection_flood_ allows one new connection per
    2 s while failing, so the first retry (due at once) waits for a connection.

    At 10 % of Telegram's clock (0.2 s between connections), so that a loaded machine's
    scheduling jitter, a few tens of milliseconds, can't pass for a broken rule (without the
    rule the gaps are a few milliseconds)."""
    with FakeTelegram(
        allow_loopback=True, allow_http=True, time_scale=0.1, max_attempts=3
    ) as scaled:
        _connections_are_spaced(scaled)


def _connections_are_spaced(scaled: FakeTelegram) -> None:
    accepted: list[float] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)

        def hang_up_three_times() -> None:
            for _ in range(3):
                connection, _ = listener.accept()
                accepted.append(time.monotonic())
                with connection:
                    read_request(connection)

        thread = threading.Thread(target=hang_up_three_times)
        thread.start()
        set_webhook(scaled, url=f"http://127.0.0.1:{listener.getsockname()[1]}/hook")
        scaled.deliver(make_update())
        thread.join(timeout=10)
    gaps = [b - a for a, b in itertools.pairwise(accepted)]
    assert len(gaps) == 2
    assert min(gaps) >= 2 * 0.1 - 0.05  # 2 Telegram seconds at this scale, less some jitter


# -- 5. getUpdates -----------------------------------------------------------------------------


def long_poll(telegram: FakeTelegram, results: list[Any], **params: Any) -> threading.Thread:
    def run() -> None:
        results.append(requests.get(api(telegram, "getUpdates"), params=params, timeout=30).json())

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_for_calls(telegram: FakeTelegram, method: str, count: int) -> None:
    telegram.wait_for_calls(method, count, timeout=5)
    time.sleep(0.1)  # the server thread is now inside the call


def test_a_second_long_poll_ends_the_first_with_a_conflict() -> None:
    """Client.cpp do_get_updates calls abort_long_poll(false): the waiting request answers 409."""
    with FakeTelegram(time_scale=0.02) as telegram:
        first: list[Any] = []
        thread = long_poll(telegram, first, timeout=5, offset=7)
        wait_for_calls(telegram, "getUpdates", 1)
        second = requests.get(api(telegram, "getUpdates"), params={"timeout": 1}, timeout=10)
        thread.join(timeout=10)
    assert first == [
        {
            "ok": False,
            "error_code": 409,
            "description": "Conflict: terminated by other getUpdates request; make sure that "
            "only one bot instance is running",
        }
    ]
    assert second.json() == {"ok": True, "result": []}


def test_set_webhook_ends_a_waiting_long_poll() -> None:
    """Client.cpp process_set_webhook_query calls abort_long_poll(true)."""
    with FakeTelegram(time_scale=0.02) as telegram:
        waiting: list[Any] = []
        thread = long_poll(telegram, waiting, timeout=5)
        wait_for_calls(telegram, "getUpdates", 1)
        set_webhook(telegram, url="https://example.com/hook")
        thread.join(timeout=10)
    assert waiting[0]["description"] == "Conflict: terminated by setWebhook request"


def test_conflicts_are_answered_at_most_every_3_seconds(scaled: FakeTelegram) -> None:
    """Client.cpp fail_query_conflict: a 409 within 3 s of the last one waits 3 s first."""
    set_webhook(scaled, url="https://example.com/hook")
    started = time.monotonic()
    first = requests.get(api(scaled, "getUpdates"), timeout=5)
    quick = time.monotonic() - started
    second = requests.get(api(scaled, "getUpdates"), timeout=5)
    slow = time.monotonic() - started - quick
    assert first.status_code == second.status_code == 409
    assert quick < 3 * 0.02 <= slow


def test_negative_offset_keeps_only_the_last_updates(scaled: FakeTelegram) -> None:
    """Client.cpp do_get_updates: tqueue->clear(-offset) keeps the last -offset updates."""
    deliveries = scaled.deliver_many([make_update(text=str(n)) for n in range(5)])
    got = requests.get(api(scaled, "getUpdates"), params={"offset": -2}, timeout=5).json()
    assert [u["message"]["text"] for u in got["result"]] == ["3", "4"]
    assert [d.state for d in deliveries] == ["fetched"] * 3 + ["pending"] * 2


def test_an_offset_far_past_the_last_update_confirms_nothing(scaled: FakeTelegram) -> None:
    """td TQueue.cpp TQueueImpl::get: an id more than 10 past the tail is "in the future", and
    Client.cpp do_get_updates then reads from the head."""
    delivery = scaled.deliver(make_update(text="kept"))
    got = requests.get(
        api(scaled, "getUpdates"), params={"offset": delivery.update_id + 11}, timeout=5
    ).json()["result"]
    assert [u["update_id"] for u in got] == [delivery.update_id]
    assert delivery.state == "pending"


def test_the_same_offset_again_soon_gets_one_update_and_waits() -> None:
    """Client.cpp process_get_updates_query: the same offset within 0.5 s gets limit 1, and
    within 3 s a timeout of at least 3 s."""
    with FakeTelegram(time_scale=0.2) as telegram:  # 0.5 s -> 0.1 s, 3 s -> 0.6 s
        telegram.deliver_many([make_update(text=str(n)) for n in range(3)])
        first = requests.get(api(telegram, "getUpdates"), timeout=5).json()["result"]
        again = requests.get(api(telegram, "getUpdates"), timeout=5).json()["result"]
        assert (len(first), len(again)) == (3, 1)
        confirmed = first[-1]["update_id"] + 1
        requests.get(api(telegram, "getUpdates"), params={"offset": confirmed}, timeout=5)
        started = time.monotonic()
        empty = requests.get(api(telegram, "getUpdates"), params={"offset": confirmed}, timeout=5)
        waited = time.monotonic() - started
    assert empty.json()["result"] == []
    assert waited >= 3 * 0.2 * 0.9  # a 0 s timeout became 3 s


# -- 6. expiry ---------------------------------------------------------------------------------


def test_updates_expire_after_their_types_lifetime() -> None:
    """Client.cpp add_update callers: inline queries live 30 s, callback queries 150 s,
    messages a day from their date (add_message_update's left_time)."""
    with FakeTelegram(time_scale=0.005) as telegram:  # 30 s -> 0.15 s, 150 s -> 0.75 s
        inline = telegram.deliver(make_update("inline_query", text="q"))
        callback = telegram.deliver(make_update("callback_query", data="d"))
        old = make_update(text="old")
        old["message"]["date"] = int(time.time()) - int(86_400 * 0.005) - 2
        stale = telegram.deliver(old)
        assert stale.state == "expired"  # TQueue refuses an already expired update
        time.sleep(0.3)
        assert telegram.webhook_info()["pending_update_count"] == 1
        got = requests.get(api(telegram, "getUpdates"), timeout=5).json()["result"]
        assert [kind for u in got for kind in u if kind != "update_id"] == ["callback_query"]
        assert inline.state == "expired"
        time.sleep(0.6)
        assert telegram.webhook_info()["pending_update_count"] == 0
    assert callback.state == "expired"


def test_a_failing_update_is_dropped_when_its_next_retry_would_be_too_late() -> None:
    """WebhookActor.cpp on_update_error: drop when now + the next delay passes expires_at."""
    with (
        FakeTelegram(allow_loopback=True, allow_http=True, time_scale=0.005) as telegram,
        hook_app(lambda _: ("", 500)) as hook,
    ):
        set_webhook(telegram, url=hook.url)
        delivery = telegram.deliver(make_update("inline_query", text="q"), wait=True)
    assert delivery.state == "expired"
    assert 2 <= len(delivery.attempts) <= 6  # 0, 2, 4, 8, 16 s of a 30 s life


# -- 7. the webhook's time -----------------------------------------------------------------------


def test_the_webhook_has_60_seconds_by_default() -> None:
    """WebhookActor.cpp create_connection: HttpOutboundConnection's idle timeout of 60 s; the
    fixture keeps it (only its clock and attempts are bent)."""
    assert FakeTelegram().timing.webhook_timeout == 60.0
    assert "webhook_timeout" not in TEST_OPTIONS


# -- 8. getWebhookInfo's words -------------------------------------------------------------------


def test_the_reason_phrase_is_shown_as_the_server_sent_it(scaled: FakeTelegram) -> None:
    """WebhookActor.cpp handle: "Wrong response from the webhook: " << code_ << " " << reason_."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)

        # Every attempt (the fixture allows 3) gets the same answer on a connection of its own:
        # "Connection: close" says we close it, so no retry is written into a socket we closed.
        def go_away_three_times() -> None:
            for _ in range(3):
                connection, _ = listener.accept()
                with connection:
                    read_request(connection)
                    connection.sendall(
                        b"HTTP/1.1 403 Go Away\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )

        thread = threading.Thread(target=go_away_three_times)
        thread.start()
        set_webhook(scaled, url=f"http://127.0.0.1:{listener.getsockname()[1]}/hook")
        # Read the last error only once the update was given up, not while a retry may run.
        delivery = scaled.deliver(make_update(), wait=True)
        thread.join(timeout=10)
    assert delivery.state == "dropped"
    assert [attempt.error for attempt in delivery.attempts] == [
        "Wrong response from the webhook: 403 Go Away"
    ] * 3
    assert scaled.webhook_info()["last_error_message"] == (
        "Wrong response from the webhook: 403 Go Away"
    )


# -- 9. Retry-After ------------------------------------------------------------------------------


def test_retry_after_is_waited_in_full(scaled: FakeTelegram) -> None:
    """WebhookActor.cpp on_update_error: next_effective_delay = retry_after (up to 3600 s)."""
    times: list[float] = []

    def answer(_: Request) -> Any:
        times.append(time.monotonic())
        return ("", 429, {"Retry-After": "5"}) if len(times) == 1 else ""

    with hook_app(answer) as hook:
        set_webhook(scaled, url=hook.url)
        delivery = scaled.deliver(make_update(), wait=True)
    assert delivery.ok and len(hook.seen) == 2
    assert times[1] - times[0] >= 5 * 0.02 * 0.9  # 5 Telegram seconds, not the 0 s first retry


# -- 10. the rest ------------------------------------------------------------------------------


def test_log_out_forgets_the_webhook_and_locks_the_token_for_10_minutes() -> None:
    """Client.cpp on_cmd ("logout": clear_tqueue_) and get_closing_error (429 retry after);
    the Bot API's logOut: no logging in to the cloud server again for 10 minutes."""
    with FakeTelegram(time_scale=0.001, set_webhook_interval=0) as telegram:
        waiting = telegram.deliver(make_update())
        assert requests.post(api(telegram, "logOut"), timeout=5).json() == {
            "ok": True,
            "result": True,
        }
        assert waiting.state == "dropped"
        locked = requests.get(api(telegram, "getMe"), timeout=5)
        assert locked.status_code == 429
        assert 300 <= locked.json()["parameters"]["retry_after"] <= 601  # about 600 s
        assert locked.headers["Retry-After"] == str(locked.json()["parameters"]["retry_after"])
        time.sleep(0.65)
        assert requests.get(api(telegram, "getMe"), timeout=5).status_code == 200
        assert telegram.webhook_info()["pending_update_count"] == 0


def test_close_is_refused_in_the_first_10_minutes_of_a_late_bot() -> None:
    """Client.cpp on_cmd: close answers 429 while the bot's start is under 10 minutes ago,
    when the bot started 10 minutes or more after the server."""
    with FakeTelegram(time_scale=0.0005) as telegram:  # 10 minutes -> 0.3 s
        assert requests.post(api(telegram, "close"), timeout=5).json()["result"] is True
        time.sleep(0.35)
        late = requests.post(api(telegram, "close", OTHER_TOKEN), timeout=5)
    assert late.status_code == 429
    assert late.json()["description"].startswith("Too Many Requests: retry after ")
    assert "Retry-After" in late.headers


def test_a_429_carries_a_retry_after_header() -> None:
    """HttpConnection.cpp send_response adds Retry-After for Query::set_retry_after_error."""
    with FakeTelegram() as telegram:
        set_webhook(telegram, url="https://example.com/a")
        answer = set_webhook(telegram, url="https://example.com/b")
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "1")


def test_allowed_updates_are_listed_in_the_servers_order() -> None:
    """Client.cpp JsonUpdateTypes walks the UpdateType enum of Client.h."""
    with FakeTelegram() as telegram:
        set_webhook(
            telegram,
            url="https://example.com/hook",
            allowed_updates=["chat_member", "callback_query", "poll", "message"],
        )
        shown = telegram.webhook_info()["allowed_updates"]
    assert shown == ["message", "callback_query", "poll", "chat_member"]


def test_a_chat_member_update_waits_in_the_members_queue() -> None:
    """Client.cpp add_update_chat_member: webhook_queue_id is the member's user id."""
    by_admin = make_update("chat_member", user_id=1)
    by_admin["chat_member"]["new_chat_member"] = {"status": "member", "user": {"id": 42}}
    other_admin = make_update("chat_member", user_id=2)
    other_admin["chat_member"]["new_chat_member"] = {"status": "member", "user": {"id": 42}}
    assert queue_key(by_admin) == queue_key(other_admin) == ("member", 42)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://example.com/my hook", "/my%20hook"),
        ("https://example.com/hook\n", "/hook"),
        ("https://example.com", "/"),
        ("example.com/hook?a=b", "/hook?a=b"),
    ],
)
def test_url_paths_as_td_parses_them(url: str, target: str) -> None:
    """td HttpUrl.cpp parse_url: white space at the end is cut, characters up to space in the
    path are percent-encoded, https is the default."""
    parsed = parse_webhook_url(url)
    assert parsed is not None
    assert (parsed.scheme, parsed.target) == ("https", target)


@pytest.mark.parametrize(
    "url",
    ["https://example.com:/hook", "https://example.com:0/", "https://exa mple.com/", "https://@/"],
)
def test_urls_td_refuses(url: str) -> None:
    """td HttpUrl.cpp parse_url: an empty or zero port, a space in the host, an empty host."""
    assert parse_webhook_url(url) is None
    with FakeTelegram() as telegram:
        answer = set_webhook(telegram, url=url)
    assert answer.json()["description"] == "Bad Request: invalid webhook URL specified"


def test_a_path_with_a_space_is_delivered_percent_encoded(scaled: FakeTelegram) -> None:
    """WebhookActor.cpp send_update posts to url_.query_, as parse_url encoded it."""
    with hook_app(ok) as hook:
        url = hook.url.replace("/hook", "/my hook")
        assert set_webhook(scaled, url=url).json()["ok"] is True
        delivery = scaled.deliver(make_update(), wait=True)
        assert scaled.webhook_info()["url"] == url
    # The hook app serves /hook only: the request went to /my%20hook, which it does not know.
    assert delivery.attempts[0].status == 404
