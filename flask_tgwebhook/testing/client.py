"""A test client that speaks Telegram to your app's webhook route, without a server.

::

    bot = TelegramTestClient(app)
    answer = bot.message("/start")
    assert answer.status == 200
    assert answer.reply["text"].startswith("Hello")
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.test import TestResponse

from ..state import get_state
from ..views import SECRET_HEADER
from .updates import make_update


class WebhookAnswer:
    """What the webhook route answered to one update."""

    __slots__ = ("response",)

    def __init__(self, response: TestResponse) -> None:
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def reply(self) -> dict[str, Any] | None:
        """The webhook reply (``{"method": ..., ...}``) the handler returned, if any."""
        if self.response.mimetype != "application/json":
            return None
        body: dict[str, Any] = self.response.get_json()
        return body

    def __repr__(self) -> str:
        return f"<WebhookAnswer {self.status} reply={self.reply!r}>"


class TelegramTestClient:
    """Posts updates to ``app``'s webhook route with the right secret, like Telegram.

    :param app: an app with ``TelegramWebhook`` set up.
    """

    def __init__(self, app: Flask) -> None:
        state = get_state(app)
        self.app = app
        self.client = app.test_client()
        self.path = state.settings.webhook_path
        self.secret: str | None = state.settings.webhook_secret

    def send(self, update: dict[str, Any], *, secret: str | None = None) -> WebhookAnswer:
        """POST one update dict (``make_update(...)``); ``secret`` overrides the right one."""
        headers = {}
        secret = self.secret if secret is None else secret
        if secret is not None:
            headers[SECRET_HEADER] = secret
        return WebhookAnswer(self.client.post(self.path, json=update, headers=headers))

    def message(self, text: str, **fields: Any) -> WebhookAnswer:
        """A user sends ``text`` (``chat_id``, ``user_id``, ``chat_type``... as in make_update)."""
        return self.send(make_update("message", text=text, **fields))

    def press(self, data: str, **fields: Any) -> WebhookAnswer:
        """A user presses an inline button whose callback data is ``data``."""
        return self.send(make_update("callback_query", data=data, **fields))
