"""The parameter mistakes the emulator refuses the way Telegram does.

Only the checks that need no knowledge of real chats and messages, and that a handler easily
gets wrong: a missing ``chat_id``, an empty or over-long message text. Anything subtler is
answered as if it had worked.
"""

from __future__ import annotations

from typing import Any

#: Telegram's limit on a message's text, in characters after entities are parsed.
MAX_MESSAGE_LENGTH = 4096
#: ... and on a media caption.
MAX_CAPTION_LENGTH = 1024

# Methods whose chat_id Telegram resolves before anything else.
_CHAT_METHODS = frozenset(
    {
        "forwardmessage",
        "forwardmessages",
        "copymessage",
        "copymessages",
        "deletemessage",
        "deletemessages",
        "getchat",
        "getchatmember",
        "getchatadministrators",
        "getchatmembercount",
        "leavechat",
        "pinchatmessage",
        "unpinchatmessage",
        "unpinallchatmessages",
        "banchatmember",
        "unbanchatmember",
        "restrictchatmember",
        "promotechatmember",
        "setchattitle",
        "setchatdescription",
        "setchatpermissions",
        "exportchatinvitelink",
        "createchatinvitelink",
        "approvechatjoinrequest",
        "declinechatjoinrequest",
    }
)
# send* methods that may go to a user_id instead of a chat_id.
_NOT_TO_A_CHAT = frozenset({"sendgift"})


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_params(method: str, params: dict[str, Any]) -> str | None:
    """Telegram's ``description`` for what is wrong with the call, or None.

    :param method: the lower-cased method name.
    """
    needs_chat = method in _CHAT_METHODS or (
        method.startswith("send") and method not in _NOT_TO_A_CHAT
    )
    if needs_chat and _empty(params.get("chat_id")):
        return "Bad Request: chat_id is empty"
    if method == "sendmessage" or method == "editmessagetext":
        text = params.get("text")
        if _empty(text):
            return "Bad Request: message text is empty"
        if len(str(text)) > MAX_MESSAGE_LENGTH:
            return "Bad Request: message is too long"
    caption = params.get("caption")
    is_captioned = method.startswith(("send", "editmessagecaption"))
    if is_captioned and caption is not None and len(str(caption)) > MAX_CAPTION_LENGTH:
        return "Bad Request: message caption is too long"
    return None
