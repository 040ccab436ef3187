"""Property-based tests over the webhook view: whatever arrives, never a 500, and never a
handler run without the right secret (nor, with the allowlist on, from outside it)."""

from __future__ import annotations

import json
from typing import Any, cast

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.middleware.proxy_fix import ProxyFix

from flask_tgwebhook import TelegramWebhook, Update, signals
from flask_tgwebhook.netguard import NetworkAllowlist, parse_networks
from flask_tgwebhook.update import UPDATE_TYPES

from .conftest import SECRET, TOKEN

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
PATH = "/telegram/webhook"
TOKEN_SECRET_PART = TOKEN.split(":", 1)[1]


class Bot:
    """An app whose handlers read every shortcut, and what they saw."""

    def __init__(self, **config: Any) -> None:
        self.ran: list[int] = []
        self.failures: list[BaseException] = []
        tg = TelegramWebhook()
        for update_type in (*UPDATE_TYPES, "unknown_type"):
            tg.on(update_type)(self.handle)
        self.app = Flask("fuzzed")
        self.app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BOT_USERNAME="fuzz_bot", **config)
        tg.init_app(self.app)
        signals.update_failed.connect(self.failed, self.app, weak=False)
        self.client = self.app.test_client()

    def handle(self, update: Update) -> None:
        # Everything a bot author may read, on whatever shape arrived.
        _ = (update.type, update.chat, update.chat_id, update.user, update.text, update.data)
        _ = (update.command, update.command_args, update.args, update.message_payload)
        self.ran.append(update.update_id)

    def failed(self, sender: Flask, exception: BaseException, **extra: Any) -> None:
        self.failures.append(exception)


# -- strategies -----------------------------------------------------------------------------

# What a real server hands over: latin-1 text without line breaks.
header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF) | st.sampled_from("\t"),
    max_size=60,
)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
payloads = json_values | st.fixed_dictionaries(
    {},
    optional={
        "text": json_values | st.sampled_from(["/start", "/start@fuzz_bot x", "/a@", "/"]),
        "caption": json_values,
        "data": json_values,
        "query": json_values,
        "chat": json_values | st.fixed_dictionaries({"id": json_values}),
        "from": json_values | st.fixed_dictionaries({"id": json_values}),
        "user": json_values,
        "message": json_values | st.fixed_dictionaries({"chat": json_values, "text": json_values}),
    },
)
updates = st.builds(
    lambda update_id, kind, payload, extra: {"update_id": update_id, kind: payload, **extra},
    st.integers(min_value=-(2**63), max_value=2**63),
    st.sampled_from(UPDATE_TYPES) | st.sampled_from(["unknown_type", "", "update_id2"]),
    payloads,
    st.dictionaries(st.text(max_size=8), json_values, max_size=2),
)
# Around the interpreter's recursion limit, and far past it.
depths = st.sampled_from([2, 100, 990, 1000, 1010, 5000, 50_000]) | st.integers(1, 100_000)
bodies = st.one_of(
    updates.map(lambda u: json.dumps(u).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    depths.map(lambda n: b"[" * n + b"]" * n),
    depths.map(lambda n: b'{"update_id": 1, "message": ' + b'{"a": ' * n + b"1" + b"}" * (n + 1)),
)
secrets = st.one_of(
    st.none(),
    st.just(SECRET),
    st.just(SECRET[:-1]),
    st.just(SECRET + "x"),
    st.just(SECRET.upper()),
    header_text,
)
content_types = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
        ]
    ),
    header_text,
)
methods = st.sampled_from(["POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]) | (
    st.from_regex(r"\A[A-Z]{1,8}\Z")
)
header_names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,20}\Z")
extra_headers = st.dictionaries(header_names, header_text, max_size=3)
content_lengths = (
    st.none()
    | st.sampled_from(["", "0", "-1", "abc", "99999999999", " 5 "])
    | (st.integers(min_value=0, max_value=2_000_000).map(str))
)


def send(
    bot: Bot,
    method: str,
    body: bytes,
    secret: str | None,
    content_type: str | None,
    headers: dict[str, str],
    environ: dict[str, Any],
) -> Any:
    all_headers = [(k, v) for k, v in headers.items() if k.lower() not in ("content-type",)]
    if secret is not None:
        all_headers.append(("X-Telegram-Bot-Api-Secret-Token", secret))
    if content_type is not None:
        all_headers.append(("Content-Type", content_type))
    return bot.client.open(
        PATH, method=method, data=body, headers=all_headers, environ_overrides=environ
    )


def check_answer(response: Any) -> None:
    assert response.status_code < 500, response.data
    assert TOKEN_SECRET_PART.encode() not in response.data
    assert SECRET.encode() not in response.data


# -- the properties -------------------------------------------------------------------------

PLAIN = Bot()


@FUZZ
@given(
    method=methods,
    body=bodies,
    secret=secrets,
    content_type=content_types,
    headers=extra_headers,
    length=content_lengths,
    terminated=st.booleans(),
)
def test_anything_at_all(
    method: str,
    body: bytes,
    secret: str | None,
    content_type: str | None,
    headers: dict[str, str],
    length: str | None,
    terminated: bool,
) -> None:
    environ: dict[str, Any] = {"wsgi.input_terminated": terminated}
    if length is not None:
        environ["CONTENT_LENGTH"] = length
    before = len(PLAIN.ran)
    response = send(PLAIN, method, body, secret, content_type, headers, environ)
    check_answer(response)
    if secret != SECRET:
        assert response.status_code in (403, 405)
        assert len(PLAIN.ran) == before  # no handler without the right secret
    if method != "POST":
        assert response.status_code == 405
    assert PLAIN.failures == []  # no shortcut broke on the shapes that arrived


@FUZZ
@given(body=bodies, content_type=st.sampled_from(["application/json", "application/json; a=b"]))
def test_any_body_with_the_secret(body: bytes, content_type: str) -> None:
    before = len(PLAIN.ran)
    response = send(PLAIN, "POST", body, SECRET, content_type, {}, {})
    check_answer(response)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert len(PLAIN.ran) == before
    assert PLAIN.failures == []


@FUZZ
@given(update=updates, content_type=st.sampled_from(["application/json", "Application/Json; x=y"]))
def test_valid_updates_with_the_secret_are_answered_200(
    update: dict[str, Any], content_type: str
) -> None:
    response = send(PLAIN, "POST", json.dumps(update).encode(), SECRET, content_type, {}, {})
    check_answer(response)
    assert response.status_code == 200
    assert PLAIN.failures == []


def client_address(remote_addr: str, forwarded: str | None) -> str:
    """The address werkzeug's ProxyFix (one trusted proxy) makes of a request: the oracle."""
    seen: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["REMOTE_ADDR"])
        return []

    environ = {"REMOTE_ADDR": remote_addr}
    if forwarded is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded
    ProxyFix(app, x_for=1)(environ, cast(Any, None))  # the app never starts a response
    return seen[0]


GUARDED = Bot(TELEGRAM_ALLOWED_NETWORKS="telegram, 2001:db8::/32", TELEGRAM_TRUSTED_PROXIES=1)
ALLOWLIST = NetworkAllowlist(parse_networks("telegram, 2001:db8::/32") or ())
addresses = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(network="149.154.160.0/20").map(str),
    st.ip_addresses(network="2001:db8::/32").map(str),
    header_text,
)
forwarded_for = st.one_of(
    st.none(),
    st.lists(addresses, max_size=4).map(", ".join),
    header_text,
)


@FUZZ
@given(
    update=updates,
    secret=st.sampled_from([SECRET, "wrong"]),
    remote_addr=addresses,
    forwarded=forwarded_for,
)
def test_allowlist_behind_a_proxy(
    update: dict[str, Any], secret: str, remote_addr: str, forwarded: str | None
) -> None:
    headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}
    before = len(GUARDED.ran)
    response = send(
        GUARDED,
        "POST",
        json.dumps(update).encode(),
        secret,
        "application/json",
        headers,
        {"REMOTE_ADDR": remote_addr},
    )
    check_answer(response)
    client = client_address(remote_addr, forwarded)
    should_run = secret == SECRET and ALLOWLIST.allows(client)
    assert response.status_code in ((200,) if should_run else (403,))
    ran = len(GUARDED.ran) > before
    assert ran <= should_run  # a duplicate id may be answered without running
    assert GUARDED.failures == []
