"""A light, read-only view over an update's JSON.

Nothing is converted up front: :class:`Update` keeps the parsed dict and wraps a nested
object only when a handler reads it, so an update nobody looks at costs one dict lookup.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

#: The Update fields of the Bot API this version knows, in the spec's order. Unknown (newer)
#: types are still accepted and dispatched by name through ``tg.on(type)``.
UPDATE_TYPES: tuple[str, ...] = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "guest_message",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
    "managed_bot",
)

#: Update types whose payload is a Message.
MESSAGE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_message",
        "edited_business_message",
        "guest_message",
    }
)


# "/name", optionally "@botname", then the arguments after any white space (newlines too).
_COMMAND_RE = re.compile(r"/([^\s@]+)(?:@(\S*))?(?:\s+(.*))?\Z", re.DOTALL)


def wrap(value: Any) -> Any:
    """Give dicts (also inside lists) attribute access; leave everything else as it is."""
    if isinstance(value, dict):
        return TelegramObject(value)
    if isinstance(value, list):
        return [wrap(item) for item in value]
    return value


class TelegramObject(Mapping[str, Any]):
    """Attribute access over one Bot API object; a missing field reads as ``None``.

    ``from`` is a Python keyword, so it is also readable as ``from_user``.
    """

    __slots__ = ("raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def __getattr__(self, name: str) -> Any:
        if name == "from_user":
            name = "from"
        return wrap(self.raw.get(name))

    def __getitem__(self, key: str) -> Any:
        return wrap(self.raw[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TelegramObject):
            return self.raw == other.raw
        return self.raw == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TelegramObject({self.raw!r})"


class Update:
    """One incoming update.

    :param raw: the parsed JSON object Telegram sent.
    :param bot_username: this bot's @username (without ``@``), so that ``/cmd@otherbot``
        in a group is not taken for our command. A callable is called at most once, and only
        when a command names a bot.
    """

    __slots__ = ("_bot_username", "_command", "payload", "raw", "type", "update_id")

    def __init__(
        self,
        raw: dict[str, Any],
        bot_username: str | Callable[[], str | None] | None = None,
    ) -> None:
        self.raw = raw
        self.update_id: int = raw["update_id"]
        update_type = payload = None
        for update_type in raw:  # the one field besides update_id (inlined: hot path)
            if update_type != "update_id":
                payload = raw[update_type]
                break
        else:
            update_type = None
        self.type: str | None = update_type
        #: The raw object under the update's type (the Message, CallbackQuery, ...).
        self.payload: dict[str, Any] = payload if type(payload) is dict else {}
        self._bot_username = bot_username
        self._command: tuple[str, str] | bool | None = False  # False: not parsed yet

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return wrap(self.raw.get(name))

    def __repr__(self) -> str:
        return f"<Update {self.update_id} {self.type}>"

    @property
    def message_payload(self) -> dict[str, Any]:
        """The raw Message this update carries: its own, or the one a button was under."""
        if self.type in MESSAGE_TYPES:
            return self.payload
        if self.type == "callback_query":
            inner = self.payload.get("message")
            return inner if isinstance(inner, dict) else {}
        return {}

    @property
    def chat(self) -> TelegramObject | None:
        """The chat this update happened in, for every type that has one."""
        chat = self.payload.get("chat") or self.message_payload.get("chat")
        return TelegramObject(chat) if isinstance(chat, dict) else None

    @property
    def chat_id(self) -> int | None:
        chat = self.chat
        return chat.raw.get("id") if chat is not None else None

    @property
    def user(self) -> TelegramObject | None:
        """Who caused the update (``from``, or ``user`` for poll answers and boosts)."""
        payload = self.payload
        user = payload.get("from") or payload.get("user")
        return TelegramObject(user) if isinstance(user, dict) else None

    @property
    def text(self) -> str | None:
        """A message's text or caption; a callback's data; an inline query's query."""
        payload = self.payload
        if self.type in MESSAGE_TYPES:
            text = payload.get("text")
            return text if text is not None else payload.get("caption")
        if self.type == "callback_query":
            return payload.get("data")
        if self.type == "inline_query":
            return payload.get("query")
        return None

    @property
    def data(self) -> str | None:
        """A callback query's ``data`` (None for any other type)."""
        return self.payload.get("data") if self.type == "callback_query" else None

    @property
    def command(self) -> str | None:
        """The command this message starts with, without ``/`` and ``@botname``.

        ``None`` when the text is no command, or when it is addressed to another bot.
        """
        parsed = self._command
        if parsed is False:
            parsed = self._command = self._split_command()
        return parsed[0] if parsed else None  # type: ignore[index]

    @property
    def command_args(self) -> str:
        """Everything after the command, stripped (``""`` when there is nothing)."""
        if self.command is None:
            return ""
        return self._command[1]  # type: ignore[index]  # parsed by .command

    @property
    def args(self) -> list[str]:
        """The command's arguments split on white space."""
        return self.command_args.split()

    def _split_command(self) -> tuple[str, str] | None:
        if self.type not in MESSAGE_TYPES:
            return None
        text = self.payload.get("text")
        if type(text) is not str:
            return None
        match = _COMMAND_RE.match(text)  # one C call: this runs for every command filter
        if match is None:
            return None
        name, addressee, rest = match.groups()
        if addressee is not None and not self._addressed_to_us(addressee):
            return None
        return name, rest.strip() if rest else ""

    def _addressed_to_us(self, addressee: str) -> bool:
        username = self._bot_username
        if callable(username):
            username = username()
            self._bot_username = username
        # Without a known username we cannot tell; accepting beats silently ignoring.
        return username is None or addressee.lower() == username.lower().lstrip("@")
