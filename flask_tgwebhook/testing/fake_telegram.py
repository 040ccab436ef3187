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

import dataclasses
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from werkzeug.wrappers import Request, Response

from ._emulator.bots import Bot, BotOptions, token_problem, unauthorized
from ._emulator.checks import check_params
from ._emulator.control import ControlEndpoint
from ._emulator.delivery import Attempt, Delivery
from ._emulator.faults import Fault, FaultBook, default_description
from ._emulator.methods import KNOWN_METHODS
from ._emulator.plumbing import (
    Call,
    QuietHandler,
    QuietServer,
    error_response,
    hang_up,
    ok_response,
    read_params,
)
from ._emulator.timing import Timing

__all__ = ["DEFAULT_TOKEN", "Attempt", "Call", "Delivery", "FakeTelegram"]

logger = logging.getLogger("flask_tgwebhook.testing")

#: The token ``telegram_config`` hands out: made up, never a real bot's (bot id 123456).
DEFAULT_TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"  # noqa: S105

#: What the ``fake_telegram`` fixture and the demo pass: a local server's freedoms (loopback,
#: http) and a faster clock. Every Telegram duration lasts 5 % of itself (a retry's 2 s
#: back-off takes 0.1 s, a callback query expires after 7.5 s) and an update is given up after
#: 5 failed attempts; the rules themselves are Telegram's.
TEST_OPTIONS: dict[str, Any] = {
    "allow_loopback": True,
    "allow_http": True,
    "time_scale": 0.05,
    "max_attempts": 5,
}

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

    Like api.telegram.org it serves every bot: any well-formed token is a bot of its own
    (its id is the number before the colon), so an app keeps its real token in its config
    and two bots can share one emulator. With ``token=`` it serves that one bot only and
    answers 401 to any other token.

    By default it is as strict as api.telegram.org: setWebhook takes only https URLs on ports
    443, 80, 88 or 8443 and no loopback or private address. A webhook served on this machine
    needs ``allow_loopback`` and ``allow_http``, like a local Bot API server
    (``telegram-bot-api --local``); the pytest fixture ``fake_telegram`` turns both on.

    Its clock and retries are Telegram's by default. Where a test suite wants them faster,
    each bend has a name: ``time_scale`` (every Telegram duration, e.g. ``0.05``),
    ``max_attempts``, ``webhook_timeout``.

    :param token: serve this bot only (strict mode); by default any well-formed token.
    :param host: the address to listen on (loopback unless you know why not).
    :param port: the port to listen on; 0 picks a free one.
    :param allow_loopback: accept webhooks on loopback and private addresses.
    :param allow_http: accept ``http://`` webhooks, and any port.
    :param username: the @username ``getMe`` answers for the default bot (:attr:`token`);
        other bots are ``@test<id>_bot``.
    :param time_scale: real seconds per Telegram second, for every duration the server uses:
        retry back-off, ``Retry-After``, update lifetimes, connection limits, setWebhook's
        one-second limit, getUpdates' conflict throttle, ``close``'s ten minutes.
    :param max_attempts: delivery attempts per update before it is dropped. ``None``
        (Telegram): until the update expires (a day for messages).
    :param webhook_timeout: seconds to wait for the webhook's answer (Telegram: 60).
    :param retry_delay: the back-off unit in seconds (default: one Telegram second).
    :param max_retry_delay: the longest back-off in seconds (default: Telegram's 60-120).
    :param set_webhook_interval: seconds before another setWebhook with a URL is accepted
        (default: one Telegram second); ``0`` turns the limit off.
    :param control: serve the control endpoints under ``/_fake_telegram/`` (see
        ``python -m flask_tgwebhook.testing``).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_loopback: bool = False,
        allow_http: bool = False,
        username: str = "fake_test_bot",
        time_scale: float = 1.0,
        max_attempts: int | None = None,
        webhook_timeout: float = 60.0,
        retry_delay: float | None = None,
        max_retry_delay: float | None = None,
        set_webhook_interval: float | None = None,
        control: bool = False,
    ) -> None:
        if token is not None and not _TOKEN_SHAPE.fullmatch(token):
            raise ValueError(
                "The token must look like a Bot API token, '<bot id>:<secret>', e.g. "
                f"{DEFAULT_TOKEN!r}."
            )
        #: The default bot's token: the one strict mode serves, or :data:`DEFAULT_TOKEN`.
        self.token = token or DEFAULT_TOKEN
        #: True when only :attr:`token` is served.
        self.strict = token is not None
        self.host = host
        self._port = port
        self.username = username
        self.timing = Timing(
            time_scale=time_scale,
            max_attempts=max_attempts,
            webhook_timeout=webhook_timeout,
            retry_delay=retry_delay,
            max_retry_delay=max_retry_delay,
            set_webhook_interval=set_webhook_interval,
        )
        self.allow_loopback = allow_loopback
        self.allow_http = allow_http
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._faults = FaultBook()
        self._bots: dict[int, Bot] = {}
        self._launched = time.monotonic()
        self._stopping = threading.Event()
        self._server: QuietServer | None = None
        self._thread: threading.Thread | None = None
        self._control = ControlEndpoint(self) if control else None

    # -- bots ------------------------------------------------------------------------------

    def _bot(self, token: str) -> Bot | None:
        """The bot ``token`` belongs to, created on first use; None if it is not its token."""
        bot_id = int(token.split(":", 1)[0])
        with self._lock:
            bot = self._bots.get(bot_id)
            if bot is None:
                options = BotOptions(
                    self.allow_loopback,
                    self.allow_http,
                    self.timing,
                    self.username if token == self.token else None,
                )
                bot = Bot(token, options, self._reply_runner(bot_id), self._launched)
                self._bots[bot_id] = bot
        if not hmac.compare_digest(bot.token.encode(), token.encode()):
            return None  # another secret for this bot id: not its token
        return bot

    def _main_bot(self, token: str | None = None) -> Bot:
        token = token or self.token
        bot = self._bot(token) if token_problem(token) is None or token == self.token else None
        if bot is None:
            raise ValueError(
                "That token is not a bot of this emulator: pass a well-formed token, "
                "'<bot id>:<at least 24 letters, digits, _ or ->', or leave token= out."
            )
        return bot

    @property
    def bot_user(self) -> dict[str, Any]:
        """The default bot's User, as it appears in ``from`` of the messages it sends."""
        return self._main_bot().user

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        """Bind the port (a free one by default) and serve in a daemon thread; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("This FakeTelegram is already running; stop() it before start().")
        self._stopping.clear()
        server = QuietServer(self.host, self._port, self._wsgi, handler=QuietHandler)
        server.server_activate()
        self._launched = time.monotonic()
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
        with self._lock:
            bots, self._bots = list(self._bots.values()), {}  # a restarted emulator starts afresh
        for bot in bots:
            bot.stop()

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
        self,
        update: dict[str, Any],
        *,
        wait: bool = False,
        timeout: float = 10.0,
        token: str | None = None,
    ) -> Delivery:
        """Send ``update`` to the bot the way Telegram would.

        With a webhook set, it is POSTed there (in the background, in its chat's order);
        without one it waits for getUpdates. A type outside ``allowed_updates`` is never sent.

        :param wait: return only once it was delivered or given up.
        :param token: the bot to send it to (default: :attr:`token`'s).
        :raises TimeoutError: when waiting and it is still pending after ``timeout`` seconds.
        :raises RuntimeError: when waiting and no webhook is set.
        """
        webhook = self._main_bot(token).webhook
        delivery = webhook.deliver(update)
        if wait:
            webhook.wait([delivery], timeout)
        return delivery

    def deliver_many(
        self,
        updates: Iterable[dict[str, Any]],
        *,
        wait: bool = False,
        timeout: float = 10.0,
        token: str | None = None,
    ) -> list[Delivery]:
        """:meth:`deliver` each update in turn; with ``wait``, wait for all of them."""
        webhook = self._main_bot(token).webhook
        deliveries = [webhook.deliver(update) for update in updates]
        if wait:
            webhook.wait(deliveries, timeout)
        return deliveries

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no update of any bot waits for its webhook or is on its way.

        :raises TimeoutError: when deliveries are still going on after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            bots = list(self._bots.values())
        for bot in bots:
            left = max(0.0, deadline - time.monotonic())
            if not bot.webhook.scheduler.wait_idle(left):
                raise TimeoutError(
                    f"Updates were still being delivered after {timeout} s; see "
                    "webhook_info() for the last error, or raise the timeout."
                )

    def webhook_info(self, token: str | None = None) -> dict[str, Any]:
        """What ``getWebhookInfo`` answers right now (for :attr:`token`'s bot by default)."""
        return self._main_bot(token).webhook.info()

    def _reply_runner(self, bot_id: int) -> Callable[[Call], dict[str, Any]]:
        def run_reply(call: Call) -> dict[str, Any]:
            """Run a method a webhook answered with, as Telegram does, and return the answer."""
            with self._lock:
                bot = self._bots[bot_id]
            recorded = dataclasses.replace(call, bot_id=bot_id)
            response = self._handle_call(recorded, bot)
            answer: dict[str, Any] = json.loads(response.get_data())
            return answer

        return run_reply

    # -- the HTTP side ---------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._respond(request)
        finally:
            request.close()  # uploaded files live in temporary files until closed
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        if self._control is not None and request.path.startswith(self._control.prefix):
            return self._control.respond(request)
        match = _PATH.fullmatch(request.path)
        if match is None:
            return error_response(404, "Not Found")
        token = match["token"]
        problem = token_problem(token)
        if self.strict:
            if not hmac.compare_digest(token.encode(), self.token.encode()):
                return unauthorized(problem or "Unauthorized")
        elif problem is not None:
            return unauthorized(problem)
        bot = self._bot(token)
        if bot is None:
            return unauthorized("Unauthorized")
        try:
            params, files = read_params(request)
        except ValueError as exc:
            return error_response(400, f"Bad Request: {exc}")
        call = Call(match["method"], params, files, bot_id=bot.id)
        return self._handle_call(call, bot, request.environ)

    def _handle_call(self, call: Call, bot: Bot, environ: dict[str, Any] | None = None) -> Response:
        """Record ``call``, apply any injected fault, and answer it as ``bot``."""
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
        session = bot.session_answer(name)
        if session is not None:
            return session
        if name not in KNOWN_METHODS:  # Client::on_cmd
            return error_response(404, "Not Found: method not found")
        problem = check_params(name, call.params)
        if problem is not None:
            return error_response(400, problem)
        webhook = bot.webhook
        if name in _WEBHOOK_METHODS:
            return webhook.set_webhook(name, call)
        if name == "getwebhookinfo":
            return ok_response(webhook.info())
        if name == "getupdates":
            return webhook.get_updates(call.params)
        return ok_response(bot.results.result(name, call.params))
