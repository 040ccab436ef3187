"""The webhook's answers as plain data: rendered as a Flask response on the routed path, or
sent straight to WSGI on the fast path, so both layers answer with the same bytes.

A werkzeug ``Response`` costs more to build and to send than the whole update pipeline
costs to run; the fast path needs neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Response
from werkzeug.http import HTTP_STATUS_CODES

__all__ = ["OK", "Answer", "json_answer", "text_answer"]

#: What werkzeug puts on a body-less response; kept, so the answer did not change.
EMPTY_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
#: What Telegram sends and webhook replies are; parameters such as ``; charset=utf-8`` are
#: accepted after it in a request.
JSON_TYPE = "application/json"


class Answer:
    """A status, headers and a body; a WSGI app itself (like a werkzeug ``Response``).

    :param status: the HTTP status code.
    :param body: the body, already encoded.
    :param content_type: its ``Content-Type``.
    :param headers: more headers (``Retry-After``).
    """

    __slots__ = ("body", "headers", "status", "status_line")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = EMPTY_TYPE,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.status = status
        # werkzeug's spelling of the status line ("403 FORBIDDEN"), as the routed path sends.
        self.status_line = f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}"
        self.body = body
        self.headers = (
            *headers,
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
        )

    def response(self) -> Response:
        """This answer as a Flask response (``after_request`` functions may change it)."""
        return Response(self.body, self.status, list(self.headers))

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        start_response(self.status_line, list(self.headers))
        return (self.body,)

    def __repr__(self) -> str:
        return f"<Answer {self.status_line}>"


def text_answer(status: int, text: str, headers: Iterable[tuple[str, str]] = ()) -> Answer:
    """A short text/plain answer: what every refusal of ours looks like."""
    return Answer(status, text.encode(), TEXT_TYPE, headers)


def json_answer(text: str) -> Answer:
    """A 200 carrying JSON (a webhook reply)."""
    return Answer(200, text.encode(), JSON_TYPE)


#: The answer to almost every update: shared, since an Answer is never changed.
OK = Answer(200)
