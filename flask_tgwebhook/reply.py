"""Answering an update in the webhook response body instead of with a separate API call."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any


class Reply:
    """A Bot API call that Telegram executes when it reads our webhook response.

    Saves one round trip per update, but Telegram does not say whether it worked, and
    files cannot be uploaded this way.
    """

    __slots__ = ("method", "params")

    def __init__(self, method: str, params: dict[str, Any]) -> None:
        self.method = method
        self.params = params

    def to_json(self) -> str:
        return json.dumps({"method": self.method, **self.params}, separators=(",", ":"))

    def __repr__(self) -> str:
        return f"reply({self.method!r}, ...)"


def reply(method: str, **params: Any) -> Reply:
    """Build a webhook reply: ``return reply("sendMessage", chat_id=chat_id, text="hi")``.

    Parameters that are ``None`` are left out, like in :meth:`Bot.call`.
    """
    for name, value in params.items():
        if isinstance(value, bytes | bytearray | io.IOBase | Path):
            raise TypeError(
                f"A webhook reply can't upload a file ({name!r}); call tg.bot.{method}(...) "
                "from the handler instead, or pass a file_id or URL string."
            )
    return Reply(method, {k: v for k, v in params.items() if v is not None})
