"""``FakeTelegram``: a real Bot API HTTP server on 127.0.0.1 for tests and offline demos.

It answers ``/bot<token>/<method>`` like api.telegram.org does (JSON, query string, urlencoded
or multipart parameters; ``{"ok": ..., "result": ...}`` answers), records every call, and can
be told to fail, answer late or hang up, so a client's error handling is tested against real
HTTP rather than mocks.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from ._results import ResultMaker
from .updates import BOT_USER

__all__ = ["DEFAULT_TOKEN", "Call", "FakeTelegram"]

logger = logging.getLogger("flask_tgwebhook.testing")

#: The token a ``FakeTelegram()`` accepts unless given another (made up, never a real bot's).
DEFAULT_TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"  # noqa: S105

_TOKEN_SHAPE = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[A-Za-z0-9_]+)/?")

# What Telegram says for each error code when a test does not choose the words.
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot "
    "instance is running",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass(frozen=True)
class Call:
    """One Bot API call the emulator received.

    :param method: the method name as the caller spelt it (Telegram ignores its case).
    :param params: the parameters; values from a query string or form are strings, values from
        a JSON body keep their JSON types.
    :param files: uploaded files by parameter name, as bytes.
    :param source: ``"http"`` for a request to the API, ``"webhook_reply"`` for a method a
        webhook answered with in its response body.
    """

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    source: str = "http"


@dataclass
class _Fault:
    kind: str  # "fail", "delay" or "disconnect"
    method: str  # lower-cased
    remaining: int | None  # None: until clear()
    error_code: int = 400
    description: str = ""
    parameters: dict[str, Any] | None = None
    seconds: float = 0.0


class _Dropped(ConnectionAbortedError):
    """Raised after hanging up, so werkzeug treats the request as a dropped connection."""


class _QuietHandler(WSGIRequestHandler):
    """werkzeug's handler without its access log, which would print the token in each path."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        logger.debug("emulator %s: %s", type, "(request log suppressed, it holds the token)")


class _Server(ThreadedWSGIServer):
    def log(self, type: str, message: str, *args: Any) -> None:
        # werkzeug logs tracebacks here; keep them, but never with the token in them.
        owner: FakeTelegram | None = getattr(self, "owner", None)
        text = message % args if args else message
        if owner is not None:
            text = text.replace(owner.token, "<token>")
        logger.error("emulator %s: %s", type, text)


class FakeTelegram:
    """A Bot API server on 127.0.0.1 (a free port) in a daemon thread.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with FakeTelegram() as telegram:
            app.config["TELEGRAM_API_URL"] = telegram.api_url
            ...
            assert telegram.calls_to("sendMessage")[0].params["text"] == "hi"

    :param token: the bot token it accepts; any other answers 401 like Telegram.
    :param host: the address to listen on (loopback unless you know why not).
    :param allow_loopback: accept webhooks on loopback and private addresses, like a local Bot
        API server; a ``False`` here refuses them with Telegram's words.
    :param allow_http: accept plain ``http://`` webhooks and any port (a local Bot API server
        started with ``--local`` does).
    :param username: the bot's @username that ``getMe`` answers.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        allow_loopback: bool = True,
        allow_http: bool = True,
        username: str = "fake_test_bot",
    ) -> None:
        if not _TOKEN_SHAPE.fullmatch(token):
            raise ValueError(
                "The token must look like a Bot API token, '<bot id>:<secret>', e.g. "
                f"{DEFAULT_TOKEN!r}."
            )
        self.token = token
        self.host = host
        self.allow_loopback = allow_loopback
        self.allow_http = allow_http
        #: The bot's User, as it appears in ``from`` of the messages it sends.
        self.bot_user: dict[str, Any] = dict(
            BOT_USER, id=int(token.split(":", 1)[0]), username=username
        )
        self.results = ResultMaker(self.bot_user)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._faults: list[_Fault] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._webhook: dict[str, Any] | None = None
        self._queued_updates: list[dict[str, Any]] = []

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        """Bind a free port and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("This FakeTelegram is already running; stop() it before start().")
        self._stopping.clear()
        server = _Server(self.host, 0, self._wsgi, handler=_QuietHandler)
        server.owner = self  # type: ignore[attr-defined]
        server.server_activate()
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="FakeTelegram",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and join the thread (quick: late answers are cut short)."""
        self._stopping.set()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port it listens on."""
        if self._server is None:
            raise RuntimeError(
                "FakeTelegram is not running; use it as a context manager or call start()."
            )
        return int(self._server.server_address[1])

    @property
    def api_url(self) -> str:
        """The base URL to give a client, e.g. ``http://127.0.0.1:8431``."""
        return f"http://{self.host}:{self.port}"

    # -- what was called -------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every call received so far, in order (a copy)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """The calls of ``method`` (its case ignored, as Telegram does)."""
        wanted = method.lower()
        return [call for call in self.calls if call.method.lower() == wanted]

    def wait_for_calls(self, method: str, count: int = 1, *, timeout: float = 5.0) -> list[Call]:
        """Wait until ``method`` was called ``count`` times; for handlers run in the background.

        :raises TimeoutError: when fewer calls arrived within ``timeout`` seconds.
        """
        wanted = method.lower()
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [c for c in self._calls if c.method.lower() == wanted]
                left = deadline - time.monotonic()
                if len(found) >= count or left <= 0:
                    break
                self._changed.wait(left)
        if len(found) < count:
            raise TimeoutError(
                f"{method} was called {len(found)} time(s), not {count}, within {timeout} s; "
                "check that the handler ran and called the Bot API."
            )
        return found

    def clear(self) -> None:
        """Forget the recorded calls and any pending fail/delay/disconnect."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()

    def record(self, call: Call) -> None:
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()

    # -- error injection -------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        error_code: int = 400,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with a Bot API error.

        :param description: Telegram's words; a typical one for ``error_code`` by default.
        :param parameters: ``ResponseParameters``, e.g. ``{"retry_after": 3}`` with 429.
        :param times: how many calls fail; ``None`` for every call until :meth:`clear`.
        """
        if description is None:
            template = _DEFAULT_DESCRIPTIONS.get(error_code, "Bad Request: error")
            description = template.format(retry_after=(parameters or {}).get("retry_after", 1))
        self._add_fault(
            _Fault(
                "fail",
                method.lower(),
                times,
                error_code=error_code,
                description=description,
                parameters=parameters,
            )
        )

    def delay(self, method: str, seconds: float, *, times: int | None = 1) -> None:
        """Answer the next ``times`` calls of ``method`` only after ``seconds``."""
        self._add_fault(_Fault("delay", method.lower(), times, seconds=seconds))

    def disconnect(self, method: str, *, times: int | None = 1) -> None:
        """Read and record the next ``times`` calls of ``method``, then hang up unanswered."""
        self._add_fault(_Fault("disconnect", method.lower(), times))

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take_fault(self, kind: str, method: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind == kind and fault.method == method:
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    # -- the HTTP side ---------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._respond(request)
        finally:
            request.close()  # uploaded files live in temporary files until closed
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        match = _PATH.fullmatch(request.path)
        if match is None:
            return error_response(404, "Not Found")
        if not hmac.compare_digest(match["token"].encode(), self.token.encode()):
            return error_response(401, "Unauthorized")
        method = match["method"]
        try:
            params, files = read_params(request)
        except ValueError as exc:
            return error_response(400, f"Bad Request: {exc}")
        return self.handle_call(Call(method, params, files), request.environ)

    def handle_call(self, call: Call, environ: dict[str, Any] | None = None) -> Response:
        """Record ``call``, apply any injected fault, and answer it."""
        name = call.method.lower()
        self.record(call)
        logger.debug("emulator received %s", call.method)
        delay = self._take_fault("delay", name)
        if delay is not None:
            self._stopping.wait(delay.seconds)
        if environ is not None and self._take_fault("disconnect", name) is not None:
            _hang_up(environ)
        failure = self._take_fault("fail", name)
        if failure is not None:
            return error_response(failure.error_code, failure.description, failure.parameters)
        return self.answer(name, call)

    def answer(self, name: str, call: Call) -> Response:
        """The answer to ``call`` (``name`` is its lower-cased method)."""
        if name == "getupdates":
            return self._get_updates(call.params)
        if name == "setwebhook":
            return self._set_webhook(call)
        if name == "deletewebhook":
            with self._lock:
                had = self._webhook is not None
                self._webhook = None
            return ok_response(True, "Webhook was deleted" if had else "Webhook is already deleted")
        if name == "getwebhookinfo":
            return ok_response(self.webhook_info())
        return ok_response(self.results.result(name, call.params))

    # -- webhook (validation and delivery live in their own modules) ----------------------

    def _set_webhook(self, call: Call) -> Response:
        params = call.params
        url = str(params.get("url", ""))
        if not url:
            return self.answer("deletewebhook", call)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, str):
            allowed = json.loads(allowed) if allowed else None
        with self._lock:
            self._webhook = {
                "url": url,
                "secret_token": params.get("secret_token") or None,
                "max_connections": int(params.get("max_connections", 40)),
                "allowed_updates": allowed,
                "certificate": call.files.get("certificate"),
                "ip_address": params.get("ip_address"),
            }
        return ok_response(True, "Webhook was set")

    def webhook_info(self) -> dict[str, Any]:
        """What ``getWebhookInfo`` answers right now."""
        with self._lock:
            hook = self._webhook
            if hook is None:
                return {
                    "url": "",
                    "has_custom_certificate": False,
                    "pending_update_count": len(self._queued_updates),
                }
            info: dict[str, Any] = {
                "url": hook["url"],
                "has_custom_certificate": hook["certificate"] is not None,
                "pending_update_count": 0,
                "max_connections": hook["max_connections"],
            }
            if hook["ip_address"]:
                info["ip_address"] = hook["ip_address"]
            if hook["allowed_updates"] is not None:
                info["allowed_updates"] = hook["allowed_updates"]
            return info

    def _get_updates(self, params: dict[str, Any]) -> Response:
        with self._lock:
            if self._webhook is not None:
                return error_response(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            updates = list(self._queued_updates)
        return ok_response(updates)


def ok_response(result: Any, description: str | None = None) -> Response:
    """A successful Bot API answer."""
    body: dict[str, Any] = {"ok": True, "result": result}
    if description is not None:
        body["description"] = description
    return Response(json.dumps(body), status=200, mimetype="application/json")


def error_response(
    error_code: int, description: str, parameters: dict[str, Any] | None = None
) -> Response:
    """A Bot API error: HTTP status and ``error_code`` agree, as Telegram's do."""
    body: dict[str, Any] = {"ok": False, "error_code": error_code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Response(json.dumps(body), status=error_code, mimetype="application/json")


def read_params(request: Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Parameters from the query string, a JSON body, a form, or multipart (files as bytes)."""
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


def _hang_up(environ: dict[str, Any]) -> None:
    """Close the client's connection without an HTTP answer."""
    sock: socket.socket = environ["werkzeug.socket"]
    with contextlib.suppress(OSError):  # already gone: that is the point
        sock.shutdown(socket.SHUT_RDWR)
    raise _Dropped("the emulator hung up on purpose")
