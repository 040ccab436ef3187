"""Builders for realistic update dicts, one for every Update field of the Bot API.

A test says what matters (``make_update("callback_query", data="yes")``) and gets an object
shaped like the one Telegram sends: ids, dates, ``from``, ``chat`` and a ``bot_command``
entity when the text is a command.
"""

from __future__ import annotations

from typing import Any

from ._emulator.objects import BOT_USER, make_chat, make_message, make_user, next_update_id
from ._emulator.payloads import DEFAULT_CHAT_TYPES, UPDATE_BUILDERS, PayloadArgs

__all__ = [
    "BOT_USER",
    "UPDATE_BUILDERS",
    "make_chat",
    "make_message",
    "make_update",
    "make_user",
    "next_update_id",
]


def make_update(
    update_type: str = "message",
    *,
    text: str | None = None,
    data: str | None = None,
    chat_id: int = 1001,
    user_id: int = 1001,
    chat_type: str | None = None,
    update_id: int | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Build an update of ``update_type`` as Telegram would send it.

    :param update_type: any Update field of the Bot API (``message``, ``callback_query``, ...).
    :param text: a message's text (a command gets its entity), a callback's message text, an
        inline query's query, a poll's question, a reaction's emoji.
    :param data: a callback query's ``data`` (also payloads and ids of other types).
    :param chat_type: ``private`` unless the type needs otherwise (channel posts: ``channel``;
        chat member updates and join requests: ``supergroup``).
    :param update_id: fixed id, for redelivery tests; by default a fresh increasing one.
    :param fields: merged into the payload object, replacing what the builder made.
    :raises ValueError: for an update type this version does not know.
    """
    builder = UPDATE_BUILDERS.get(update_type)
    if builder is None:
        raise ValueError(
            f"Unknown update type {update_type!r}: use one of {', '.join(UPDATE_BUILDERS)}, "
            "or write the dict yourself for a type newer than this version."
        )
    if chat_type is None:
        chat_type = DEFAULT_CHAT_TYPES.get(update_type, "private")
    payload = builder(PayloadArgs(text, data, chat_id, user_id, chat_type))
    payload.update(fields)
    return {
        "update_id": update_id if update_id is not None else next_update_id(),
        update_type: payload,
    }
