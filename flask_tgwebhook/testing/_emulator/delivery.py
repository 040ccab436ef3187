"""Delivering updates to the webhook the way Telegram's WebhookActor does.

Each update belongs to a queue (a chat for messages, a user for callback queries, ...); a
queue has at most one update in flight, so a chat's updates arrive in order while other chats
go on in parallel, up to ``max_connections``. A failed POST is retried: at once the first
time, then with doubling delays, sooner if the webhook said ``Retry-After``. What went wrong
is kept in Telegram's words for ``getWebhookInfo``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from .plumbing import Call, parse_body
from .webhook_rules import WebhookConfig

# Methods Telegram does not run when a webhook answers with them.
_IGNORED_REPLIES = ("deletewebhook", "setwebhook", "close", "logout")

# Update types whose queue is a user rather than a chat (as telegram-bot-api groups them).
_USER_QUEUES = {
    "inline_query": 1,
    "chosen_inline_result": 2,
    "callback_query": 3,
    "shipping_query": 4,
    "pre_checkout_query": 4,
    "chat_member": 6,
    "chat_join_request": 6,
    "business_connection": 10,
}
_CHAT_QUEUES = {
    "my_chat_member": 5,
    "chat_boost": 7,
    "removed_chat_boost": 7,
    "message_reaction": 8,
    "message_reaction_count": 9,
    "deleted_business_messages": 11,
    "business_message": 11,
    "edited_business_message": 11,
}
_MESSAGE_TYPES = ("message", "edited_message", "channel_post", "edited_channel_post")


def queue_key(update: dict[str, Any]) -> tuple[int, int] | None:
    """The queue an update waits in: its chat, its user or its poll, as Telegram groups them.

    None for types delivered without order.
    """
    kind = next((key for key in update if key != "update_id"), None)
    payload = update.get(kind) if kind else None
    if not isinstance(payload, dict):
        return None
    chat = payload.get("chat")
    user = payload.get("from") or payload.get("user")
    if kind == "poll" or kind == "poll_answer":
        poll_id = payload.get("id") if kind == "poll" else payload.get("poll_id")
        return (12, hash(poll_id)) if poll_id is not None else None
    if kind in _USER_QUEUES and isinstance(user, dict) and isinstance(user.get("id"), int):
        return (_USER_QUEUES[kind], user["id"])
    if isinstance(chat, dict) and isinstance(chat.get("id"), int):
        if kind in _MESSAGE_TYPES or kind == "guest_message":
            return (0, chat["id"])
        if kind in _CHAT_QUEUES:
            return (_CHAT_QUEUES[kind], chat["id"])
    return None


@dataclass(frozen=True)
class Attempt:
    """One POST of an update to the webhook.

    :param status: the HTTP status, or None when there was no answer.
    :param error: what went wrong, as ``last_error_message`` words it; None on success.
    :param retry_after: the ``Retry-After`` the webhook asked for, in seconds.
    """

    status: int | None
    error: str | None
    retry_after: int | None = None


@dataclass(eq=False)
class Delivery:
    """What became of one update handed to :meth:`FakeTelegram.deliver`.

    ``state`` is ``"pending"`` (waiting or being retried), ``"delivered"`` (a 2xx answer),
    ``"dropped"`` (given up after the last attempt), ``"filtered"`` (not in allowed_updates,
    so Telegram never sends it), or ``"fetched"`` (taken with getUpdates).
    """

    update: dict[str, Any]
    state: str = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    #: The method call the webhook answered with, as recorded (None without one).
    reply: Call | None = None
    #: What the emulator answered to that call (the Bot API JSON).
    reply_result: dict[str, Any] | None = None
    key: Any = None
    not_before: float = 0.0
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def ok(self) -> bool:
        """True when the webhook answered 2xx."""
        return self.state == "delivered"

    @property
    def done(self) -> bool:
        """True once it was delivered, dropped, filtered or fetched."""
        return self._done.is_set()

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait until it was delivered or dropped; False if still pending after ``timeout``."""
        return self._done.wait(timeout)

    def finish(self, state: str) -> None:
        self.state = state
        self._done.set()


@dataclass
class RetryPolicy:
    """How delivery retries: small numbers keep tests fast, Telegram's own are far larger."""

    max_attempts: int | None = 5
    retry_delay: float = 0.05
    max_retry_delay: float = 1.0
    timeout: float = 10.0

    def delay(self, failures: int, retry_after: int | None) -> float:
        """Seconds before the next attempt, after ``failures`` failed ones."""
        if retry_after:
            return min(float(retry_after), self.max_retry_delay)
        if failures <= 1:
            return 0.0  # Telegram's first retry goes out at once
        return min(self.retry_delay * float(2 ** (failures - 1)), self.max_retry_delay)


def describe_failure(exc: requests.RequestException) -> str:
    """A requests exception in the words getWebhookInfo uses for it."""
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and len(chain) < 10:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__ or _first_arg_exception(seen)
    for item in chain:
        if isinstance(item, http.client.RemoteDisconnected):  # before ConnectionResetError
            return "Webhook connection closed"
        if isinstance(item, ssl.SSLCertVerificationError):
            return "SSL error {error:0A000086:SSL routines::certificate verify failed}"
        if isinstance(item, ssl.SSLError):
            return f"SSL error {{{item.reason or item}}}"
        if isinstance(item, ConnectionRefusedError):
            return "Connection refused"
        if isinstance(item, ConnectionResetError):
            return "Connection reset by peer"
    text = " ".join(str(item) for item in chain)
    if isinstance(exc, requests.ConnectTimeout):
        return "Connection timed out"
    if isinstance(exc, requests.ReadTimeout):
        return "Read timeout expired"
    if "Name or service not known" in text or "getaddrinfo" in text or "resolve" in text:
        return "Failed to resolve host: Name or service not known"
    return "Webhook connection closed"


def _first_arg_exception(exc: BaseException) -> BaseException | None:
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, BaseException):
            return arg
        reason = getattr(arg, "reason", None)
        if isinstance(reason, BaseException):
            return reason
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, BaseException) else None


def _retry_after(response: requests.Response) -> int | None:
    value = response.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return max(0, min(int(value), 3600))
    return None


def _reply_call(response: requests.Response) -> Call | None:
    """The method a 2xx webhook answer asks Telegram to run, if any it would run."""
    if not response.content:
        return None
    try:
        params, files = parse_body(response.headers.get("Content-Type", ""), response.content)
    except ValueError:
        return None
    method = str(params.pop("method", "") or "")
    lowered = method.lower()
    if not method or lowered in _IGNORED_REPLIES or lowered.startswith("get"):
        return None
    return Call(method, params, files, source="webhook_reply")


class Poster:
    """Sends one update to one webhook over a requests Session, like Telegram's connection."""

    def __init__(self, config: WebhookConfig, timeout: float) -> None:
        self.config = config
        self.timeout = timeout
        self._cert_path: str | None = None
        self.session = requests.Session()
        self.session.trust_env = False  # never a proxy from the environment: loopback only
        if config.certificate is not None:
            self._cert_path = _write_pem(config.certificate)

    def post(self, delivery: Delivery) -> tuple[Attempt, Call | None]:
        headers = {"Content-Type": "application/json", "Accept-Encoding": "gzip, deflate"}
        if self.config.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.config.secret_token
        verify: bool | str = self._cert_path or True
        try:
            response = self.session.post(
                self.config.url,
                data=json.dumps(delivery.update).encode(),
                headers=headers,
                timeout=(min(self.timeout, 5.0), self.timeout),
                verify=verify,
                allow_redirects=False,  # Telegram counts a redirect as a wrong response
            )
        except requests.RequestException as exc:
            return Attempt(None, describe_failure(exc)), None
        with response:
            status = response.status_code
            if 200 <= status <= 299:
                return Attempt(status, None), _reply_call(response)
            # nginx in front of the app writes the standard reason phrase, as Telegram then shows.
            try:
                reason = HTTPStatus(status).phrase
            except ValueError:
                reason = response.reason or ""
            error = f"Wrong response from the webhook: {status} {reason}".rstrip()
            return Attempt(status, error, _retry_after(response)), None

    def close(self) -> None:
        self.session.close()
        if self._cert_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._cert_path)
            self._cert_path = None


def _write_pem(certificate: bytes) -> str:
    """The uploaded certificate in a temporary PEM file, for requests' ``verify``."""
    if b"-----BEGIN" not in certificate:
        certificate = x509.load_der_x509_certificate(certificate).public_bytes(Encoding.PEM)
    handle, path = tempfile.mkstemp(prefix="fake-telegram-", suffix=".pem")
    with os.fdopen(handle, "wb") as file:
        file.write(certificate)
    return path


ReplyRunner = Callable[[Call], dict[str, Any]]
