"""One family of exceptions for everything the Bot API (or the way to it) can answer.

``TelegramError`` is the root. Each subclass also derives from the built-in exception
that describes it best, so ``except ValueError`` or ``except ConnectionError`` keeps working
in code that does not know about this package (the pattern ``requests.exceptions`` uses).
"""

from __future__ import annotations

from typing import Any


class TelegramError(Exception):
    """Root of every exception raised by flask_tgwebhook's Bot API client."""


class APIError(TelegramError):
    """The Bot API answered ``"ok": false``.

    :param method: the Bot API method that was called, e.g. ``"sendMessage"``.
    :param error_code: the ``error_code`` Telegram sent (usually the HTTP status).
    :param description: Telegram's own words, e.g. ``"Bad Request: chat not found"``.
    :param parameters: Telegram's ``ResponseParameters`` (``retry_after``,
        ``migrate_to_chat_id``), or an empty dict.
    """

    def __init__(
        self,
        method: str,
        error_code: int,
        description: str,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        self.method = method
        self.error_code = error_code
        self.description = description
        self.parameters: dict[str, Any] = dict(parameters or {})
        super().__init__(f"{method} failed with {error_code}: {description}")


class BadRequest(APIError, ValueError):
    """400: the parameters were wrong (chat not found, message text is empty, ...)."""


class ChatMigrated(BadRequest):
    """400 with ``migrate_to_chat_id``: the group became a supergroup with a new id.

    Send again to :attr:`new_chat_id`.
    """

    @property
    def new_chat_id(self) -> int:
        return int(self.parameters["migrate_to_chat_id"])


class Unauthorized(APIError, PermissionError):
    """401: the bot token is wrong or was revoked. Get a new one from @BotFather."""


class Forbidden(APIError, PermissionError):
    """403: the bot may not do this (blocked by the user, kicked from the chat, ...)."""


class NotFound(APIError, LookupError):
    """404: no such method, or (for the token part of the URL) no such bot."""


class Conflict(APIError):
    """409: getUpdates while a webhook is set, or two pollers at once."""


class RetryAfter(APIError):
    """429: flood control. Wait :attr:`retry_after` seconds before calling again."""

    @property
    def retry_after(self) -> int:
        return int(self.parameters.get("retry_after", 1))


class ServerError(APIError):
    """5xx: Telegram's side failed; an idempotent call may be retried later."""


class NetworkError(TelegramError, ConnectionError):
    """The Bot API could not be reached, or the connection broke before an answer."""


class TimedOut(NetworkError, TimeoutError):
    """No answer within the read timeout. The request may still have been executed."""


class InvalidResponse(TelegramError, ValueError):
    """Something answered, but not with the Bot API's JSON envelope (a proxy's error page?)."""


_BY_CODE: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RetryAfter,
}


def api_error(
    method: str, error_code: int, description: str, parameters: dict[str, Any] | None = None
) -> APIError:
    """Build the most specific :class:`APIError` subclass for an ``"ok": false`` answer."""
    parameters = parameters or {}
    if "migrate_to_chat_id" in parameters:
        return ChatMigrated(method, error_code, description, parameters)
    if "retry_after" in parameters:
        return RetryAfter(method, error_code, description, parameters)
    cls = _BY_CODE.get(error_code) or (ServerError if error_code >= 500 else APIError)
    return cls(method, error_code, description, parameters)
