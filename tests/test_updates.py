"""The update builders against the Bot API spec."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from flask_tgwebhook.testing.updates import (
    UPDATE_BUILDERS,
    make_message,
    make_update,
    next_update_id,
)

from .spec import load_spec

SPEC: dict[str, Any] = load_spec()
TYPES: dict[str, Any] = SPEC["types"]
UPDATE_FIELDS = [f for f in TYPES["Update"]["fields"] if f["name"] != "update_id"]


def missing_required(value: Any, type_name: str, where: str) -> list[str]:
    """Required fields of ``type_name`` (recursively) that ``value`` lacks."""
    if type_name.startswith("Array of "):
        inner = type_name.removeprefix("Array of ")
        return [p for i, item in enumerate(value) for p in missing_required(item, inner, where)]
    spec = TYPES.get(type_name)
    if spec is None or not isinstance(value, dict):
        return []
    if "subtypes" in spec:  # a union: one of its members must fit
        options = [missing_required(value, sub, where) for sub in spec["subtypes"]]
        return min(options, key=len)
    problems = []
    for field in spec.get("fields", []):
        name = field["name"]
        if name not in value:
            if field["required"]:
                problems.append(f"{where}.{name}")
            continue
        for candidate in field["types"]:
            sub = missing_required(value[name], candidate, f"{where}.{name}")
            if not sub:
                break
        else:
            problems.extend(sub)
    return problems


@pytest.mark.parametrize("field", UPDATE_FIELDS, ids=lambda f: f["name"])
def test_every_update_field_builds_with_required_fields(field: dict[str, Any]) -> None:
    update = make_update(field["name"])
    assert set(update) == {"update_id", field["name"]}
    assert isinstance(update["update_id"], int)
    (payload_type,) = field["types"]
    assert missing_required(update[field["name"]], payload_type, field["name"]) == []


def test_builders_cover_exactly_the_spec() -> None:
    assert list(UPDATE_BUILDERS) == [f["name"] for f in UPDATE_FIELDS]


def test_command_text_gets_bot_command_entity() -> None:
    message = make_update("message", text="/start@fake_test_bot deep")["message"]
    assert message["text"] == "/start@fake_test_bot deep"
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 20}]


def test_plain_text_has_no_entities() -> None:
    assert "entities" not in make_update(text="hello /start")["message"]
    assert "entities" not in make_update(text="/ start")["message"]


def test_entity_length_counts_utf16_units() -> None:
    message = make_message("/caf\N{GRINNING FACE} x")
    assert message["entities"][0]["length"] == 6  # the emoji is two units


def test_callback_query_carries_data_and_bot_message() -> None:
    query = make_update("callback_query", data="yes", text="Sure?", chat_id=7, user_id=8)[
        "callback_query"
    ]
    assert query["data"] == "yes"
    assert query["from"]["id"] == 8
    assert query["message"]["chat"]["id"] == 7
    assert query["message"]["from"]["is_bot"] is True
    assert query["message"]["text"] == "Sure?"


def test_chat_and_user_ids_and_types() -> None:
    message = make_update(text="hi", chat_id=-100123, user_id=55, chat_type="supergroup")["message"]
    assert message["chat"] == {"id": -100123, "type": "supergroup", "title": "Test supergroup"}
    assert message["from"]["id"] == 55
    post = make_update("channel_post", text="news", chat_id=-1005)["channel_post"]
    assert post["chat"]["type"] == "channel"
    assert "from" not in post
    assert post["sender_chat"]["id"] == -1005


def test_fields_merge_into_payload() -> None:
    update = make_update("message", text="x", caption="c", message_id=77)
    assert update["message"]["caption"] == "c"
    assert update["message"]["message_id"] == 77
    assert make_update("inline_query", text="cats")["inline_query"]["query"] == "cats"


def test_update_id_given_or_increasing_across_threads() -> None:
    assert make_update(update_id=5)["update_id"] == 5
    seen: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        ids = [next_update_id() for _ in range(200)]
        with lock:
            seen.extend(ids)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(set(seen)) == 800
    assert make_update()["update_id"] > max(seen)


def test_unknown_type_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="Unknown update type 'mesage': use one of message"):
        make_update("mesage")
