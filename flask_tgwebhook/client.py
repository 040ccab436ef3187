"""The Bot API client: one ``requests.Session`` per bot, explicit timeouts, one error family.

Only a request that never reached the server is sent again (a connect failure). A request
that was sent but got no answer is not: the Bot API may already have executed it, and a
second ``sendMessage`` would reach the user twice.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ._methods import BotMethods
from .errors import InvalidResponse, NetworkError, RetryAfter, ServerError, TimedOut, api_error
from .redact import install_log_redaction, redact
from .tokens import NO_TOKEN, TOKEN_RE

if TYPE_CHECKING:
    from .flood import FloodControl

__all__ = ["Bot", "InputFile", "is_idempotent"]

log = logging.getLogger(__name__)

_METHOD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
#: How many times one call waits out flood control before giving up.
MAX_FLOOD_WAITS = 3
_IDEMPOTENT_PREFIXES = ("get", "set", "delete")
_IDEMPOTENT_METHODS = frozenset({"logout", "close"})


def is_idempotent(method: str) -> bool:
    """Whether calling ``method`` twice has the effect of calling it once.

    True for ``get*``, ``set*``, ``delete*``, ``logOut`` and ``close`` (Bot API method names
    are case-insensitive). Only these are retried after a 5xx answer: the failed attempt
    may have been executed, and a second ``sendMessage`` or ``answerCallbackQuery`` is not
    harmless.
    """
    lowered = method.lower()
    return lowered.startswith(_IDEMPOTENT_PREFIXES) or lowered in _IDEMPOTENT_METHODS


class InputFile:
    """A file to upload, with an optional file name and content type.

    Plain bytes, binary file objects and :class:`pathlib.Path` values are uploaded as
    files too; wrap them in ``InputFile`` to choose the name or type Telegram sees.

    :param data: the content: ``bytes``, a binary file object, or a ``Path`` to read.
    :param filename: the name Telegram sees; defaults to the path's or file's name, else
        to the parameter name.
    :param content_type: the part's ``Content-Type``; Telegram guesses when it is omitted.
    """

    __slots__ = ("content_type", "data", "filename")

    def __init__(
        self,
        data: bytes | bytearray | IO[bytes] | Path,
        filename: str | None = None,
        content_type: str | None = None,
    ) -> None:
        if isinstance(data, str):
            raise TypeError(
                "InputFile takes bytes, a binary file object or a pathlib.Path, not str; "
                "wrap a file name as Path(name), or pass a file_id or URL string directly."
            )
        self.data = data
        self.filename = filename
        self.content_type = content_type

    def __repr__(self) -> str:
        return f"InputFile(filename={self.filename!r}, content_type={self.content_type!r})"


def _is_file(value: object) -> bool:
    # A str is a file_id or a URL in the Bot API, never a path on this machine.
    return isinstance(value, InputFile | bytes | bytearray | Path) or (
        not isinstance(value, str) and callable(getattr(value, "read", None))
    )


class Bot(BotMethods):
    """A Bot API client for one bot token.

    :param token: the bot token from @BotFather (``123456:ABC-DEF...``).
    :param api_url: the Bot API server: Telegram's, a local ``telegram-bot-api`` server,
        or the emulator in :mod:`flask_tgwebhook.testing`.
    :param timeout: ``(connect, read)`` seconds for each request.
    :param session: a ``requests.Session`` to use as is (its adapters, proxies and
        lifetime stay yours); by default the bot makes and closes its own.
    :param pool_size: connections kept open to the Bot API (threads calling at once).
    :param flood_wait_max: when above 0, a 429 that asks to wait at most this many seconds
        is waited out and the call made again (up to :data:`MAX_FLOOD_WAITS` times).
    :param server_error_retries: when above 0, a 5xx answer to an idempotent method
        (:func:`is_idempotent`) is retried this many times with exponential backoff.
    :param server_error_backoff: seconds before the first of those retries; doubled each time.
    :param flood_control: paces messages to Telegram's limits, shared through a store, and
        shares a 429's wait with every worker (see :mod:`flask_tgwebhook.flood`).
    """

    def __init__(
        self,
        token: str,
        *,
        api_url: str = "https://api.telegram.org",
        timeout: tuple[float, float] = (5.0, 30.0),
        session: requests.Session | None = None,
        pool_size: int = 10,
        flood_wait_max: float = 0.0,
        server_error_retries: int = 0,
        server_error_backoff: float = 0.5,
        flood_control: FloodControl | None = None,
    ) -> None:
        if not token:
            raise ValueError(NO_TOKEN)
        if not TOKEN_RE.fullmatch(token):
            raise ValueError(
                "The bot token is malformed; it looks like 123456:ABC-DEF... (digits, a colon, "
                "then letters, digits, '_' or '-'). Copy it again from @BotFather."
            )
        if not api_url.startswith(("http://", "https://")):
            raise ValueError(
                f"The Bot API URL {api_url!r} has no http:// or https:// scheme; "
                "set TELEGRAM_API_URL to e.g. https://api.telegram.org."
            )
        if pool_size < 1 or min(flood_wait_max, server_error_retries, server_error_backoff) < 0:
            raise ValueError(
                "pool_size must be at least 1, and flood_wait_max, server_error_retries and "
                "server_error_backoff must not be negative."
            )
        self._token = token
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.flood_wait_max = flood_wait_max
        self.server_error_retries = server_error_retries
        self.server_error_backoff = server_error_backoff
        self.flood_control = flood_control
        self._owns_session = session is None
        self._session = session if session is not None else self._make_session(pool_size)
        install_log_redaction()

    @staticmethod
    def _make_session(pool_size: int) -> requests.Session:
        retry = Retry(
            total=2,
            connect=2,  # the request never left: safe to send again
            # A request that was sent is never sent again: False re-raises a read timeout or a
            # dropped connection as itself, for any verb, so it surfaces as TimedOut/NetworkError.
            read=False,
            status=0,
            other=0,
            redirect=0,
            backoff_factor=0.1,
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=retry)
        session = requests.Session()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    @property
    def bot_id(self) -> int:
        """The bot's user id: the numeric part of the token."""
        return int(self._token.split(":", 1)[0])

    @property
    def session(self) -> requests.Session:
        """The ``requests.Session`` the calls go through (to add proxies or hooks)."""
        return self._session

    def __repr__(self) -> str:
        return f"<Bot id={self.bot_id}>"

    def close(self) -> None:
        """Release the pooled connections (of a session the bot made itself).

        This is not the Bot API method ``close``; that one is :meth:`close_bot`.
        """
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Bot:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def call(
        self, method: str, *, request_timeout: tuple[float, float] | None = None, **params: Any
    ) -> Any:
        """Call the Bot API method ``method`` and return the ``result`` of its answer.

        Parameters that are ``None`` are left out. Without files the body is JSON; when a
        parameter is ``bytes``, a binary file object, a ``Path`` or an :class:`InputFile`,
        the body is multipart, those parameters are file parts and the others are form
        fields (non-strings JSON-encoded). A ``str`` is always sent as text (a file_id or URL).

        :param method: the Bot API method name, e.g. ``"sendMessage"``.
        :param request_timeout: ``(connect, read)`` seconds for this call instead of the
            bot's ``timeout``. For ``getUpdates`` the long-poll ``timeout`` is added to the read.
        :raises flask_tgwebhook.errors.APIError: the Bot API answered ``"ok": false``
            (a subclass per error: :class:`~flask_tgwebhook.errors.BadRequest`, ...).
        :raises flask_tgwebhook.errors.TimedOut: no answer in time; it may have been executed.
        :raises flask_tgwebhook.errors.NetworkError: the server could not be reached or the
            connection broke.
        :raises flask_tgwebhook.errors.InvalidResponse: the answer was not the Bot API's JSON.
        """
        if not _METHOD.fullmatch(method):
            raise ValueError(f"{method!r} is not a Bot API method name; use e.g. 'sendMessage'.")
        params = {k: v for k, v in params.items() if v is not None}
        connect, read = request_timeout or self.timeout
        if method.lower() == "getupdates":
            # The server holds a long poll open for `timeout` seconds before it answers.
            read += float(params.get("timeout") or 0)
        files = {k: v for k, v in params.items() if _is_file(v)}
        rewind = _file_positions(files)
        flood_waits = 0
        server_retries = 0
        while True:
            if self.flood_control is not None:
                self.flood_control.wait(method, params)
            try:
                return self._call_once(method, params, files, (connect, read))
            except RetryAfter as exc:
                if self.flood_control is not None:
                    self.flood_control.pause(exc.retry_after)  # every worker waits
                if not (
                    self.flood_wait_max > 0
                    and exc.retry_after <= self.flood_wait_max
                    and flood_waits < MAX_FLOOD_WAITS
                    and _rewind(rewind)
                ):
                    raise
                flood_waits += 1
                log.warning("%s hit flood control; waiting %d s as asked.", method, exc.retry_after)
                time.sleep(exc.retry_after)
            except ServerError as exc:
                if not (
                    server_retries < self.server_error_retries
                    and is_idempotent(method)
                    and _rewind(rewind)
                ):
                    raise
                delay = self.server_error_backoff * 2**server_retries
                server_retries += 1
                log.warning("%s failed with %d; retrying in %.1f s.", method, exc.error_code, delay)
                time.sleep(delay)

    def _call_once(
        self,
        method: str,
        params: dict[str, Any],
        files: dict[str, Any],
        timeout: tuple[float, float],
    ) -> Any:
        # The body is built here, before any frame holds the URL: a parameter that is not
        # JSON or a file that can't be read raises from a frame without the token.
        with ExitStack() as stack:
            if files:
                body: dict[str, Any] = {
                    "data": _form_fields(params, files),
                    "files": _file_parts(files, stack),
                }
            else:
                body = {
                    "data": _json_body(method, params),
                    "headers": {"Content-Type": "application/json"},
                }
        started = time.perf_counter()
        failure: NetworkError | None = None
        try:
            response = self._post(method, body, timeout)
        except requests.exceptions.ReadTimeout as exc:
            failure = TimedOut(
                f"{method} got no answer within {timeout[1]:g} s; it may still have been "
                f"executed, so it was not sent again. Raise the read timeout if this is "
                f"expected. ({redact(str(exc))})"
            )
        except requests.exceptions.RequestException as exc:
            failure = NetworkError(
                f"{method} could not reach the Bot API or lost the connection before an "
                f"answer; check TELEGRAM_API_URL and the network. ({redact(str(exc))})"
            )
        except Exception as exc:
            # Anything else from inside requests or urllib3 (a session hook of yours, say)
            # carries their frames, whose locals hold the URL: only its words come along.
            failure = NetworkError(
                f"{method} failed in the HTTP client ({type(exc).__name__}: {redact(str(exc))})."
            )
        if failure is not None:
            # Raised outside the except block and outside _post's frame: requests' exception
            # (its message holds the URL) is not chained, and no frame in the traceback has
            # the token in a local variable, for error trackers that record locals.
            raise failure
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("%s answered %d in %.1f ms", method, response.status_code, elapsed_ms)
        return _result(method, response)

    def _post(
        self, method: str, body: dict[str, Any], timeout: tuple[float, float]
    ) -> requests.Response:
        """The HTTP request itself: the only frame of ours that holds the URL with the token."""
        url = f"{self.api_url}/bot{self._token}/{method}"
        return self._session.post(url, timeout=timeout, **body)


def _result(method: str, response: requests.Response) -> Any:
    """The ``result`` of a Bot API answer, or the matching exception."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
        raise InvalidResponse(
            f"{method} got HTTP {response.status_code} without the Bot API's JSON answer; "
            "check that TELEGRAM_API_URL points at a Bot API server."
        )
    if data["ok"]:
        return data.get("result")
    error_code = data.get("error_code")
    parameters = data.get("parameters")
    raise api_error(
        method,
        error_code if isinstance(error_code, int) else response.status_code,
        str(data.get("description", "")),
        parameters if isinstance(parameters, dict) else None,
    )


def _json_body(method: str, params: dict[str, Any]) -> bytes:
    try:
        return json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"A parameter of {method} cannot be sent as JSON ({exc}); pass str, int, float, "
            "bool, list or dict values, and files as bytes, a binary file, a Path or InputFile."
        ) from None


def _form_fields(params: dict[str, Any], files: dict[str, Any]) -> dict[str, str]:
    return {
        key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for key, value in params.items()
        if key not in files
    }


def _file_parts(files: dict[str, Any], stack: ExitStack) -> list[tuple[str, Any]]:
    """The multipart file parts, each read into memory now (requests would read it whole
    anyway, but inside frames that hold the URL)."""
    parts: list[tuple[str, Any]] = []
    for name, value in files.items():
        spec = value if isinstance(value, InputFile) else InputFile(value)
        data = spec.data
        filename = spec.filename or _default_filename(data, name)
        if isinstance(data, Path):
            content = stack.enter_context(data.open("rb")).read()
        elif isinstance(data, bytes | bytearray):
            content = bytes(data)
        else:
            content = data.read()
        if spec.content_type is None:
            parts.append((name, (filename, content)))
        else:
            parts.append((name, (filename, content, spec.content_type)))
    return parts


def _default_filename(data: object, param: str) -> str:
    if isinstance(data, Path):
        return data.name
    name = getattr(data, "name", None)
    if isinstance(name, str) and name:
        return os.path.basename(name)
    return param  # Telegram needs some file name to treat the part as a file


def _file_positions(files: dict[str, Any]) -> list[tuple[Any, int | None]]:
    """Where each file object starts, so a retried call can send it from there again."""
    positions: list[tuple[Any, int | None]] = []
    for value in files.values():
        data = value.data if isinstance(value, InputFile) else value
        if not isinstance(data, bytes | bytearray | Path):  # those are read afresh each time
            try:
                positions.append((data, data.tell()))
            except (AttributeError, OSError):
                positions.append((data, None))
    return positions


def _rewind(positions: list[tuple[Any, int | None]]) -> bool:
    """Put file objects back where they started; False if one cannot be (a pipe, a socket)."""
    try:
        for data, start in positions:
            if start is None:
                return False
            data.seek(start)
    except (AttributeError, OSError):
        return False
    return True
