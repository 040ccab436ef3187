"""Small composable filters that decide whether a handler wants an update.

Every filter is a callable ``filter(update) -> bool``; :class:`Filter` adds ``&``, ``|`` and
``~`` so they combine, and a plain function can join in on either side::

    @tg.message(Command("ban") & ChatType("group", "supergroup") & is_admin)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from .update import Update

Predicate = Callable[[Update], bool]


class Filter:
    """Base class: subclasses implement :meth:`__call__` and :meth:`__repr__`."""

    __slots__ = ()

    def __call__(self, update: Update) -> bool:
        raise NotImplementedError

    def __and__(self, other: Predicate) -> Filter:
        return And(self, as_filter(other))

    def __rand__(self, other: Predicate) -> Filter:
        return And(as_filter(other), self)

    def __or__(self, other: Predicate) -> Filter:
        return Or(self, as_filter(other))

    def __ror__(self, other: Predicate) -> Filter:
        return Or(as_filter(other), self)

    def __invert__(self) -> Filter:
        return Not(self)


class F(Filter):
    """Any callable ``fn(update) -> bool`` as a filter.

    Needed only for a lone plain function, because ``@tg.message(fn)`` is the bare
    decorator form; next to another filter a plain function is wrapped automatically.
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Predicate) -> None:
        if not callable(fn):
            raise TypeError(f"A filter must be callable with the update, got {fn!r}.")
        self.fn = fn

    def __call__(self, update: Update) -> bool:
        return bool(self.fn(update))

    def __repr__(self) -> str:
        return getattr(self.fn, "__qualname__", repr(self.fn))


def as_filter(value: Predicate) -> Filter:
    """Return ``value`` as a :class:`Filter`, wrapping plain callables in :class:`F`."""
    return value if isinstance(value, Filter) else F(value)


class And(Filter):
    __slots__ = ("left", "right")

    def __init__(self, left: Filter, right: Filter) -> None:
        self.left, self.right = left, right

    def __call__(self, update: Update) -> bool:
        return self.left(update) and self.right(update)

    def __repr__(self) -> str:
        return f"({self.left!r} & {self.right!r})"


class Or(Filter):
    __slots__ = ("left", "right")

    def __init__(self, left: Filter, right: Filter) -> None:
        self.left, self.right = left, right

    def __call__(self, update: Update) -> bool:
        return self.left(update) or self.right(update)

    def __repr__(self) -> str:
        return f"({self.left!r} | {self.right!r})"


class Not(Filter):
    __slots__ = ("inner",)

    def __init__(self, inner: Filter) -> None:
        self.inner = inner

    def __call__(self, update: Update) -> bool:
        return not self.inner(update)

    def __repr__(self) -> str:
        return f"~{self.inner!r}"


def _names(values: Iterable[str] | str, what: str) -> frozenset[str]:
    if isinstance(values, str):
        values = [values]
    names = frozenset(values)
    if not names:
        raise ValueError(f"{what} needs at least one name.")
    return names


class Command(Filter):
    """The message starts with one of these commands (``/start``, ``/start@thisbot``).

    Names are given without the slash. ``/cmd@otherbot`` (another bot's command in a
    group) does not match.
    """

    __slots__ = ("commands", "ignore_case")

    def __init__(self, *commands: str, ignore_case: bool = False) -> None:
        self.ignore_case = ignore_case
        cleaned = [c.lstrip("/") for c in commands]
        if ignore_case:
            cleaned = [c.lower() for c in cleaned]
        self.commands = _names(cleaned, "Command()")

    def __call__(self, update: Update) -> bool:
        command = update.command
        if command is None:
            return False
        return (command.lower() if self.ignore_case else command) in self.commands

    def __repr__(self) -> str:
        return f"Command({', '.join(sorted(self.commands))})"


class Text(Filter):
    """The update's text (message text or caption, callback data, inline query) equals one
    of the given strings, or, with ``startswith=True``, starts with one of them."""

    __slots__ = ("startswith", "texts")

    def __init__(self, *texts: str, startswith: bool = False) -> None:
        self.texts = _names(texts, "Text()")
        self.startswith = startswith

    def __call__(self, update: Update) -> bool:
        text = update.text
        if text is None:
            return False
        if self.startswith:
            return text.startswith(tuple(self.texts))
        return text in self.texts

    def __repr__(self) -> str:
        return f"Text({', '.join(map(repr, sorted(self.texts)))})"


class Regex(Filter):
    """The update's text matches the pattern (``re.search``)."""

    __slots__ = ("pattern",)

    def __init__(self, pattern: str | re.Pattern[str], flags: int = 0) -> None:
        self.pattern = re.compile(pattern, flags) if isinstance(pattern, str) else pattern

    def __call__(self, update: Update) -> bool:
        text = update.text
        return text is not None and self.pattern.search(text) is not None

    def __repr__(self) -> str:
        return f"Regex({self.pattern.pattern!r})"


class ChatType(Filter):
    """The chat is one of ``private``, ``group``, ``supergroup``, ``channel``."""

    __slots__ = ("types",)

    def __init__(self, *types: str) -> None:
        self.types = _names(types, "ChatType()")

    def __call__(self, update: Update) -> bool:
        chat = update.chat
        return chat is not None and chat.raw.get("type") in self.types

    def __repr__(self) -> str:
        return f"ChatType({', '.join(sorted(self.types))})"


class ContentType(Filter):
    """The message carries one of these fields: ``text``, ``photo``, ``document``, ``sticker``...

    Any Message field name works, including ones newer than this version.
    """

    __slots__ = ("types",)

    def __init__(self, *types: str) -> None:
        self.types = _names(types, "ContentType()")

    def __call__(self, update: Update) -> bool:
        message = update.message_payload
        return any(name in message for name in self.types)

    def __repr__(self) -> str:
        return f"ContentType({', '.join(sorted(self.types))})"


class Data(Filter):
    """A callback query's ``data`` equals one of the strings, or matches a compiled regex."""

    __slots__ = ("pattern", "values")

    def __init__(self, *values: str | re.Pattern[str]) -> None:
        self.values = frozenset(v for v in values if isinstance(v, str))
        self.pattern = next((v for v in values if isinstance(v, re.Pattern)), None)
        if not values:
            raise ValueError("Data() needs at least one value or pattern.")

    def __call__(self, update: Update) -> bool:
        data = update.data
        if data is None:
            return False
        if data in self.values:
            return True
        return self.pattern is not None and self.pattern.search(data) is not None

    def __repr__(self) -> str:
        shown = sorted(map(repr, self.values))
        if self.pattern is not None:
            shown.append(f"re.compile({self.pattern.pattern!r})")
        return f"Data({', '.join(shown)})"


#: Keyword arguments the handler decorators accept, and the filter each builds.
KEYWORD_FILTERS: dict[str, Callable[[Any], Filter]] = {
    "commands": lambda v: Command(*([v] if isinstance(v, str) else v)),
    "text": lambda v: Text(*([v] if isinstance(v, str) else v)),
    "regex": lambda v: Regex(v),
    "chat_type": lambda v: ChatType(*([v] if isinstance(v, str) else v)),
    "content_type": lambda v: ContentType(*([v] if isinstance(v, str) else v)),
    "data": lambda v: Data(*([v] if isinstance(v, str | re.Pattern) else v)),
}


def build_filter(filters: Iterable[Predicate], keywords: dict[str, Any]) -> Filter | None:
    """Combine positional filters and decorator keywords into one filter (``None``: match all)."""
    parts = [as_filter(f) for f in filters]
    for key, value in keywords.items():
        make = KEYWORD_FILTERS.get(key)
        if make is None:
            known = ", ".join(sorted(KEYWORD_FILTERS))
            raise TypeError(f"Unknown handler filter {key!r}. Use one of: {known}.")
        parts.append(make(value))
    if not parts:
        return None
    combined = parts[0]
    for part in parts[1:]:
        combined = And(combined, part)
    return combined
