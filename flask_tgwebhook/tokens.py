"""The bot token's shape, and the one sentence said when a token is missing or malformed."""

from __future__ import annotations

import re

__all__ = ["NO_TOKEN", "TOKEN_RE", "bot_id", "check_token"]

#: A bot token as @BotFather hands it out: the bot id, a colon, the secret.
TOKEN_RE = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")

#: Said wherever a Bot API call needs a token and none is configured.
NO_TOKEN = (
    "No bot token: set TELEGRAM_BOT_TOKEN (the app's config or the environment) to the "  # noqa: S105
    "token @BotFather gave you."
)

_MALFORMED = (
    "{source} does not look like a bot token (digits, a colon, then letters, digits, '_' or "
    "'-'). Copy it again from @BotFather."
)


def check_token(token: str, source: str = "TELEGRAM_BOT_TOKEN") -> str:
    """Return ``token`` if it is shaped like a bot token; else ``ValueError`` saying the fix.

    The message names ``source`` (where the token came from) and never repeats the token.
    """
    if not TOKEN_RE.fullmatch(token):
        raise ValueError(_MALFORMED.format(source=source))
    return token


def bot_id(token: str) -> int:
    """The bot's numeric id: the public part of its token."""
    return int(token.split(":", 1)[0])
