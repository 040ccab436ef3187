"""Webhooks from other services: signed per-user links that reach a bot command.

``tg.external_url("paid", user_id=42)`` makes an absolute https link; a payment provider, a
form or CI calls it with GET or POST, and ``@tg.external("paid")`` handles the call for that
user. See ``docs/external.rst``.

Four modules, one noun each: :mod:`.signing` (the token), :mod:`.registry` (commands, links,
each app's :class:`LinkState`), :mod:`.views` (the route) and :mod:`.ratelimit`.
"""

from __future__ import annotations

from .ratelimit import RateLimiter
from .registry import ExternalCall, ExternalHooks, LinkState, send_external_link
from .signing import ExpiredLink, LinkClaims, LinkError, dump_token, load_token, signing_keys

__all__ = [
    "ExpiredLink",
    "ExternalCall",
    "ExternalHooks",
    "LinkClaims",
    "LinkError",
    "LinkState",
    "RateLimiter",
    "dump_token",
    "load_token",
    "send_external_link",
    "signing_keys",
]
