"""The read-only Update view and its shortcuts."""

from __future__ import annotations

import pytest

from flask_tgwebhook import Update
from flask_tgwebhook.testing.updates import make_update
from flask_tgwebhook.update import UPDATE_TYPES, TelegramObject

from .conftest import load_update


def test_basic_fields_and_attribute_access() -> None:
    update = Update(load_update("message_start"))
    assert update.update_id == 900000001
    assert update.type == "message"
    assert update.raw["message"]["text"] == "/start deep-link-payload"
    assert update.message.chat.id == 42
    assert update.message.from_user.username == "ada"
    assert update.message.entities[0].type == "bot_command"
    assert update.message.nothing_here is None
    assert update.edited_message is None
    assert isinstance(update.message, TelegramObject)
    assert update.message["chat"]["type"] == "private"
    assert dict(update.message.chat) == update.raw["message"]["chat"]


def test_shortcuts_for_a_message() -> None:
    update = Update(load_update("message_start"))
    assert update.chat is not None and update.chat.id == 42
    assert update.chat_id == 42
    assert update.user is not None and update.user.first_name == "Ada"
    assert update.text == "/start deep-link-payload"
    assert update.command == "start"
    assert update.command_args == "deep-link-payload"
    assert update.args == ["deep-link-payload"]


def test_shortcuts_for_a_callback_query() -> None:
    update = Update(load_update("callback_query"))
    assert update.type == "callback_query"
    assert update.chat_id == -100777
    assert update.user is not None and update.user.id == 42
    assert update.data == update.text == "yes"
    assert update.command is None and update.command_args == "" and update.args == []


def test_shortcuts_where_there_is_no_chat_or_text() -> None:
    update = Update(make_update("inline_query", query="cats"))
    assert update.chat is None and update.chat_id is None
    assert update.text == "cats"
    poll = Update(make_update("poll"))
    assert poll.user is None and poll.text is None and poll.data is None


def test_user_of_poll_answers_and_chat_of_member_updates() -> None:
    answer = Update(make_update("poll_answer", user_id=5))
    assert answer.user is not None and answer.user.id == 5
    member = Update(make_update("chat_member", chat_id=-7, chat_type="group"))
    assert member.chat_id == -7


def test_unknown_and_empty_types() -> None:
    assert Update({"update_id": 1, "subscription": {"x": 1}}).type == "subscription"
    empty = Update({"update_id": 2})
    assert empty.type is None and empty.payload == {} and empty.chat is None


def test_every_known_type_is_detected() -> None:
    for update_type in UPDATE_TYPES:
        assert Update(make_update(update_type)).type == update_type


def test_updates_are_read_only_views() -> None:
    update = Update(load_update("message_start"))
    with pytest.raises(AttributeError):
        update.brand_new = 1  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        update.message.text = "changed"
