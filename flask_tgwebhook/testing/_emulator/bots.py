"""The bots an emulator serves: one per token, each with its own webhook and queue.

Like the real server (ClientManager::send creates a Client per token on its first request),
any well-formed token is a bot of its own; ``getMe`` answers for the bot id in the token.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Response

from .objects import BOT_USER
from .plumbing import error_response, ok_response, retry_after_response
from .results import ResultMaker
from .scheduler import ReplyRunner
from .timing import CLOSE_GRACE, Timing
from .webhook_side import WebhookSide

# ClientManager::send: a token the server does not even try ("invalid token specified").
_BAD_SHAPE = re.compile(r"0.*|.{81,}|[^:]*|.*/.*", re.S)
# Client::start_up: the bot id, then at least 24 base64url characters.
_WELL_FORMED = re.compile(r"(?P<id>[1-9][0-9]{0,18}):[A-Za-z0-9_-]{24,}")


def token_problem(token: str) -> str | None:
    """Telegram's 401 description for a token no bot could have, or None."""
    if _BAD_SHAPE.fullmatch(token) or not token.split(":", 1)[0].isdigit():
        return "Unauthorized: invalid token specified"
    secret = token.split(":", 1)[1]
    if not _WELL_FORMED.fullmatch(token) or len(secret) % 4 == 1:  # not base64url-decodable
        return "Unauthorized"
    return None


@dataclass
class BotOptions:
    """What every bot of one emulator shares."""

    allow_loopback: bool
    allow_http: bool
    timing: Timing
    username: str | None


class Bot:
    """One emulated bot: its user, its results, its webhook side and its session."""

    def __init__(
        self, token: str, options: BotOptions, run_reply: ReplyRunner, launched: float
    ) -> None:
        bot_id = int(token.split(":", 1)[0])
        self.token = token
        self.options = options
        username = options.username or f"test{bot_id}_bot"
        #: The bot's User, as it appears in ``from`` of the messages it sends.
        self.user: dict[str, Any] = dict(BOT_USER, id=bot_id, username=username)
        self.results = ResultMaker(self.user)
        self._run_reply = run_reply
        self._launched = launched  # when the emulator started (the server's start time)
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self._logged_out_until = 0.0
        self.webhook = self._new_webhook()

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def _new_webhook(self) -> WebhookSide:
        options = self.options
        return WebhookSide(
            allow_loopback=options.allow_loopback,
            allow_http=options.allow_http,
            timing=options.timing,
            run_reply=self._run_reply,
        )

    def stop(self) -> None:
        self.webhook.stop()

    def session_answer(self, method: str) -> Response | None:
        """logOut, close, and what a logged-out bot answers (Client::on_cmd); None otherwise."""
        timing = self.options.timing
        now = time.monotonic()
        with self._lock:
            if now < self._logged_out_until:
                left = (self._logged_out_until - now) / timing.time_scale
                return retry_after_response(int(left) + 1)
            if method == "close":
                # 429 during the first 10 minutes of a bot that started 10 minutes or more
                # after the server did; otherwise the bot restarts (keeping its webhook).
                grace = timing.seconds(CLOSE_GRACE)
                left = grace - (now - self.started)
                if left > 0 and self.started > self._launched + grace:
                    return retry_after_response(int(left / timing.time_scale) + 1)
                self.started = now
                self.webhook.scheduler.last_error_date = 0
                self.webhook.scheduler.last_error_message = ""
                return ok_response(True)
            if method == "logout":
                # The webhook and the pending updates go; the cloud server takes the token
                # back only after 10 minutes (the Bot API's logOut documentation).
                self.webhook.scheduler.drop_pending()
                self.webhook.stop()
                self.webhook = self._new_webhook()
                self._logged_out_until = now + timing.seconds(CLOSE_GRACE)
                return ok_response(True)
        return None


def unauthorized(description: str) -> Response:
    return error_response(401, description)
