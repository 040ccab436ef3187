"""The exception family: which class each Bot API answer becomes, and what it carries."""

from __future__ import annotations

import pytest

from flask_tgwebhook import errors
from flask_tgwebhook.errors import (
    APIError,
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidResponse,
    NetworkError,
    NotFound,
    RetryAfter,
    ServerError,
    TelegramError,
    TimedOut,
    Unauthorized,
    api_error,
)


@pytest.mark.parametrize(
    ("code", "cls", "builtin"),
    [
        (400, BadRequest, ValueError),
        (401, Unauthorized, PermissionError),
        (403, Forbidden, PermissionError),
        (404, NotFound, LookupError),
        (409, Conflict, APIError),
        (500, ServerError, APIError),
        (502, ServerError, APIError),
        (418, APIError, TelegramError),
    ],
)
def test_api_error_picks_the_class_by_code(
    code: int, cls: type[APIError], builtin: type[Exception]
) -> None:
    exc = api_error("sendMessage", code, "Something: went wrong")
    assert type(exc) is cls
    assert isinstance(exc, builtin)
    assert isinstance(exc, TelegramError)
    assert exc.method == "sendMessage"
    assert exc.error_code == code
    assert exc.description == "Something: went wrong"
    assert exc.parameters == {}
    assert str(exc) == f"sendMessage failed with {code}: Something: went wrong"


def test_retry_after_comes_from_the_parameters() -> None:
    exc = api_error("sendMessage", 429, "Too Many Requests: retry after 7", {"retry_after": 7})
    assert isinstance(exc, RetryAfter)
    assert exc.retry_after == 7


def test_migrated_chat_names_the_new_id() -> None:
    params = {"migrate_to_chat_id": -1001234567890}
    exc = api_error("sendMessage", 400, "Bad Request: group chat was upgraded", params)
    assert isinstance(exc, ChatMigrated)
    assert isinstance(exc, BadRequest)
    assert exc.new_chat_id == -1001234567890


def test_parameters_are_copied() -> None:
    params = {"retry_after": 3}
    exc = api_error("getMe", 429, "Too Many Requests", params)
    params["retry_after"] = 99
    assert exc.parameters == {"retry_after": 3}


def test_transport_errors_derive_from_the_builtins() -> None:
    assert issubclass(NetworkError, ConnectionError)
    assert issubclass(TimedOut, NetworkError)
    assert issubclass(TimedOut, TimeoutError)
    assert issubclass(InvalidResponse, ValueError)
    for cls in (NetworkError, TimedOut, InvalidResponse, APIError):
        assert issubclass(cls, TelegramError)


def test_every_public_exception_is_in_the_family() -> None:
    classes = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert len(classes) >= 13
    assert all(issubclass(cls, TelegramError) for cls in classes)
