"""The command menu: declared beside handlers, synced with ``flask tg set-commands``."""

from __future__ import annotations

import json
import re
import textwrap
from typing import Any

import pytest
from click.testing import Result
from flask import Flask

from flask_tgwebhook import Router, TelegramWebhook, reply
from flask_tgwebhook.commands import MenuChange, collect_menus, scope_key
from flask_tgwebhook.filters import Command
from flask_tgwebhook.testing import FakeTelegram, TelegramTestClient

from .conftest import TOKEN

SECRET_PART = TOKEN.split(":", 1)[1]
DEFAULT = scope_key("default")
PRIVATE = scope_key("all_private_chats")
DEFAULT_SCOPE = {"type": "default"}


def menu_bot() -> TelegramWebhook:
    tg = TelegramWebhook()

    @tg.message(commands=["start"], description="Start the bot")
    def start(update: Any) -> Any:
        return reply("sendMessage", chat_id=update.chat_id, text="hello")

    @tg.message(commands="stats", description={"": "Statistics", "de": "Statistik"})
    def stats(update: Any) -> Any:
        return reply("sendMessage", chat_id=update.chat_id, text="0")

    @tg.message(Command("help"))  # the old forms keep working, without a menu entry
    def help_(update: Any) -> None: ...

    @tg.message
    def anything(update: Any) -> None: ...

    tg.command_menu("help", "How to use this bot")
    admin = Router("admin")
    admin.command_menu("ban", "Ban a user", scope="all_chat_administrators")
    admin.add_handler("message", help_, commands=["settings"], description="Settings",
                      scope=["all_private_chats"], language="en")  # fmt: skip
    tg.include_router(admin)
    return tg


def test_menus_per_scope_and_language_in_declaration_order() -> None:
    menus = collect_menus(menu_bot())
    assert menus[(DEFAULT, "")] == [
        {"command": "start", "description": "Start the bot"},
        {"command": "stats", "description": "Statistics"},
        {"command": "help", "description": "How to use this bot"},
    ]
    assert menus[(DEFAULT, "de")] == [{"command": "stats", "description": "Statistik"}]
    assert menus[(scope_key("all_chat_administrators"), "")] == [
        {"command": "ban", "description": "Ban a user"}
    ]
    assert menus[(PRIVATE, "en")] == [{"command": "settings", "description": "Settings"}]
    assert len(menus) == 4


def test_handlers_declared_with_a_description_still_dispatch() -> None:
    app = Flask("menu")
    app.config.update(TESTING=True, TELEGRAM_BOT_TOKEN=TOKEN)
    menu_bot().init_app(app)
    answer = TelegramTestClient(app).message("/start", chat_id=3)
    assert answer.reply == {"method": "sendMessage", "chat_id": 3, "text": "hello"}


@pytest.mark.parametrize(
    ("declare", "error", "match"),
    [
        (lambda tg: tg.message(description="x"), TypeError, "needs commands="),
        (lambda tg: tg.message(commands=["a"], scope="default"), TypeError, "description="),
        (lambda tg: tg.message(commands=["Start"], description="x"), ValueError, "lowercase"),
        (lambda tg: tg.message(commands=["a"], description=""), ValueError, "1-256"),
        (lambda tg: tg.message(commands=["a"], description="x" * 257), ValueError, "1-256"),
        (lambda tg: tg.command_menu("a", {"english": "x"}), ValueError, "language code"),
        (lambda tg: tg.command_menu("a", "x", scope="private"), ValueError, "all_private_chats"),
        (lambda tg: tg.command_menu("a", "x", scope={"type": "chat"}), ValueError, "chat_id"),
        (lambda tg: tg.command_menu("a", {"": "x"}, language="de"), TypeError, "language="),
    ],
)
def test_bad_declarations_fail_at_once(declare: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        declare(TelegramWebhook())


def test_two_descriptions_for_one_command_are_refused() -> None:
    tg = TelegramWebhook()
    tg.command_menu("start", "Start")
    tg.command_menu("start", "Begin")
    with pytest.raises(ValueError, match="two descriptions"):
        collect_menus(tg)


def test_chat_scopes_are_canonical() -> None:
    assert scope_key({"chat_id": 5, "type": "chat"}) == scope_key({"type": "chat", "chat_id": 5})
    assert json.loads(scope_key({"type": "chat_member", "chat_id": 5, "user_id": 6})) == {
        "type": "chat_member",
        "chat_id": 5,
        "user_id": 6,
    }


def test_difference_lines() -> None:
    change = MenuChange(
        DEFAULT,
        "",
        current=[
            {"command": "help", "description": "Help"},
            {"command": "start", "description": "Go"},
            {"command": "old", "description": "Gone soon"},
        ],
        wanted=[
            {"command": "start", "description": "Start the bot"},
            {"command": "help", "description": "Help"},
            {"command": "new", "description": "Brand new"},
        ],
    )
    assert change.changed
    assert change.lines() == [
        "~ /start  'Go' -> 'Start the bot'",
        "  /help   Help",
        "+ /new    Brand new",
        "- /old    Gone soon",
        "order: /start /help /new (was /help /start /old)",
    ]


# -- flask tg set-commands against the emulator ---------------------------------------------


@pytest.fixture
def cli_app(telegram: FakeTelegram) -> Flask:
    app = Flask("menu_cli")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.api_url)
    menu_bot().init_app(app)
    return app


def set_commands(app: Flask, *args: str) -> Result:
    result = app.test_cli_runner().invoke(args=["tg", "set-commands", *args])
    assert SECRET_PART not in result.output
    return result


def test_dry_run_shows_the_difference_and_sends_nothing(
    cli_app: Flask, telegram: FakeTelegram
) -> None:
    result = set_commands(cli_app, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Menu for scope default, every language (changes):" in result.output
    assert "  + /start  Start the bot" in result.output
    assert "Menu for scope default, language de (changes):" in result.output
    assert "Menu for scope all_private_chats, language en (changes):" in result.output
    assert "Dry run: nothing was sent to Telegram." in result.output
    assert len(telegram.calls_to("getMyCommands")) == 4
    assert telegram.calls_to("setMyCommands") == []


def test_set_commands_syncs_each_menu_once(cli_app: Flask, telegram: FakeTelegram) -> None:
    result = set_commands(cli_app)
    assert result.exit_code == 0, result.output
    assert "Sent 4 menus with setMyCommands; 0 already up to date." in result.output
    sent = {
        (json.dumps(c.params["scope"], sort_keys=True), c.params.get("language_code", "")): [
            d["command"] for d in c.params["commands"]
        ]
        for c in telegram.calls_to("setMyCommands")
    }
    assert sent == {
        ('{"type": "default"}', ""): ["start", "stats", "help"],
        ('{"type": "default"}', "de"): ["stats"],
        ('{"type": "all_chat_administrators"}', ""): ["ban"],
        ('{"type": "all_private_chats"}', "en"): ["settings"],
    }
    # Telegram now has them: a second run sends nothing.
    telegram.clear()
    again = set_commands(cli_app)
    assert "Sent 0 menus with setMyCommands; 4 already up to date." in again.output
    assert "(up to date)" in again.output and "+ /" not in again.output
    assert telegram.calls_to("setMyCommands") == []


def test_set_commands_shows_what_it_replaces(cli_app: Flask, telegram: FakeTelegram) -> None:
    with cli_app.app_context():
        bot = cli_app.extensions["tgwebhook"].bot
        bot.call(
            "setMyCommands",
            commands=[
                {"command": "start", "description": "Old words"},
                {"command": "legacy", "description": "Removed command"},
            ],
        )
    result = set_commands(cli_app)
    assert "  ~ /start   'Old words' -> 'Start the bot'" in result.output
    assert "  - /legacy  Removed command" in result.output
    assert "Sent 4 menus" in result.output
    # "" (every language) is sent as no language_code, as Telegram expects.
    [default] = [
        c for c in telegram.calls_to("getMyCommands") if c.params == {"scope": DEFAULT_SCOPE}
    ]
    assert default.params == {"scope": {"type": "default"}}


def test_set_commands_without_a_menu_says_how_to_declare_one(telegram: FakeTelegram) -> None:
    app = Flask("no_menu")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.api_url)
    TelegramWebhook(app)
    result = set_commands(app)
    assert result.exit_code == 0
    assert 'description="Start the bot"' in result.output
    assert telegram.calls == []


def test_set_commands_reports_a_bad_menu_in_one_line(telegram: FakeTelegram) -> None:
    app = Flask("bad_menu")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.api_url)
    tg = TelegramWebhook(app)
    tg.command_menu("start", "Start")
    tg.command_menu("start", "Begin")
    result = set_commands(app)
    assert result.exit_code == 1
    assert "Error: /start has two descriptions" in result.output
    assert "Traceback" not in result.output


def test_the_docs_declarations_run_as_written() -> None:
    from .test_docs_examples import ROOT

    text = (ROOT / "docs" / "commands.rst").read_text()
    section = text.split("Declaring commands", 1)[1].split("Sending the menu", 1)[0]
    blocks = re.findall(r"\.\. code-block:: python\n(?: +:.*\n)*\n((?:    .*\n|\n)+)", section)
    assert len(blocks) == 2
    tg, router = TelegramWebhook(), Router("docs")
    for block in blocks:
        exec(textwrap.dedent(block), {"tg": tg, "router": router})  # noqa: S102
    tg.include_router(router)
    menus = collect_menus(tg)
    assert [c["command"] for c in menus[(DEFAULT, "")]] == ["start", "stats", "help"]
    assert menus[(DEFAULT, "de")] == [{"command": "stats", "description": "Statistik"}]
    assert menus[(scope_key("all_group_chats"), "en")] == [
        {"command": "report", "description": "Report a message"}
    ]
