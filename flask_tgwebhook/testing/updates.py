"""Builders for realistic update dicts, one for every Update field of the Bot API.

A test says what matters (``make_update("callback_query", data="yes")``) and gets an object
shaped like the one Telegram sends: ids, dates, ``from``, ``chat`` and a ``bot_command``
entity when the text is a command.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "BOT_USER",
    "UPDATE_BUILDERS",
    "make_chat",
    "make_message",
    "make_update",
    "make_user",
    "next_update_id",
]

#: The bot the default fake token belongs to (what the emulator's getMe answers).
BOT_USER: dict[str, Any] = {
    "id": 123456,
    "is_bot": True,
    "first_name": "Fake Test Bot",
    "username": "fake_test_bot",
}

_lock = threading.Lock()
_update_ids = itertools.count(100_000_001)
_message_ids = itertools.count(1)
_query_ids = itertools.count(1)


def next_update_id() -> int:
    """A fresh update id, increasing across threads like Telegram's."""
    with _lock:
        return next(_update_ids)


def _next_message_id() -> int:
    with _lock:
        return next(_message_ids)


def _next_query_id() -> str:
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
        "message_id": message_id if message_id is not None else _next_message_id(),
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


class _Args:
    """What a builder may use; every builder takes the same arguments."""

    __slots__ = ("chat_id", "chat_type", "data", "text", "user_id")

    def __init__(
        self, text: str | None, data: str | None, chat_id: int, user_id: int, chat_type: str
    ) -> None:
        self.text = text
        self.data = data
        self.chat_id = chat_id
        self.user_id = user_id
        self.chat_type = chat_type

    def chat(self) -> dict[str, Any]:
        return make_chat(self.chat_id, self.chat_type)

    def user(self) -> dict[str, Any]:
        return make_user(self.user_id)


def _message(a: _Args) -> dict[str, Any]:
    return make_message(a.text, chat_id=a.chat_id, user_id=a.user_id, chat_type=a.chat_type)


def _edited_message(a: _Args) -> dict[str, Any]:
    message = _message(a)
    message["edit_date"] = message["date"]
    return message


def _business_message(a: _Args) -> dict[str, Any]:
    message = _message(a)
    message["business_connection_id"] = "fake-business-connection"
    return message


def _edited_business_message(a: _Args) -> dict[str, Any]:
    message = _business_message(a)
    message["edit_date"] = message["date"]
    return message


def _guest_message(a: _Args) -> dict[str, Any]:
    message = _message(a)
    message["guest_query_id"] = _next_query_id()
    return message


def _business_connection(a: _Args) -> dict[str, Any]:
    return {
        "id": "fake-business-connection",
        "user": a.user(),
        "user_chat_id": a.user_id,
        "date": int(time.time()),
        "is_enabled": True,
    }


def _deleted_business_messages(a: _Args) -> dict[str, Any]:
    return {
        "business_connection_id": "fake-business-connection",
        "chat": a.chat(),
        "message_ids": [_next_message_id()],
    }


def _message_reaction(a: _Args) -> dict[str, Any]:
    return {
        "chat": a.chat(),
        "message_id": _next_message_id(),
        "user": a.user(),
        "date": int(time.time()),
        "old_reaction": [],
        "new_reaction": [{"type": "emoji", "emoji": a.text or "\N{THUMBS UP SIGN}"}],
    }


def _message_reaction_count(a: _Args) -> dict[str, Any]:
    return {
        "chat": a.chat(),
        "message_id": _next_message_id(),
        "date": int(time.time()),
        "reactions": [
            {"type": {"type": "emoji", "emoji": a.text or "\N{THUMBS UP SIGN}"}, "total_count": 1}
        ],
    }


def _inline_query(a: _Args) -> dict[str, Any]:
    return {
        "id": _next_query_id(),
        "from": a.user(),
        "query": a.text or "",
        "offset": "",
        "chat_type": "sender" if a.chat_type == "private" else a.chat_type,
    }


def _chosen_inline_result(a: _Args) -> dict[str, Any]:
    return {"result_id": a.data or "1", "from": a.user(), "query": a.text or ""}


def _callback_query(a: _Args) -> dict[str, Any]:
    # The button sits under a message the bot sent earlier.
    message = make_message(
        a.text or "Choose:",
        chat_id=a.chat_id,
        user_id=a.user_id,
        chat_type=a.chat_type,
        from_user=dict(BOT_USER),
    )
    return {
        "id": _next_query_id(),
        "from": a.user(),
        "message": message,
        "chat_instance": str(-8_000_000_000_000_000_000 + a.chat_id),
        "data": a.data if a.data is not None else "data",
    }


def _shipping_query(a: _Args) -> dict[str, Any]:
    return {
        "id": _next_query_id(),
        "from": a.user(),
        "invoice_payload": a.data or "payload",
        "shipping_address": {
            "country_code": "NL",
            "state": "",
            "city": "Amsterdam",
            "street_line1": "Dam 1",
            "street_line2": "",
            "post_code": "1012 JS",
        },
    }


def _pre_checkout_query(a: _Args) -> dict[str, Any]:
    return {
        "id": _next_query_id(),
        "from": a.user(),
        "currency": "XTR",
        "total_amount": 100,
        "invoice_payload": a.data or "payload",
    }


def _purchased_paid_media(a: _Args) -> dict[str, Any]:
    return {"from": a.user(), "paid_media_payload": a.data or "payload"}


def _poll(a: _Args) -> dict[str, Any]:
    return {
        "id": _next_query_id(),
        "question": a.text or "Yes or no?",
        "options": [
            {"persistent_id": "0", "text": "Yes", "voter_count": 1},
            {"persistent_id": "1", "text": "No", "voter_count": 0},
        ],
        "total_voter_count": 1,
        "is_closed": False,
        "is_anonymous": True,
        "type": "regular",
        "allows_multiple_answers": False,
        "allows_revoting": True,
        "members_only": False,
    }


def _poll_answer(a: _Args) -> dict[str, Any]:
    return {
        "poll_id": a.data or "1",
        "user": a.user(),
        "option_ids": [0],
        "option_persistent_ids": ["0"],
    }


def _chat_member_updated(a: _Args) -> dict[str, Any]:
    return {
        "chat": a.chat(),
        "from": a.user(),
        "date": int(time.time()),
        "old_chat_member": {"status": "left", "user": dict(BOT_USER)},
        "new_chat_member": {"status": "member", "user": dict(BOT_USER)},
    }


def _chat_join_request(a: _Args) -> dict[str, Any]:
    return {
        "chat": a.chat(),
        "from": a.user(),
        "user_chat_id": a.user_id,
        "date": int(time.time()),
    }


def _boost_source(a: _Args) -> dict[str, Any]:
    return {"source": "premium", "user": a.user()}


def _chat_boost(a: _Args) -> dict[str, Any]:
    now = int(time.time())
    return {
        "chat": a.chat(),
        "boost": {
            "boost_id": a.data or "boost-1",
            "add_date": now,
            "expiration_date": now + 30 * 86_400,
            "source": _boost_source(a),
        },
    }


def _removed_chat_boost(a: _Args) -> dict[str, Any]:
    return {
        "chat": a.chat(),
        "boost_id": a.data or "boost-1",
        "remove_date": int(time.time()),
        "source": _boost_source(a),
    }


def _managed_bot(a: _Args) -> dict[str, Any]:
    return {
        "user": a.user(),
        "bot": {"id": 654321, "is_bot": True, "first_name": "Managed", "username": "managed_bot"},
    }


#: One builder per Update field of the Bot API, in the spec's order.
UPDATE_BUILDERS: dict[str, Callable[[_Args], dict[str, Any]]] = {
    "message": _message,
    "edited_message": _edited_message,
    "channel_post": _message,
    "edited_channel_post": _edited_message,
    "business_connection": _business_connection,
    "business_message": _business_message,
    "edited_business_message": _edited_business_message,
    "deleted_business_messages": _deleted_business_messages,
    "guest_message": _guest_message,
    "message_reaction": _message_reaction,
    "message_reaction_count": _message_reaction_count,
    "inline_query": _inline_query,
    "chosen_inline_result": _chosen_inline_result,
    "callback_query": _callback_query,
    "shipping_query": _shipping_query,
    "pre_checkout_query": _pre_checkout_query,
    "purchased_paid_media": _purchased_paid_media,
    "poll": _poll,
    "poll_answer": _poll_answer,
    "my_chat_member": _chat_member_updated,
    "chat_member": _chat_member_updated,
    "chat_join_request": _chat_join_request,
    "chat_boost": _chat_boost,
    "removed_chat_boost": _removed_chat_boost,
    "managed_bot": _managed_bot,
}

# Where a private chat would be unrealistic, the chat type a test gets when it names none.
_DEFAULT_CHAT_TYPES = {
    "channel_post": "channel",
    "edited_channel_post": "channel",
    "message_reaction_count": "supergroup",
    "chat_member": "supergroup",
    "chat_join_request": "supergroup",
    "chat_boost": "channel",
    "removed_chat_boost": "channel",
}


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
        chat_type = _DEFAULT_CHAT_TYPES.get(update_type, "private")
    payload = builder(_Args(text, data, chat_id, user_id, chat_type))
    payload.update(fields)
    return {
        "update_id": update_id if update_id is not None else next_update_id(),
        update_type: payload,
    }
