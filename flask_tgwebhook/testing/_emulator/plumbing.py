"""The HTTP plumbing of the emulator: requests in, Bot API answers out, and a quiet server.

Nothing here knows about Bot API methods; :mod:`.fake_telegram` decides what to answer.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

logger = logging.getLogger("flask_tgwebhook.testing")


@dataclass(frozen=True)
class Call:
    """One Bot API call the emulator received.

    :param method: the method name as the caller spelt it (Telegram ignores its case).
    :param params: the parameters; values from a query string or form are strings, values from
        a JSON body keep their JSON types.
    :param files: uploaded files by parameter name, as bytes.
    :param source: ``"http"`` for a request to the API, ``"webhook_reply"`` for a method a
        webhook answered with in its response body.
    :param received_at: when it arrived (``time.time()``), to measure a client's pace.
    :param bot_id: the bot it was made as (the number before the token's colon); not
        compared, so ``Call("getMe", {})`` equals a recorded call of any bot.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    source: str = "http"
    received_at: float = field(default_factory=time.time, compare=False)
    bot_id: int | None = field(default=None, compare=False)


def ok_response(result: Any, description: str | None = None) -> Response:
    """A successful Bot API answer."""
    body: dict[str, Any] = {"ok": True, "result": result}
    if description is not None:
        body["description"] = description
    return Response(json.dumps(body), status=200, mimetype="application/json")


def error_response(
    error_code: int, description: str, parameters: dict[str, Any] | None = None
) -> Response:
    """A Bot API error: HTTP status and ``error_code`` agree, as Telegram's do.

    A ``retry_after`` also goes in a ``Retry-After`` header (HttpConnection::send_response).
    """
    body: dict[str, Any] = {"ok": False, "error_code": error_code, "description": description}
    if parameters:
        body["parameters"] = parameters
    response = Response(json.dumps(body), status=error_code, mimetype="application/json")
    retry_after = (parameters or {}).get("retry_after")
    if isinstance(retry_after, int) and not isinstance(retry_after, bool) and retry_after > 0:
        response.headers["Retry-After"] = str(retry_after)
    return response


def retry_after_response(seconds: int) -> Response:
    """Telegram's flood-control answer."""
    return error_response(
        429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}
    )


def read_params(request: Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Parameters from the query string, a JSON body, a form, or multipart (files as bytes).

    :raises ValueError: for a JSON body that is not a JSON object.
    """
    params: dict[str, Any] = dict(request.args.items())
    files: dict[str, bytes] = {}
    if request.mimetype == "application/json":
        body = request.get_data()
        if body:
            try:
                data = json.loads(body)
            except ValueError:
                raise ValueError("can't parse JSON object") from None
            if not isinstance(data, dict):
                raise ValueError("JSON body must be an object")
            params.update(data)
    else:
        params.update(request.form.items())
        for name, storage in request.files.items():
            files[name] = storage.read()
    return params, files


def parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Parameters of an HTTP body that is not a request to us (a webhook's reply)."""
    environ = {
        "REQUEST_METHOD": "POST",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
    }
    request = Request(environ)
    try:
        return read_params(request)
    finally:
        request.close()


class Dropped(ConnectionAbortedError):
    """Raised after hanging up, so werkzeug treats the request as a dropped connection."""


def hang_up(environ: dict[str, Any]) -> None:
    """Close the client's connection without an HTTP answer.

    :raises Dropped: always, so that nothing is written to the closed socket.
    """
    sock: socket.socket = environ["werkzeug.socket"]
    with contextlib.suppress(OSError):  # already gone: that is the point
        sock.shutdown(socket.SHUT_RDWR)
    raise Dropped("the emulator hung up on purpose")


class QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without its access log, which would print the token in each path."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.debug("emulator %s (request line not logged: it holds the token)", type)


_TOKEN_IN_TEXT = re.compile(r"\d+:[A-Za-z0-9_-]+")


class QuietServer(ThreadedWSGIServer):
    """A threaded werkzeug server that logs errors with any bot token taken out."""

    def log(self, type: str, message: str, *args: Any) -> None:
        text = message % args if args else message
        logger.error("emulator %s: %s", type, _TOKEN_IN_TEXT.sub("<token>", text))
