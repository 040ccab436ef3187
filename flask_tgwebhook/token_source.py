"""Where the bot token came from: the app's config or the environment.

``TELEGRAM_BOT_TOKEN`` in the app's config beats the environment variable of the same name.
When the two differ, exporting a new token does nothing, and a refused token's error must
say which one Telegram was shown: :func:`token_source` tells.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TokenSource", "refused_token", "token_source"]

KEY = "TELEGRAM_BOT_TOKEN"


@dataclass(frozen=True)
class TokenSource:
    """Which token is used, in words, and whether it hides another one."""

    #: ``"the environment variable TELEGRAM_BOT_TOKEN"`` or ``"the app's config ..."``.
    where: str
    #: The config's token is used while the environment holds a different one.
    shadowed: bool = False


def token_source(
    config: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> TokenSource:
    """Where ``config``'s token comes from (after ``init_app`` filled it from the environment)."""
    env = os.environ if environ is None else environ
    configured, exported = config.get(KEY), env.get(KEY)
    if exported and (not configured or configured == exported):
        return TokenSource(f"the environment variable {KEY}")
    if configured:
        return TokenSource(f"the app's config ({KEY})", shadowed=bool(exported))
    return TokenSource(f"nowhere ({KEY} is set neither in the app's config nor the environment)")


def refused_token(
    config: Mapping[str, Any],
    bot_id: int | None,
    error: str,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The sentence for a token Telegram refused (``error``: its code and words, redacted)."""
    where = token_source(config, environ).where
    return (
        f"Telegram does not accept the token of bot {bot_id} from {where} ({error}): the "
        f"token is wrong or was revoked. Copy it again from @BotFather into {where}, and "
        "check TELEGRAM_API_URL."
    )
