"""Webhooks from other services: signed per-user links that reach a bot command.

``tg.external_url("paid", user_id=42)`` makes an absolute https link; a payment provider, a
form or CI calls it with GET or POST, and ``@tg.external("paid")`` handles the call for that
user. See ``docs/external.rst``.
"""

from __future__ import annotations

from .hooks import ExternalCall, ExternalFn, ExternalHook, ExternalHooks, ExternalLinks
from .links import send_external_link
from .ratelimit import RateLimiter
from .settings import ExternalSettings, ExternalState
from .signing import ExpiredLink, LinkClaims, LinkError, dump_token, load_token, signing_keys
from .views import make_external_blueprint

__all__ = [
    "ExpiredLink",
    "ExternalCall",
    "ExternalFn",
    "ExternalHook",
    "ExternalHooks",
    "ExternalLinks",
    "ExternalSettings",
    "ExternalState",
    "LinkClaims",
    "LinkError",
    "RateLimiter",
    "dump_token",
    "load_token",
    "make_external_blueprint",
    "send_external_link",
    "signing_keys",
]
