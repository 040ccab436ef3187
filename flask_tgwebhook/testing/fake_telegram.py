"""``FakeTelegram``: a local Bot API server that behaves like Telegram, for tests and demos.

It answers ``/bot<token>/<method>`` like api.telegram.org (JSON, query string, urlencoded or
multipart parameters), records every call, refuses the common mistakes (no chat_id, empty
text) and validates setWebhook with Telegram's own words,
and delivers updates to the registered webhook as Telegram does: secret header, https checked
against the uploaded certificate, retries, one update per chat at a time, webhook replies run
as API calls. It can also be told to fail, answer late or hang up, so a client's error
handling meets real HTTP rather than mocks.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from werkzeug.wrappers import Request, Response

from ._emulator.checks import check_params
from ._emulator.delivery import Attempt, Delivery, RetryPolicy
from ._emulator.faults import Fault, FaultBook, default_description
from ._emulator.plumbing import (
    Call,
    QuietHandler,
    QuietServer,
    error_response,
    hang_up,
    ok_response,
    read_params,
)
from ._emulator.results import ResultMaker
from ._emulator.webhook_side import WebhookSide
from .updates import BOT_USER

__all__ = ["DEFAULT_TOKEN", "Attempt", "Call", "Delivery", "FakeTelegram"]

logger = logging.getLogger("flask_tgwebhook.testing")

#: The token a ``FakeTelegram()`` accepts unless given another (made up, never a real bot's).
DEFAULT_TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"  # noqa: S105

_TOKEN_SHAPE = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_PATH = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[A-Za-z0-9_]+)/?")
_WEBHOOK_METHODS = ("setwebhook", "deletewebhook")


class FakeTelegram:
    """A Bot API server on 127.0.0.1 (a free port) in a daemon thread.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`::

        with FakeTelegram(allow_loopback=True, allow_http=True) as telegram:
            app.config["TELEGRAM_API_URL"] = telegram.api_url
            ...
            assert telegram.calls_to("sendMessage")[0].params["text"] == "hi"

    By default it is as strict as api.telegram.org: setWebhook takes only https URLs on ports
    443, 80, 88 or 8443 and no loopback or private address. A webhook served on this machine
    needs the two switches below, like a local Bot API server (``telegram-bot-api --local``);
    the pytest fixture ``fake_telegram`` turns both on.

    :param token: the bot token it accepts; any other answers 401 like Telegram.
    :param host: the address to listen on (loopback unless you know why not).
    :param allow_loopback: accept webhooks on loopback and private addresses.
    :param allow_http: accept ``http://`` webhooks, and any port.
    :param username: the bot's @username that ``getMe`` answers.
    :param set_webhook_interval: seconds before another setWebhook with a URL is accepted;
        Telegram answers 429 "retry after 1" sooner. ``0`` turns the limit off.
    :param max_attempts: delivery attempts per update before it is dropped (``None``: until
        the webhook changes). Telegram tries for a day; tests want an answer sooner.
    :param retry_delay: the first back-off step in seconds (doubling from there).
    :param max_retry_delay: the longest wait between attempts, also for ``Retry-After``.
    :param webhook_timeout: seconds to wait for the webhook's answer.
    """

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        host: str = "127.0.0.1",
        allow_loopback: bool = False,
        allow_http: bool = False,
        username: str = "fake_test_bot",
        set_webhook_interval: float = 1.0,
        max_attempts: int | None = 5,
        retry_delay: float = 0.05,
        max_retry_delay: float = 1.0,
        webhook_timeout: float = 10.0,
    ) -> None:
        if not _TOKEN_SHAPE.fullmatch(token):
            raise ValueError(
                "The token must look like a Bot API token, '<bot id>:<secret>', e.g. "
                f"{DEFAULT_TOKEN!r}."
            )
        self.token = token
        self.host = host
        #: The bot's User, as it appears in ``from`` of the messages it sends.
        self.bot_user: dict[str, Any] = dict(
            BOT_USER, id=int(token.split(":", 1)[0]), username=username
        )
        self._results = ResultMaker(self.bot_user)
        self._policy = RetryPolicy(max_attempts, retry_delay, max_retry_delay, webhook_timeout)
        self.allow_loopback = allow_loopback
        self.allow_http = allow_http
        self.set_webhook_interval = set_webhook_interval
        self._webhook = self._new_webhook_side()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._faults = FaultBook()
        self._stopping = threading.Event()
        self._server: QuietServer | None = None
        self._thread: threading.Thread | None = None

    def _new_webhook_side(self) -> WebhookSide:
        return WebhookSide(
            allow_loopback=self.allow_loopback,
            allow_http=self.allow_http,
            set_webhook_interval=self.set_webhook_interval,
            policy=self._policy,
            run_reply=self._run_reply,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        """Bind a free port and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("This FakeTelegram is already running; stop() it before start().")
        self._stopping.clear()
        server = QuietServer(self.host, 0, self._wsgi, handler=QuietHandler)
        server.token = self.token
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
        """Stop serving and delivering, and join the threads (quick: late answers are cut)."""
        self._stopping.set()
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._webhook.stop()
        self._webhook = self._new_webhook_side()  # a restarted emulator starts afresh

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
        """Every call received so far, in order (a copy), webhook replies included."""
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

    def _record(self, call: Call) -> None:
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
            description = default_description(error_code, parameters)
        fault = Fault("fail", method.lower(), times, error_code, description, parameters)
        self._faults.add(fault)

    def delay(self, method: str, seconds: float, *, times: int | None = 1) -> None:
        """Answer the next ``times`` calls of ``method`` only after ``seconds``."""
        self._faults.add(Fault("delay", method.lower(), times, seconds=seconds))

    def disconnect(self, method: str, *, times: int | None = 1) -> None:
        """Read and record the next ``times`` calls of ``method``, then hang up unanswered."""
        self._faults.add(Fault("disconnect", method.lower(), times))

    # -- the webhook side ------------------------------------------------------------------

    def deliver(
        self, update: dict[str, Any], *, wait: bool = False, timeout: float = 10.0
    ) -> Delivery:
        """Send ``update`` to the bot the way Telegram would.

        With a webhook set, it is POSTed there (in the background, in its chat's order);
        without one it waits for getUpdates. A type outside ``allowed_updates`` is never sent.

        :param wait: return only once it was delivered or dropped.
        :raises TimeoutError: when waiting and it is still pending after ``timeout`` seconds.
        :raises RuntimeError: when waiting and no webhook is set.
        """
        delivery = self._webhook.deliver(update)
        if wait:
            self._webhook.wait([delivery], timeout)
        return delivery

    def deliver_many(
        self, updates: Iterable[dict[str, Any]], *, wait: bool = False, timeout: float = 10.0
    ) -> list[Delivery]:
        """:meth:`deliver` each update in turn; with ``wait``, wait for all of them."""
        deliveries = [self._webhook.deliver(update) for update in updates]
        if wait:
            self._webhook.wait(deliveries, timeout)
        return deliveries

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no update waits for the webhook or is on its way.

        :raises TimeoutError: when deliveries are still going on after ``timeout`` seconds.
        """
        if not self._webhook.scheduler.wait_idle(timeout):
            raise TimeoutError(
                f"Updates were still being delivered after {timeout} s; see webhook_info() "
                "for the last error, or raise the timeout."
            )

    def webhook_info(self) -> dict[str, Any]:
        """What ``getWebhookInfo`` answers right now."""
        return self._webhook.info()

    def _run_reply(self, call: Call) -> dict[str, Any]:
        """Run a method a webhook answered with, as Telegram does, and return the answer."""
        response = self._handle_call(call)
        answer: dict[str, Any] = json.loads(response.get_data())
        return answer

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
        try:
            params, files = read_params(request)
        except ValueError as exc:
            return error_response(400, f"Bad Request: {exc}")
        return self._handle_call(Call(match["method"], params, files), request.environ)

    def _handle_call(self, call: Call, environ: dict[str, Any] | None = None) -> Response:
        """Record ``call``, apply any injected fault, and answer it."""
        name = call.method.lower()
        self._record(call)
        logger.debug("The emulator received %s.", call.method)
        delay = self._faults.take("delay", name)
        if delay is not None:
            self._stopping.wait(delay.seconds)
        if environ is not None and self._faults.take("disconnect", name) is not None:
            hang_up(environ)
        failure = self._faults.take("fail", name)
        if failure is not None:
            return error_response(failure.error_code, failure.description, failure.parameters)
        problem = check_params(name, call.params)
        if problem is not None:
            return error_response(400, problem)
        if name in _WEBHOOK_METHODS:
            return self._webhook.set_webhook(name, call)
        if name == "getwebhookinfo":
            return ok_response(self._webhook.info())
        if name == "getupdates":
            return self._webhook.get_updates(call.params)
        return ok_response(self._results.result(name, call.params))
