"""Every filter, alone and combined."""

from __future__ import annotations

import re
from typing import Any

import pytest

from flask_tgwebhook import Update
from flask_tgwebhook.filters import (
    ChatType,
    Command,
    ContentType,
    Data,
    F,
    Regex,
    Text,
    build_filter,
)
from flask_tgwebhook.testing.updates import make_update

from .conftest import load_update


def upd(update_type: str = "message", username: str | None = "mybot", **kw: Any) -> Update:
    return Update(make_update(update_type, **kw), username)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/start", True),
        ("/start payload", True),
        ("/start\npayload", True),
        ("/start@mybot", True),
        ("/start@MyBot now", True),
        ("/start@otherbot", False),
        ("/started", False),
        ("start", False),
        ("/", False),
        ("/ start", False),
        ("hello /start", False),
        ("/help", False),
    ],
)
def test_command(text: str, expected: bool) -> None:
    assert Command("start")(upd(text=text)) is expected


def test_command_accepts_several_names_with_or_without_slash() -> None:
    f = Command("/start", "help")
    assert f(upd(text="/help"))
    assert f(upd(text="/start"))
    assert not Command("Start")(upd(text="/start"))
    assert Command("Start", ignore_case=True)(upd(text="/START"))


def test_command_learns_the_username_only_when_a_bot_is_named() -> None:
    asked: list[int] = []

    def username() -> str:
        asked.append(1)
        return "mybot"

    assert Command("start")(Update(make_update(text="/start"), username))
    assert asked == []
    update = Update(make_update(text="/start@otherbot"), username)
    assert not Command("start")(update)
    assert not Command("start")(update)
    assert asked == [1]


def test_command_in_a_group_for_another_bot_is_not_ours() -> None:
    update = Update(load_update("group_command_other_bot"), "fake_test_bot")
    assert update.command is None
    assert not Command("help")(update)


def test_command_is_only_read_from_messages() -> None:
    assert not Command("start")(upd("callback_query", data="/start"))


def test_text() -> None:
    assert Text("hi")(upd(text="hi"))
    assert not Text("hi")(upd(text="hi there"))
    assert Text("hi", startswith=True)(upd(text="hi there"))
    assert Text("yes")(upd("callback_query", data="yes"))
    assert not Text("hi")(upd("poll"))
    assert Text("cap")(upd(caption="cap", photo=[{"file_id": "x"}]))


def test_regex() -> None:
    assert Regex(r"\d{3}")(upd(text="code 123"))
    assert not Regex(r"^\d+$")(upd(text="code 123"))
    assert Regex(re.compile("HELLO", re.I))(upd(text="hello"))
    assert not Regex("x")(upd("poll"))


def test_chat_type() -> None:
    assert ChatType("private")(upd(text="x"))
    assert not ChatType("group", "supergroup")(upd(text="x"))
    assert ChatType("supergroup")(Update(load_update("callback_query")))
    assert not ChatType("private")(upd("poll"))


def test_content_type() -> None:
    assert ContentType("text")(upd(text="x"))
    assert ContentType("photo", "document")(upd(photo=[{"file_id": "a"}]))
    assert not ContentType("photo")(upd(text="x"))
    assert not ContentType("text")(upd("inline_query"))


def test_data() -> None:
    assert Data("yes")(upd("callback_query", data="yes"))
    assert not Data("yes")(upd("callback_query", data="no"))
    assert Data(re.compile(r"^item:\d+$"))(upd("callback_query", data="item:7"))
    assert not Data("yes")(upd(text="yes"))


def test_plain_callables_combine_with_and_or_not() -> None:
    def is_ada(update: Update) -> bool:
        return update.user is not None and update.user.username == "user42"

    ada_start = Command("start") & is_ada
    assert ada_start(upd(text="/start", user_id=42))
    assert not ada_start(upd(text="/start", user_id=7))
    assert (is_ada & Command("start"))(upd(text="/start", user_id=42))
    either = Command("start") | is_ada
    assert either(upd(text="hi", user_id=42))
    assert (is_ada | Command("start"))(upd(text="/start", user_id=7))
    assert not either(upd(text="hi", user_id=7))
    assert (~Command("start"))(upd(text="hi"))
    assert not (~F(is_ada))(upd(text="hi", user_id=42))
    assert "is_ada" in repr(ada_start) and "Command(start)" in repr(ada_start)


def test_build_filter_from_decorator_keywords() -> None:
    combined = build_filter([], {"commands": ["start"], "chat_type": "private"})
    assert combined is not None
    assert combined(upd(text="/start"))
    assert not combined(upd(text="/start", chat_type="group"))
    assert build_filter([], {}) is None


def test_bad_filter_arguments_say_the_fix() -> None:
    with pytest.raises(TypeError, match=r"Unknown handler filter 'command'\. Use one of: "):
        build_filter([], {"command": "start"})
    with pytest.raises(ValueError, match="needs at least one"):
        Command()
    with pytest.raises(TypeError, match="must be callable"):
        F("nope")  # type: ignore[arg-type]
