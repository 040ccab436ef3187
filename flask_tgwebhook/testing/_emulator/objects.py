"""The Bot API objects updates are made of: users, chats, messages, and fresh ids."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

#: The bot the default fake token belongs to (what the emulator's getMe answers).
BOT_USER: dict[str, Any] = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Fake Test Bot",
    "username": "fake_test_bot",
}

_lock = threading.Lock()


def _first_update_id() -> int:
    """Where this process's update ids start: later for every later run.

    Telegram's ids keep increasing for a bot across restarts, and an app's store (an SQLite
    file by default) remembers handled ids, so a second run starting at the same number would
    see its updates as redeliveries. Twenty ids per second of wall time, within int32.
    """
    return 100_000_000 + int(time.time() * 20) % 2_000_000_000


_update_ids = itertools.count(_first_update_id())
_message_ids = itertools.count(1)
_query_ids = itertools.count(1)


def next_update_id() -> int:
    """A fresh update id, increasing across threads like Telegram's."""
    with _lock:
        return next(_update_ids)


def next_message_id() -> int:
    with _lock:
        return next(_message_ids)


def next_query_id() -> str:
    with _lock:
        return str(4_382_000_000_000_000_000 + next(_query_ids))


def make_user(user_id: int = 1001, **fields: Any) -> dict[str, Any]:
    """A human User; ``fields`` override or add to it."""
    user: dict[str, Any] = {
        "id": user_id,
        "is_bot": False,
        "first_name": "Test",
        "last_name": "User",
        "username": f"user{user_id}",
        "language_code": "en",
    }
    user.update(fields)
    return user


def make_chat(chat_id: int = 1001, chat_type: str = "private", **fields: Any) -> dict[str, Any]:
    """A Chat of ``chat_type`` (private, group, supergroup or channel)."""
    chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
    if chat_type == "private":
        chat.update(first_name="Test", last_name="User", username=f"user{chat_id}")
    else:
        chat["title"] = f"Test {chat_type}"
    chat.update(fields)
    return chat


def _command_entities(text: str) -> list[dict[str, Any]]:
    if not text.startswith("/") or len(text) < 2 or text[1].isspace():
        return []
    length = len(text.split(None, 1)[0])
    # Telegram counts entity offsets in UTF-16 code units.
    utf16 = len(text[:length].encode("utf-16-le")) // 2
    return [{"type": "bot_command", "offset": 0, "length": utf16}]


def make_message(
    text: str | None = None,
    *,
    chat_id: int = 1001,
    user_id: int = 1001,
    chat_type: str = "private",
    message_id: int | None = None,
    from_user: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A Message in ``chat_id`` from ``user_id`` (channel posts have no ``from``).

    A text starting with ``/`` gets the ``bot_command`` entity Telegram adds.
    """
    message: dict[str, Any] = {
        "message_id": message_id if message_id is not None else next_message_id(),
    }
    if chat_type == "channel":
        message["sender_chat"] = make_chat(chat_id, "channel")
    else:
        message["from"] = from_user if from_user is not None else make_user(user_id)
    message["chat"] = make_chat(chat_id, chat_type)
    message["date"] = int(time.time())
    if text is not None:
        message["text"] = text
        entities = _command_entities(text)
        if entities:
            message["entities"] = entities
    message.update(fields)
    return message
