"""The signed token in an external link: what it protects and how it is checked.

The token is an itsdangerous ``URLSafeSerializer`` dump, salted for this purpose only, of
the bot id, the command, the user id, the extras and an optional absolute expiry. A session
cookie signed with the same ``SECRET_KEY`` can therefore never pass for a link, and a link
made for another bot is refused even when two bots share a key.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from itsdangerous import BadData, URLSafeSerializer, want_bytes

#: Salt of the serializer; bump the version to invalidate every link ever handed out.
SALT = "flask_tgwebhook.external-link.v1"

#: Longer tokens are refused before any cryptography is done.
MAX_TOKEN_LENGTH = 4096


class LinkError(Exception):
    """An external link's token can't be trusted (the route answers 403)."""


class ExpiredLink(LinkError):
    """The token is genuine but its expiry has passed (the route answers 410)."""


@dataclass(frozen=True)
class LinkClaims:
    """What a token says, once its signature is verified.

    :param bot_id: the numeric part of the bot token the link was made for.
    :param command: the external command the link calls.
    :param user_id: the Telegram user the link belongs to; ``None`` for a bot-wide hook.
    :param extra: JSON values signed into the link along with the rest.
    :param expires_at: Unix time after which the link answers 410; ``None`` never expires.
    """

    bot_id: int | None
    command: str
    user_id: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    expires_at: int | None = None

    def to_payload(self) -> dict[str, Any]:
        # Short keys keep the URL short; empty parts are left out for the same reason.
        payload: dict[str, Any] = {"b": self.bot_id, "c": self.command, "u": self.user_id}
        if self.extra:
            payload["x"] = dict(self.extra)
        if self.expires_at is not None:
            payload["e"] = self.expires_at
        return payload

    @classmethod
    def from_payload(cls, payload: Any) -> LinkClaims:
        """Rebuild claims from a verified payload; anything unexpected is a :class:`LinkError`."""
        if not isinstance(payload, dict) or not set(payload) <= {"b", "c", "u", "x", "e"}:
            raise LinkError("The link's payload has an unknown shape.")
        bot_id, command = payload.get("b"), payload.get("c")
        user_id, extra, expires = payload.get("u"), payload.get("x", {}), payload.get("e")
        if (
            not _optional_int(bot_id)
            or not isinstance(command, str)
            or not _optional_int(user_id)
            or not isinstance(extra, dict)
            or not _optional_int(expires)
        ):
            raise LinkError("The link's payload has an unknown shape.")
        return cls(bot_id, command, user_id, extra, expires)


def _optional_int(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def signing_keys(config: Mapping[str, Any]) -> list[bytes]:
    """``SECRET_KEY_FALLBACKS`` then ``SECRET_KEY``: itsdangerous signs with the last key and
    verifies with any, so old links keep working while keys rotate."""
    key = config.get("SECRET_KEY")
    if not key:
        raise RuntimeError(
            "External links are signed with the app's SECRET_KEY, which is not set. Set "
            "app.config['SECRET_KEY'] to a long random value, the same on every worker."
        )
    # Fallbacks are listed newest first; itsdangerous tries keys from the end of the list.
    return [want_bytes(k) for k in (*reversed(key_fallbacks(config)), key)]


def key_fallbacks(config: Mapping[str, Any]) -> list[Any]:
    """``SECRET_KEY_FALLBACKS`` as a list; a lone string is refused with the fix.

    ``FLASK_SECRET_KEY_FALLBACKS=old-key`` read by ``app.config.from_prefixed_env()`` is
    such a string, and iterating it would make every character a signing key.
    """
    fallbacks = config.get("SECRET_KEY_FALLBACKS") or []
    if isinstance(fallbacks, str | bytes):
        # The value is a secret: the message never repeats it.
        raise RuntimeError(
            "SECRET_KEY_FALLBACKS must be a list of old keys, not a string (each character "
            "would verify links as a key of its own). Write SECRET_KEY_FALLBACKS = ['old key'] "
            "in the config, or FLASK_SECRET_KEY_FALLBACKS='[\"old key\"]' (a JSON list) in "
            "the environment read by app.config.from_prefixed_env()."
        )
    return list(fallbacks)


def _serializer(keys: list[bytes]) -> URLSafeSerializer:
    return URLSafeSerializer(keys, salt=SALT, signer_kwargs={"digest_method": hashlib.sha256})


def dump_token(keys: list[bytes], claims: LinkClaims) -> str:
    """Sign ``claims`` with the last of ``keys``; the result is safe in a URL path segment."""
    try:
        return _serializer(keys).dumps(claims.to_payload())
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "The extras of an external link must be JSON values (str, int, float, bool, None, "
            f"lists and dicts of them): {exc}"
        ) from None


def load_token(keys: list[bytes], token: str, *, now: float | None = None) -> LinkClaims:
    """Verify ``token`` with any of ``keys`` and return its claims.

    :raises LinkError: tampered, signed with an unknown key, or not a link token at all.
    :raises ExpiredLink: genuine but past its expiry (checked only after the signature).
    """
    if len(token) > MAX_TOKEN_LENGTH:
        raise LinkError("The link's token is too long.")
    try:
        payload = _serializer(keys).loads(token)
    except BadData:
        raise LinkError("The link's signature does not match.") from None
    claims = LinkClaims.from_payload(payload)
    if claims.expires_at is not None and claims.expires_at <= (time.time() if now is None else now):
        raise ExpiredLink("The link has expired.")
    return claims


def expiry(expires_in: float | timedelta | None, *, now: float | None = None) -> int | None:
    """The absolute expiry (Unix time) of a link valid ``expires_in`` seconds from ``now``."""
    if expires_in is None:
        return None
    if isinstance(expires_in, timedelta):
        expires_in = expires_in.total_seconds()
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        raise ValueError(f"expires_in must be a positive number of seconds, got {expires_in!r}.")
    return math.ceil((time.time() if now is None else now) + expires_in)


def claims_digest(claims: LinkClaims) -> str:
    """A short stable name for what a link says, for its rate limit.

    Taken from the verified claims, not the token's text: base64 decoding forgives
    padding, stray characters and unused bits, so one link has many spellings that all
    verify, and each would otherwise get a budget of its own.
    """
    canonical = json.dumps(claims.to_payload(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
