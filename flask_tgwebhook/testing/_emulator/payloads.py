"""One builder per Update field of the Bot API: the payload object each type carries."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .objects import BOT_USER, make_chat, make_message, make_user, next_message_id, next_query_id


class PayloadArgs:
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


def _message(a: PayloadArgs) -> dict[str, Any]:
    return make_message(a.text, chat_id=a.chat_id, user_id=a.user_id, chat_type=a.chat_type)


def _edited_message(a: PayloadArgs) -> dict[str, Any]:
    message = _message(a)
    message["edit_date"] = message["date"]
    return message


def _business_message(a: PayloadArgs) -> dict[str, Any]:
    message = _message(a)
    message["business_connection_id"] = "fake-business-connection"
    return message


def _edited_business_message(a: PayloadArgs) -> dict[str, Any]:
    message = _business_message(a)
    message["edit_date"] = message["date"]
    return message


def _guest_message(a: PayloadArgs) -> dict[str, Any]:
    message = _message(a)
    message["guest_query_id"] = next_query_id()
    return message


def _business_connection(a: PayloadArgs) -> dict[str, Any]:
    return {
        "id": "fake-business-connection",
        "user": a.user(),
        "user_chat_id": a.user_id,
        "date": int(time.time()),
        "is_enabled": True,
    }


def _deleted_business_messages(a: PayloadArgs) -> dict[str, Any]:
    return {
        "business_connection_id": "fake-business-connection",
        "chat": a.chat(),
        "message_ids": [next_message_id()],
    }


def _message_reaction(a: PayloadArgs) -> dict[str, Any]:
    return {
        "chat": a.chat(),
        "message_id": next_message_id(),
        "user": a.user(),
        "date": int(time.time()),
        "old_reaction": [],
        "new_reaction": [{"type": "emoji", "emoji": a.text or "\N{THUMBS UP SIGN}"}],
    }


def _message_reaction_count(a: PayloadArgs) -> dict[str, Any]:
    return {
        "chat": a.chat(),
        "message_id": next_message_id(),
        "date": int(time.time()),
        "reactions": [
            {"type": {"type": "emoji", "emoji": a.text or "\N{THUMBS UP SIGN}"}, "total_count": 1}
        ],
    }


def _inline_query(a: PayloadArgs) -> dict[str, Any]:
    return {
        "id": next_query_id(),
        "from": a.user(),
        "query": a.text or "",
        "offset": "",
        "chat_type": "sender" if a.chat_type == "private" else a.chat_type,
    }


def _chosen_inline_result(a: PayloadArgs) -> dict[str, Any]:
    return {"result_id": a.data or "1", "from": a.user(), "query": a.text or ""}


def _callback_query(a: PayloadArgs) -> dict[str, Any]:
    # The button sits under a message the bot sent earlier.
    message = make_message(
        a.text or "Choose:",
        chat_id=a.chat_id,
        user_id=a.user_id,
        chat_type=a.chat_type,
        from_user=dict(BOT_USER),
    )
    return {
        "id": next_query_id(),
        "from": a.user(),
        "message": message,
        "chat_instance": str(-8_000_000_000_000_000_000 + a.chat_id),
        "data": a.data if a.data is not None else "data",
    }


def _shipping_query(a: PayloadArgs) -> dict[str, Any]:
    return {
        "id": next_query_id(),
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


def _pre_checkout_query(a: PayloadArgs) -> dict[str, Any]:
    return {
        "id": next_query_id(),
        "from": a.user(),
        "currency": "XTR",
        "total_amount": 100,
        "invoice_payload": a.data or "payload",
    }


def _purchased_paid_media(a: PayloadArgs) -> dict[str, Any]:
    return {"from": a.user(), "paid_media_payload": a.data or "payload"}


def _poll(a: PayloadArgs) -> dict[str, Any]:
    return {
        "id": next_query_id(),
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


def _poll_answer(a: PayloadArgs) -> dict[str, Any]:
    return {
        "poll_id": a.data or "1",
        "user": a.user(),
        "option_ids": [0],
        "option_persistent_ids": ["0"],
    }


def _chat_member_updated(a: PayloadArgs) -> dict[str, Any]:
    return {
        "chat": a.chat(),
        "from": a.user(),
        "date": int(time.time()),
        "old_chat_member": {"status": "left", "user": dict(BOT_USER)},
        "new_chat_member": {"status": "member", "user": dict(BOT_USER)},
    }


def _chat_join_request(a: PayloadArgs) -> dict[str, Any]:
    return {
        "chat": a.chat(),
        "from": a.user(),
        "user_chat_id": a.user_id,
        "date": int(time.time()),
    }


def _boost_source(a: PayloadArgs) -> dict[str, Any]:
    return {"source": "premium", "user": a.user()}


def _chat_boost(a: PayloadArgs) -> dict[str, Any]:
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


def _removed_chat_boost(a: PayloadArgs) -> dict[str, Any]:
    return {
        "chat": a.chat(),
        "boost_id": a.data or "boost-1",
        "remove_date": int(time.time()),
        "source": _boost_source(a),
    }


def _managed_bot(a: PayloadArgs) -> dict[str, Any]:
    return {
        "user": a.user(),
        "bot": {"id": 654321, "is_bot": True, "first_name": "Managed", "username": "managed_bot"},
    }


#: One builder per Update field of the Bot API, in the spec's order.
UPDATE_BUILDERS: dict[str, Callable[[PayloadArgs], dict[str, Any]]] = {
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
DEFAULT_CHAT_TYPES = {
    "channel_post": "channel",
    "edited_channel_post": "channel",
    "message_reaction_count": "supergroup",
    "chat_member": "supergroup",
    "chat_join_request": "supergroup",
    "chat_boost": "channel",
    "removed_chat_boost": "channel",
}
