"""The updates ``bench_http.py`` sends: shaped like the ones Telegram sends a bot in a busy
group, 0.7 to 1 KB each, so parsing costs what it costs in production."""

from __future__ import annotations

import json
from typing import Any

from flask_tgwebhook.testing.updates import make_update

GROUP_ID = -1001234567890
_MEMBER = {
    "id": 1001,
    "is_bot": False,
    "first_name": "Alexandra",
    "last_name": "Kowalczyk-Mendes",
    "username": "alexandra_km",
    "language_code": "pt-br",
    "is_premium": True,
}


def sample_updates() -> list[dict[str, Any]]:
    """Four updates of 0.7 to 1 KB: a command, a reply with links, a button press, an edit."""
    command = make_update(
        "message",
        text="/start@fake_test_bot ref_campaign_2026_spring",
        chat_type="supergroup",
        chat_id=GROUP_ID,
    )
    command["message"].update(
        {
            "from": _MEMBER,
            "message_thread_id": 4411,
            "is_topic_message": True,
            "chat": {**command["message"]["chat"], "title": "Flask bots (support)"},
            "reply_to_message": {
                "message_id": 4411,
                "from": {"id": 2002, "is_bot": False, "first_name": "Sam", "username": "sam_dev"},
                "chat": {**command["message"]["chat"], "title": "Flask bots (support)"},
                "date": 1795970000,
                "forum_topic_created": {"name": "Deploying", "icon_color": 7322096},
            },
        }
    )
    text = (
        "Thanks! The deploy guide at https://example.org/guide worked, but the webhook "
        "answers 403 behind nginx. Is the secret header dropped by the proxy?"
    )
    question = make_update("message", text=text, chat_type="supergroup", chat_id=GROUP_ID)
    question["message"].update(
        {
            "from": _MEMBER,
            "entities": [{"type": "url", "offset": 30, "length": 26}],
            "reply_to_message": {
                "message_id": 88120,
                "from": {"id": 2002, "is_bot": False, "first_name": "Sam"},
                "chat": question["message"]["chat"],
                "date": 1795980000,
                "text": "Follow the deploy guide first.",
            },
        }
    )
    press = make_update(
        "callback_query",
        data="order:confirm:1842:express",
        chat_type="supergroup",
        chat_id=GROUP_ID,
    )
    press["callback_query"]["from"] = _MEMBER
    press["callback_query"]["message"]["reply_markup"] = {
        "inline_keyboard": [
            [
                {"text": "Confirm", "callback_data": "order:confirm:1842:express"},
                {"text": "Cancel", "callback_data": "order:cancel:1842"},
            ]
        ]
    }
    edit = make_update(
        "edited_message",
        text=text.replace("403", "403 Forbidden"),
        chat_type="supergroup",
        chat_id=GROUP_ID,
    )
    edit["edited_message"].update(
        {
            "from": _MEMBER,
            "entities": [{"type": "url", "offset": 30, "length": 26}],
            "link_preview_options": {
                "url": "https://example.org/guide",
                "prefer_small_media": True,
            },
            "message_thread_id": 4411,
            "is_topic_message": True,
        }
    )
    return [command, question, press, edit]


def sample_bodies() -> list[bytes]:
    return [json.dumps(update).encode() for update in sample_updates()]
