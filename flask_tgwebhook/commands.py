"""The command menu: commands declared with a description, synced with setMyCommands.

A description given where the handler is registered puts the command in the menu Telegram
shows next to the message box::

    @tg.message(commands=["start"], description="Start the bot")
    @tg.message(commands=["stats"], description={"": "Statistics", "de": "Statistik"},
                scope="all_private_chats")

or beside it, for a command that a handler matches some other way::

    tg.command_menu("help", "How to use this bot")

:func:`plan_menus` compares what is declared with what Telegram has (getMyCommands) for each
scope and language; :func:`apply_menus` sends the differences (setMyCommands, or
one call per menu that differs). ``flask tg set-commands`` shows the first, then does the second.
A scope or language no longer declared is left as Telegram has it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import Bot
    from .dispatch import Router

__all__ = [
    "MENU_KEYWORDS",
    "MenuChange",
    "MenuEntry",
    "apply_menus",
    "collect_menus",
    "plan_menus",
]

#: Handler decorator keywords that declare the menu rather than filter updates.
MENU_KEYWORDS = ("description", "scope", "language")
#: Scopes named by a word; the others need a chat (and user) id, given as a dict.
SCOPE_WORDS = ("default", "all_private_chats", "all_group_chats", "all_chat_administrators")
_SCOPE_IDS = {
    "chat": ("chat_id",),
    "chat_administrators": ("chat_id",),
    "chat_member": ("chat_id", "user_id"),
}
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_LANGUAGE = re.compile(r"(?:[a-z]{2})?")
#: Telegram's limits: descriptions of 1-256 characters, at most 100 commands per menu.
MAX_DESCRIPTION = 256
MAX_COMMANDS = 100

ScopeKey = str  # the scope dict as canonical JSON, hashable
Scope = str | Mapping[str, Any]


@dataclass(frozen=True)
class MenuEntry:
    """One command in one menu: ``scope`` (canonical JSON) and ``language`` ("" for all)."""

    command: str
    description: str
    scope: ScopeKey = '{"type":"default"}'
    language: str = ""


def scope_key(scope: Scope) -> ScopeKey:
    """The canonical form of a scope: a word from :data:`SCOPE_WORDS` or a BotCommandScope."""
    if isinstance(scope, str):
        if scope not in SCOPE_WORDS:
            raise ValueError(
                f"Unknown command scope {scope!r}. Use one of {', '.join(SCOPE_WORDS)}, or a "
                'dict such as {"type": "chat", "chat_id": 123}.'
            )
        return json.dumps({"type": scope}, separators=(",", ":"))
    if not isinstance(scope, Mapping) or not isinstance(scope.get("type"), str):
        raise TypeError(f"A command scope is a word or a dict with a 'type', not {scope!r}.")
    kind = scope["type"]
    needed = _SCOPE_IDS.get(kind, ())
    if kind not in SCOPE_WORDS and kind not in _SCOPE_IDS:
        raise ValueError(f"Unknown command scope type {kind!r} (see BotCommandScope).")
    missing = [name for name in needed if name not in scope]
    extra = set(scope) - {"type", *needed}
    if missing or extra:
        raise ValueError(
            f"A {kind!r} command scope takes exactly {', '.join(['type', *needed])}; "
            f"got {', '.join(sorted(scope))}."
        )
    return json.dumps(dict(scope), sort_keys=True, separators=(",", ":"))


def _descriptions(description: str | Mapping[str, str]) -> dict[str, str]:
    texts = {"": description} if isinstance(description, str) else dict(description)
    if not texts:
        raise ValueError("description= needs a text, or a dict of language code to text.")
    for language, text in texts.items():
        if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
            raise ValueError(
                f"{language!r} is not a language code: use two lowercase letters (ISO 639-1) "
                'such as "de", or "" for every language without its own menu.'
            )
        if not isinstance(text, str) or not 1 <= len(text.strip()) <= MAX_DESCRIPTION:
            raise ValueError(
                f"A command description must be 1-{MAX_DESCRIPTION} characters; got {text!r}."
            )
    return texts


def menu_entries(
    commands: Iterable[str] | str,
    description: str | Mapping[str, str],
    scope: Scope | Sequence[Scope] = "default",
    language: str | None = None,
) -> list[MenuEntry]:
    """Validate a declaration and return its entries (one per command, scope and language).

    :param language: with a str ``description``, the language it is for (default: all).
    """
    names = [commands] if isinstance(commands, str) else list(commands)
    if isinstance(description, str) and language:
        description = {language: description}
    elif language is not None and not isinstance(description, str):
        raise TypeError("Pass language= with a str description, or a dict description alone.")
    texts = _descriptions(description)
    scopes = [scope] if isinstance(scope, str | Mapping) else list(scope)
    entries = []
    for name in names:
        command = name.lstrip("/") if isinstance(name, str) else name
        if not isinstance(command, str) or not _COMMAND.fullmatch(command):
            raise ValueError(
                f"{name!r} cannot be in Telegram's command menu: a menu command is 1-32 "
                "lowercase letters, digits and underscores. Rename it, or leave out "
                "description= to handle it without a menu entry."
            )
        for one_scope in scopes:
            key = scope_key(one_scope)
            for lang, text in texts.items():
                entries.append(MenuEntry(command, text.strip(), key, lang))
    return entries


def pop_menu_keywords(keywords: dict[str, Any]) -> list[MenuEntry]:
    """Take ``description``/``scope``/``language`` out of handler keywords; their entries."""
    menu = {k: keywords.pop(k) for k in MENU_KEYWORDS if k in keywords}
    if not menu:
        return []
    if "description" not in menu:
        raise TypeError(f"{', '.join(menu)}= only goes with description= (and commands=).")
    if "commands" not in keywords:
        raise TypeError("description= puts commands in the menu: it needs commands=[...].")
    return menu_entries(
        keywords["commands"],
        menu["description"],
        menu.get("scope", "default"),
        menu.get("language"),
    )


def collect_menus(root: Router) -> dict[tuple[ScopeKey, str], list[dict[str, str]]]:
    """Every router's declared entries as menus: (scope, language) -> BotCommand dicts.

    Commands keep the order they were declared in; declaring one twice with the same text is
    harmless, with another text it is an error.
    """
    menus: dict[tuple[ScopeKey, str], dict[str, str]] = {}
    for router in root.iter_routers():
        for entry in router.menu:
            menu = menus.setdefault((entry.scope, entry.language), {})
            known = menu.setdefault(entry.command, entry.description)
            if known != entry.description:
                raise ValueError(
                    f"/{entry.command} has two descriptions in one menu ({known!r} and "
                    f"{entry.description!r}); give it one."
                )
    result = {}
    for key, menu in menus.items():
        if len(menu) > MAX_COMMANDS:
            raise ValueError(
                f"A menu holds at most {MAX_COMMANDS} commands; {describe(*key)} has {len(menu)}."
            )
        result[key] = [{"command": c, "description": d} for c, d in menu.items()]
    return result


def describe(scope: ScopeKey, language: str) -> str:
    """``scope all_private_chats, language de`` for listings."""
    data = json.loads(scope)
    kind = data.pop("type")
    ids = "".join(f" {k}={v}" for k, v in sorted(data.items()))
    return f"scope {kind}{ids}, {f'language {language}' if language else 'every language'}"


@dataclass
class MenuChange:
    """One menu: what Telegram has and what is declared."""

    scope: ScopeKey
    language: str
    current: list[dict[str, str]]
    wanted: list[dict[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return _pairs(self.current) != _pairs(self.wanted)

    def lines(self) -> list[str]:
        """The difference, one line per command: ``+`` added, ``-`` removed, ``~`` changed."""
        now, want = dict(_pairs(self.current)), dict(_pairs(self.wanted))
        width = max((len(c) for c in (*now, *want)), default=0) + 2
        lines = []
        for command, text in want.items():
            if command not in now:
                lines.append(f"+ /{command:<{width}}{text}")
            elif now[command] != text:
                lines.append(f"~ /{command:<{width}}{now[command]!r} -> {text!r}")
            else:
                lines.append(f"  /{command:<{width}}{text}")
        lines += [f"- /{c:<{width}}{t}" for c, t in now.items() if c not in want]
        kept_order = [c for c in now if c in want]
        if kept_order != [c for c in want if c in now]:
            lines.append(f"order: {_listing(want)} (was {_listing(now)})")
        return lines


def _listing(commands: Iterable[str]) -> str:
    return " ".join(f"/{c}" for c in commands)


def _pairs(commands: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(str(c.get("command")), str(c.get("description"))) for c in commands]


def _params(scope: ScopeKey, language: str) -> dict[str, Any]:
    return {"scope": json.loads(scope), "language_code": language or None}


def plan_menus(bot: Bot, root: Router) -> list[MenuChange]:
    """For every declared menu, what Telegram has now (one getMyCommands each)."""
    changes = []
    for (scope, language), wanted in collect_menus(root).items():
        current = bot.call("getMyCommands", **_params(scope, language)) or []
        changes.append(MenuChange(scope, language, list(current), wanted))
    return changes


def apply_menus(bot: Bot, changes: Iterable[MenuChange]) -> int:
    """Send the menus that differ (setMyCommands); the number sent."""
    sent = 0
    for change in changes:
        if change.changed:
            params = _params(change.scope, change.language)
            bot.call("setMyCommands", commands=change.wanted, **params)
            sent += 1
    return sent
