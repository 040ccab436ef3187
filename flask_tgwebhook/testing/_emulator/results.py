"""Plausible results for Bot API methods the emulator has no special rules for.

A handler that calls ``tg.bot.send_message(...)`` gets back what Telegram would send: a
Message with a fresh id, the chat and the text. Methods nobody reads the result of answer
``True``, as most of Telegram's do.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import zlib
from typing import Any

from .objects import make_user

# send* methods whose Message carries a media object under this field.
_MEDIA_FIELDS = {
    "sendphoto": "photo",
    "senddocument": "document",
    "sendaudio": "audio",
    "sendvideo": "video",
    "sendanimation": "animation",
    "sendvoice": "voice",
    "sendvideonote": "video_note",
    "sendsticker": "sticker",
    "sendlocation": "location",
    "sendvenue": "venue",
    "sendcontact": "contact",
    "senddice": "dice",
    "sendpoll": "poll",
    "sendinvoice": "invoice",
    "sendpaidmedia": "paid_media",
    "sendchecklist": "checklist",
}

# What getMe adds to the bot's User.
_BOT_CAPABILITIES = {
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}

# Fields a sent Message echoes from the call's parameters.
_ECHOED = ("text", "caption", "message_thread_id", "business_connection_id", "has_spoiler")


def parse_json_param(value: Any) -> Any:
    """A parameter Telegram takes JSON-serialized (reply_markup, media, ...), decoded.

    Form and query values arrive as strings; JSON bodies may carry the object itself.
    """
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def make_result_chat(chat_id: Any) -> dict[str, Any]:
    """The Chat Telegram would name for ``chat_id`` (an id or ``@channelusername``)."""
    numeric = _int_or_none(chat_id)
    if numeric is None:
        username = str(chat_id).lstrip("@") or "channel"
        fake_id = -1_000_000_000_000 - zlib.crc32(username.encode())
        return {"id": fake_id, "title": username, "username": username, "type": "channel"}
    if numeric > 0:
        name = f"user{numeric}"
        return {"id": numeric, "first_name": "Test", "username": name, "type": "private"}
    if numeric <= -1_000_000_000_000:
        return {"id": numeric, "title": "Test supergroup", "type": "supergroup"}
    return {"id": numeric, "title": "Test group", "type": "group"}


class ResultMaker:
    """Builds results for one emulated bot; message ids count up per emulator, thread-safely."""

    def __init__(self, bot_user: dict[str, Any]) -> None:
        self.bot_user = bot_user
        self._lock = threading.Lock()
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._commands: dict[str, Any] = {}

    def next_message_id(self) -> int:
        with self._lock:
            return next(self._message_ids)

    def _file(self, kind: str) -> dict[str, Any]:
        with self._lock:
            number = next(self._file_ids)
        return {
            "file_id": f"fake-{kind}-{number}",
            "file_unique_id": f"fake-unique-{number}",
            "file_size": 1024,
        }

    def message(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The Message a send*/edit*/forward* call returns."""
        message_id = _int_or_none(params.get("message_id"))
        if message_id is None or method.startswith(("send", "forward")):
            message_id = self.next_message_id()
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": dict(self.bot_user),
            "chat": make_result_chat(params.get("chat_id")),
            "date": int(time.time()),
        }
        if method.startswith("edit"):
            message["edit_date"] = message["date"]
        for name in _ECHOED:
            if name in params:
                message[name] = params[name]
        media = _MEDIA_FIELDS.get(method)
        if media is not None:
            message[media] = self._media(media, params)
        markup = parse_json_param(params.get("reply_markup"))
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # Telegram echoes inline keyboards only
        return message

    def _media(self, field: str, params: dict[str, Any]) -> Any:
        if field == "photo":
            return [dict(self._file("photo"), width=90, height=90)]
        if field == "location":
            return {"latitude": params.get("latitude"), "longitude": params.get("longitude")}
        if field == "contact":
            return {
                "phone_number": params.get("phone_number"),
                "first_name": params.get("first_name"),
            }
        if field == "dice":
            return {"emoji": params.get("emoji", "\N{GAME DIE}"), "value": 4}
        if field == "poll":
            options = parse_json_param(params.get("options")) or []
            return {
                "id": str(self.next_message_id()),
                "question": params.get("question"),
                "options": [
                    {
                        "persistent_id": str(i),
                        "text": o.get("text") if isinstance(o, dict) else o,
                        "voter_count": 0,
                    }
                    for i, o in enumerate(options)
                ],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
            }
        if field == "sticker":
            return dict(self._file("sticker"), type="regular", width=512, height=512)
        return self._file(field)

    def result(self, method: str, params: dict[str, Any]) -> Any:
        """The result of ``method`` (lower-cased name) called with ``params``."""
        if method == "getme":
            return dict(self.bot_user, **_BOT_CAPABILITIES)
        if method == "sendmediagroup":
            media = parse_json_param(params.get("media")) or [{}]
            return [self.message("sendphoto", params) for _ in media]
        if method == "sendchataction":
            return True
        if method.startswith("send") or method == "forwardmessage":
            return self.message(method, params)
        if method == "copymessage":
            return {"message_id": self.next_message_id()}
        if method in ("forwardmessages", "copymessages"):
            ids = parse_json_param(params.get("message_ids")) or []
            return [{"message_id": self.next_message_id()} for _ in ids]
        if method.startswith("editmessage") or method == "stopmessagelivelocation":
            # An inline message's edit answers True; a chat message's, the Message.
            return self.message(method, params) if "chat_id" in params else True
        return self._other(method, params)

    def _other(self, method: str, params: dict[str, Any]) -> Any:
        bot = self.bot_user
        if method == "getchat":
            chat = make_result_chat(params.get("chat_id"))
            return dict(chat, accent_color_id=0, max_reaction_count=11)
        if method == "getchatmember":
            user_id = _int_or_none(params.get("user_id")) or 1
            user = dict(bot) if user_id == bot["id"] else make_user(user_id)
            return {"status": "member", "user": user}
        if method == "getchatadministrators":
            return []
        if method == "getchatmembercount":
            return 2
        if method == "getfile":
            file = self._file("document")
            file["file_path"] = f"documents/{file['file_id']}.bin"
            return file
        if method == "getuserprofilephotos":
            return {"total_count": 0, "photos": []}
        if method == "setmycommands":
            self._commands[self._scope_key(params)] = parse_json_param(params.get("commands"))
            return True
        if method == "deletemycommands":
            self._commands.pop(self._scope_key(params), None)
            return True
        if method == "getmycommands":
            return self._commands.get(self._scope_key(params), [])
        if method == "getmyname":
            return {"name": bot["first_name"]}
        if method == "getmydescription":
            return {"description": ""}
        if method == "getmyshortdescription":
            return {"short_description": ""}
        if method == "getchatmenubutton":
            return {"type": "default"}
        if method == "exportchatinvitelink":
            return "https://t.me/+FakeInviteLink"
        if method in ("createchatinvitelink", "editchatinvitelink", "revokechatinvitelink"):
            return {
                "invite_link": "https://t.me/+FakeInviteLink",
                "creator": dict(bot),
                "creates_join_request": False,
                "is_primary": False,
                "is_revoked": method == "revokechatinvitelink",
            }
        if method == "stoppoll":
            return self._media("poll", params) | {"is_closed": True}
        return True

    @staticmethod
    def _scope_key(params: dict[str, Any]) -> str:
        scope = parse_json_param(params.get("scope")) or {"type": "default"}
        return json.dumps([scope, params.get("language_code", "")], sort_keys=True)
