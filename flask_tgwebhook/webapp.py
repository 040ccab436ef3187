"""Telegram Web Apps (Mini Apps): check the ``initData`` a Web App sends to its backend.

A Web App page reads ``Telegram.WebApp.initData`` (a query string Telegram signed) and sends
it with each request to the bot's server. Two checks exist, both here:

- :func:`validate_init_data`, for the bot's own server: ``hash`` is the HMAC-SHA256 of the
  sorted fields under a key derived from the bot token with the constant ``"WebAppData"``.
- :func:`validate_third_party`, for a service that must not hold the token: ``signature`` is
  Telegram's Ed25519 signature of the fields, checked with Telegram's published public key
  and the bot's id.

Both refuse data older than ``max_age`` (``auth_date``), so a leaked initData stops working.
:func:`sign_init_data` makes valid initData for tests and offline demos.
:func:`init_data_required` protects a Flask view with the first check.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload
from urllib.parse import parse_qsl, urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Response, current_app, g, jsonify, request

from .state import get_state

__all__ = [
    "DEFAULT_MAX_AGE",
    "PRODUCTION_PUBLIC_KEY",
    "TEST_PUBLIC_KEY",
    "ForgedInitData",
    "InitDataError",
    "MalformedInitData",
    "StaleInitData",
    "WebAppInitData",
    "current_init_data",
    "init_data_required",
    "sign_init_data",
    "validate_init_data",
    "validate_third_party",
]

#: Telegram's Ed25519 public key for third-party validation (production environment).
PRODUCTION_PUBLIC_KEY = bytes.fromhex(
    "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d"
)
#: Telegram's Ed25519 public key for third-party validation (test environment).
TEST_PUBLIC_KEY = bytes.fromhex("40055058a4ee38156a06562e52eece92a771bcd8346a8c4615cb7376eddf72ec")
#: Seconds an initData stays acceptable by default (its ``auth_date`` is when the Web App
#: was opened): long enough for a session, short enough that a leaked copy soon expires.
DEFAULT_MAX_AGE = 3600
#: Seconds ``auth_date`` may be ahead of this server's clock (clocks drift).
CLOCK_SKEW = 60
#: initData is a few hundred bytes; refuse anything absurd before parsing it.
MAX_LENGTH = 16_384
_JSON_FIELDS = ("user", "receiver", "chat")
#: The Authorization scheme Web Apps conventionally send initData with: ``tma <initData>``.
AUTH_SCHEME = "tma"
V = TypeVar("V", bound=Callable[..., Any])


class InitDataError(ValueError):
    """The initData cannot be trusted. :attr:`reason` is ``malformed``, ``forged`` or ``stale``.

    The message says why and what to do; it never holds the token or the data.
    """

    reason = "invalid"


class MalformedInitData(InitDataError):
    """Not a query string with ``auth_date`` and ``hash`` (or ``signature``)."""

    reason = "malformed"


class ForgedInitData(InitDataError):
    """The hash or signature does not match: changed, or signed for another bot."""

    reason = "forged"


class StaleInitData(InitDataError):
    """``auth_date`` is older than ``max_age`` (or too far in the future)."""

    reason = "stale"


@dataclass(frozen=True)
class WebAppInitData:
    """Checked initData. Objects (``user``, ``receiver``, ``chat``) are the decoded JSON dicts.

    :param fields: every field as Telegram sent it (strings), ``hash`` and ``signature`` too.
    """

    fields: Mapping[str, str] = field(repr=False)
    auth_date: int
    query_id: str | None = None
    user: dict[str, Any] | None = None
    receiver: dict[str, Any] | None = None
    chat: dict[str, Any] | None = None
    chat_type: str | None = None
    chat_instance: str | None = None
    start_param: str | None = None
    can_send_after: int | None = None

    @property
    def user_id(self) -> int | None:
        """The id of the user who opened the Web App."""
        return int(self.user["id"]) if self.user and "id" in self.user else None


def _parse(init_data: str) -> dict[str, str]:
    if not isinstance(init_data, str) or not init_data:
        raise MalformedInitData(
            "No initData was sent; the Web App page must send Telegram.WebApp.initData "
            "(empty when the page was opened outside Telegram)."
        )
    if len(init_data) > MAX_LENGTH:
        raise MalformedInitData(f"The initData is longer than {MAX_LENGTH} characters.")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise MalformedInitData(
            "The initData is not a query string; send Telegram.WebApp.initData unchanged "
            "(not initDataUnsafe, not JSON)."
        ) from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise MalformedInitData("The initData names a field twice.")
    return fields


def _check_string(fields: Mapping[str, str], skip: tuple[str, ...]) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k not in skip)


def _secret_key(token: str) -> bytes:
    return hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()


def _hash(fields: Mapping[str, str], token: str) -> str:
    check = _check_string(fields, ("hash",)).encode()
    return hmac.new(_secret_key(token), check, hashlib.sha256).hexdigest()


def _third_party_message(fields: Mapping[str, str], bot_id: int) -> bytes:
    return f"{bot_id}:WebAppData\n{_check_string(fields, ('hash', 'signature'))}".encode()


def _fresh(fields: Mapping[str, str], max_age: float | None, now: float | None) -> int:
    raw = fields.get("auth_date", "")
    if not raw.isdigit():
        raise MalformedInitData("The initData has no auth_date (a Unix time).")
    auth_date = int(raw)
    now = time.time() if now is None else now
    if auth_date > now + CLOCK_SKEW:
        raise StaleInitData(
            f"The initData's auth_date is {int(auth_date - now)} s in the future; "
            "check this server's clock (NTP)."
        )
    if max_age is not None and now - auth_date > max_age:
        raise StaleInitData(
            f"The initData is {int(now - auth_date)} s old, older than max_age={max_age:g} s: "
            "the Web App must be opened again (or raise max_age)."
        )
    return auth_date


def _result(fields: Mapping[str, str], auth_date: int) -> WebAppInitData:
    objects: dict[str, dict[str, Any] | None] = {}
    for name in _JSON_FIELDS:
        value = fields.get(name)
        if value is None:
            objects[name] = None
            continue
        try:
            decoded = json.loads(value)
        except ValueError:
            decoded = None
        if not isinstance(decoded, dict):
            raise MalformedInitData(f"The initData's {name!r} field is not a JSON object.")
        objects[name] = decoded
    can_send_after = fields.get("can_send_after")
    return WebAppInitData(
        fields=dict(fields),
        auth_date=auth_date,
        query_id=fields.get("query_id"),
        user=objects["user"],
        receiver=objects["receiver"],
        chat=objects["chat"],
        chat_type=fields.get("chat_type"),
        chat_instance=fields.get("chat_instance"),
        start_param=fields.get("start_param"),
        can_send_after=int(can_send_after) if can_send_after and can_send_after.isdigit() else None,
    )


def validate_init_data(
    init_data: str, token: str, *, max_age: float | None = DEFAULT_MAX_AGE, now: float | None = None
) -> WebAppInitData:
    """Check initData signed for the bot with ``token`` and return its fields.

    :param init_data: ``Telegram.WebApp.initData`` exactly as the page sent it.
    :param token: the bot token (the Web App must have been opened from this bot).
    :param max_age: seconds since ``auth_date`` after which the data is refused; ``None``
        accepts any age (only for data that cannot be replayed to harm anyone).
    :param now: the current Unix time, for tests.
    :raises MalformedInitData: not initData.
    :raises ForgedInitData: the hash does not match: changed, or from another bot.
    :raises StaleInitData: older than ``max_age``.
    """
    if not token:
        raise ValueError("validate_init_data() needs the bot token; set TELEGRAM_BOT_TOKEN.")
    fields = _parse(init_data)
    received = fields.get("hash")
    if not received:
        raise MalformedInitData("The initData has no hash; it did not come from Telegram.")
    expected = _hash(fields, token)
    if not hmac.compare_digest(expected.encode(), received.encode()):
        raise ForgedInitData(
            "The initData's hash does not match: it was changed, or the Web App was opened "
            "from another bot (check TELEGRAM_BOT_TOKEN)."
        )
    return _result(fields, _fresh(fields, max_age, now))


def validate_third_party(
    init_data: str,
    bot_id: int,
    *,
    max_age: float | None = DEFAULT_MAX_AGE,
    test_environment: bool = False,
    public_key: bytes | Ed25519PublicKey | None = None,
    now: float | None = None,
) -> WebAppInitData:
    """Check Telegram's Ed25519 ``signature`` of initData without the bot token.

    For a service that receives a Web App's initData for a bot it does not own.

    :param bot_id: the id of the bot the Web App belongs to (the digits before the token's
        colon).
    :param test_environment: the data comes from Telegram's test environment (its own key).
    :param public_key: another Ed25519 public key (32 raw bytes or a key object), for tests.
    :raises MalformedInitData: not initData, or no signature.
    :raises ForgedInitData: the signature does not match: changed, or another bot's.
    :raises StaleInitData: older than ``max_age``.
    """
    fields = _parse(init_data)
    signature = fields.get("signature")
    if not signature:
        raise MalformedInitData(
            "The initData has no signature; Telegram signs initData for third parties "
            "since Bot API 8.0."
        )
    if public_key is None:
        public_key = TEST_PUBLIC_KEY if test_environment else PRODUCTION_PUBLIC_KEY
    key = (
        public_key
        if isinstance(public_key, Ed25519PublicKey)
        else Ed25519PublicKey.from_public_bytes(public_key)
    )
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        key.verify(raw, _third_party_message(fields, int(bot_id)))
    except (InvalidSignature, ValueError):
        raise ForgedInitData(
            f"The initData's signature does not match for bot {int(bot_id)}: it was changed, "
            "belongs to another bot, or comes from the other environment (test_environment)."
        ) from None
    return _result(fields, _fresh(fields, max_age, now))


def sign_init_data(
    fields: Mapping[str, Any],
    token: str,
    *,
    auth_date: int | None = None,
    signing_key: Ed25519PrivateKey | None = None,
) -> str:
    """Make initData as Telegram does, for tests and offline demos.

    :param fields: ``query_id``, ``user`` (a dict, JSON-encoded here) and so on.
    :param token: the bot token whose key signs the ``hash``.
    :param auth_date: the Unix time it was "opened"; now by default.
    :param signing_key: also add an Ed25519 ``signature`` with this private key (Telegram's
        is secret: pass your own and give its public key to :func:`validate_third_party`).
    """
    encoded = {
        k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), ensure_ascii=False)
        for k, v in fields.items()
    }
    encoded["auth_date"] = str(int(time.time()) if auth_date is None else auth_date)
    if signing_key is not None:
        bot_id = int(token.split(":", 1)[0])
        signature = signing_key.sign(_third_party_message(encoded, bot_id))
        encoded["signature"] = base64.urlsafe_b64encode(signature).decode().rstrip("=")
    encoded["hash"] = _hash(encoded, token)
    return urlencode(encoded)


# -- protecting a Flask view -------------------------------------------------------------


def _sent_init_data() -> str:
    """initData from ``Authorization: tma <initData>``, else a form or JSON ``initData`` field."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == AUTH_SCHEME and value:
        return value.strip()
    if request.form.get("initData"):
        return request.form["initData"]
    body = request.get_json(silent=True)
    if isinstance(body, dict) and isinstance(body.get("initData"), str):
        return str(body["initData"])
    return ""


def _bot_token() -> str:
    token = get_state().settings.token
    if not token:
        raise RuntimeError(
            "init_data_required needs the bot token: set TELEGRAM_BOT_TOKEN and set up "
            "TelegramWebhook on this app, or pass token= to the decorator."
        )
    return str(token)


def _refuse(error: InitDataError) -> Response:
    response = jsonify(ok=False, error=error.reason, description=str(error))
    response.status_code = 401
    response.headers["WWW-Authenticate"] = AUTH_SCHEME
    return response


@overload
def init_data_required(view: V, /) -> V: ...
@overload
def init_data_required(
    *, max_age: float | None = ..., token: str | Callable[[], str] | None = ...
) -> Callable[[V], V]: ...
def init_data_required(
    view: Any = None,
    /,
    *,
    max_age: float | None = DEFAULT_MAX_AGE,
    token: str | Callable[[], str] | None = None,
) -> Any:
    """Run the view only for requests that carry valid, fresh initData; 401 otherwise.

    The page sends ``Telegram.WebApp.initData`` as ``Authorization: tma <initData>`` (or a
    form or JSON field ``initData``). The view reads the checked data with
    :func:`current_init_data`. A refused request gets 401 with a JSON body
    ``{"ok": false, "error": "forged" | "stale" | "malformed", "description": ...}``.

    :param max_age: see :func:`validate_init_data`.
    :param token: the bot token, or a function returning it; by default the current app's
        ``TELEGRAM_BOT_TOKEN``.
    """

    def decorator(fn: V) -> V:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bot_token = token() if callable(token) else token or _bot_token()
            try:
                g.tg_init_data = validate_init_data(_sent_init_data(), bot_token, max_age=max_age)
            except InitDataError as exc:
                current_app.logger.info("Refused a Web App request: %s", exc)
                return _refuse(exc)
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator(view) if view is not None else decorator


def current_init_data() -> WebAppInitData:
    """The initData :func:`init_data_required` checked for this request."""
    data: WebAppInitData | None = g.get("tg_init_data")
    if data is None:
        raise RuntimeError(
            "No checked initData in this request: decorate the view with @init_data_required."
        )
    return data
