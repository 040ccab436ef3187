"""The registry of external commands, the links that call them, and each app's link state.

``tg.external(command)`` registers a handler in the extension's :class:`ExternalHooks`;
``tg.external_url(command, user_id)`` makes an absolute https link whose token binds the bot,
the command, the user and any extras; :func:`send_external_link` sends one to a user with
previews off (Telegram fetches a link in a message to preview it, which would call it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from flask import Flask, current_app, has_request_context, request
from werkzeug.datastructures import Headers

from ..netguard import NetworkAllowlist, parse_networks
from ..redact import add_link_path
from .ratelimit import RateLimiter
from .signing import LinkClaims, dump_token, expiry, key_fallbacks, signing_keys

if TYPE_CHECKING:
    from ..client import Bot
    from ..config import Settings

__all__ = [
    "ExternalCall",
    "ExternalFn",
    "ExternalHook",
    "ExternalHooks",
    "LinkState",
    "base_url",
    "send_external_link",
]

logger = logging.getLogger("flask_tgwebhook.external")


@dataclass(frozen=True, slots=True)
class ExternalCall:
    """One call of an external link, as the handler sees it (read-only).

    :ivar user_id: the user the link was made for; ``None`` for a bot-wide hook.
    :ivar command: the command the link calls.
    :ivar content: the ``content`` query or form parameter if present, else the JSON body,
        else the form as a dict; ``None`` when the request carried none of these.
    :ivar url: the full URL that was called. It contains the token: don't log it.
    :ivar method: ``"GET"`` or ``"POST"``.
    :ivar params: the query arguments, overlaid with the link's signed extras.
    :ivar headers: the request headers.
    :ivar ip: the client address (through ``TELEGRAM_TRUSTED_PROXIES``), as given.
    :ivar body: the raw request body, byte for byte, to check a provider's own signature.
    :ivar extra: the extras signed into the link (nobody but this app can change them).
    """

    user_id: int | None
    command: str
    content: Any
    url: str
    method: str
    params: Mapping[str, Any]
    headers: Headers
    ip: str | None
    body: bytes
    extra: Mapping[str, Any]


ExternalFn = Callable[[ExternalCall], Any]
F = TypeVar("F", bound=ExternalFn)


class ExternalHook:
    """One registered command: its handler and the networks allowed to call it."""

    __slots__ = ("allowlist", "callback", "command")

    def __init__(
        self, command: str, callback: ExternalFn, allow_ips: Iterable[str] | None = None
    ) -> None:
        self.command = command
        self.callback = callback
        #: The webhook's allowlist, for this command's callers; ``None``: anyone.
        self.allowlist: NetworkAllowlist | None = None
        if allow_ips is not None:
            try:
                networks = parse_networks([allow_ips] if isinstance(allow_ips, str) else allow_ips)
            except RuntimeError:
                raise ValueError(
                    f"allow_ips of external command {command!r} must be addresses or networks "
                    f"like '203.0.113.7' or '203.0.113.0/24', got {allow_ips!r}."
                ) from None
            self.allowlist = NetworkAllowlist(networks or ())

    def allows(self, remote_addr: str | None) -> bool:
        """Whether a client at ``remote_addr`` may call; a missing or garbled one may not."""
        return self.allowlist is None or self.allowlist.allows(remote_addr)

    def __repr__(self) -> str:
        fn = self.callback
        name = f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"
        return f"<ExternalHook {self.command!r} {name}>"


class ExternalHooks:
    """Command → handler for calls from other services, for one extension object.

    Handlers are registered at import time; :meth:`init_app` then gives each app its route.
    """

    def __init__(self) -> None:
        self.hooks: dict[str, ExternalHook] = {}
        self._warned: set[str] = set()
        self._frozen = False

    @overload
    def external(self, fn: F, /) -> F: ...
    @overload
    def external(
        self, command: str | None = None, /, *, allow_ips: Iterable[str] | None = None
    ) -> Callable[[F], F]: ...
    def external(self, command: Any = None, /, *, allow_ips: Any = None) -> Any:
        """Register ``fn(call)`` for calls to links made for ``command``.

        Bare ``@tg.external`` uses the function's name as the command. The handler returns
        ``None`` (empty 200), a string (the page a person who opened the link sees), or
        anything else a Flask view may return.

        :param allow_ips: addresses or networks that may call (e.g. a provider's published
            ranges); others get 403.
        """
        if callable(command):
            self.add(command.__name__, command)
            return command

        def decorator(fn: F) -> F:
            self.add(command if command is not None else fn.__name__, fn, allow_ips=allow_ips)
            return fn

        return decorator

    def add(self, command: str, fn: ExternalFn, *, allow_ips: Iterable[str] | None = None) -> None:
        """The non-decorator twin of :meth:`external`."""
        if self._frozen:
            raise RuntimeError(
                f"External command {command!r} comes too late: the app has already served an "
                "external call. Register every external handler before the app starts serving."
            )
        if not isinstance(command, str) or not command:
            raise ValueError(f"An external command is a non-empty string, got {command!r}.")
        if not callable(fn):
            raise TypeError(f"An external handler must be callable with the call, got {fn!r}.")
        if command in self.hooks:
            raise ValueError(
                f"External command {command!r} is already handled by {self.hooks[command]!r}; "
                "give the new handler another command name."
            )
        self.hooks[command] = ExternalHook(command, fn, allow_ips)

    def get(self, command: str) -> ExternalHook | None:
        """The hook for ``command``, or ``None``."""
        return self.hooks.get(command)

    def freeze(self) -> None:
        """Refuse registrations from now on (called at the first external call)."""
        self._frozen = True

    def init_app(
        self, app: Flask, settings: Settings, *, blueprint_name: str = "tgwebhook_external"
    ) -> LinkState:
        """Register the links' route on ``app``; what the app keeps for them.

        The ``TELEGRAM_EXTERNAL_*`` keys are read with the rest, into ``settings``.
        """
        from .views import make_external_blueprint

        key_fallbacks(app.config)  # a string there fails now, not at the first call
        limiter = None
        if settings.external_rate_limit:
            limiter = RateLimiter(settings.external_rate_limit, settings.ratelimit_storage_uri)
        links = LinkState(self, settings, limiter)
        app.register_blueprint(make_external_blueprint(links, blueprint_name))
        add_link_path(settings.external_path)  # redacted from every log line, like bot tokens
        return links

    def url(
        self,
        links: LinkState,
        command: str,
        user_id: int | None = None,
        *,
        expires_in: float | timedelta | None = None,
        **extra: Any,
    ) -> str:
        """An absolute https link that calls ``command`` for ``user_id`` when fetched.

        :param links: the app's :class:`LinkState` (``get_state(app).links``).
        :param user_id: the Telegram user the call is for; ``None`` for a bot-wide hook.
        :param expires_in: seconds (or a ``timedelta``) after which the link answers 410.
        :param extra: JSON values signed into the link; the handler reads them as
            ``call.extra`` (and in ``call.params``), and nobody else can change them.
        """
        if user_id is not None and (isinstance(user_id, bool) or not isinstance(user_id, int)):
            raise TypeError(f"user_id must be a Telegram user id (int) or None, got {user_id!r}.")
        if not isinstance(command, str) or not command:
            raise ValueError(f"An external command is a non-empty string, got {command!r}.")
        if command not in self.hooks and command not in self._warned:
            self._warned.add(command)
            logger.warning(
                "external_url(%r): no external handler is registered for this command, so the "
                "link answers 404 until one is.",
                command,
            )
        claims = LinkClaims(links.bot_id, command, user_id, extra, expiry(expires_in))
        token = dump_token(signing_keys(current_app.config), claims)
        return f"{base_url(links)}{links.settings.external_path}/{token}"


@dataclass
class LinkState:
    """What one app keeps for its links, as ``get_state(app).links``."""

    #: The extension's registry of commands.
    registry: ExternalHooks
    #: The app's settings (the ``external_*`` fields are the links').
    settings: Settings
    #: Flood protection, when ``TELEGRAM_EXTERNAL_RATE_LIMIT`` is set.
    limiter: RateLimiter | None = None
    #: Whether the warning that links take their origin from a request was logged.
    host_warned: bool = False

    @property
    def bot_id(self) -> int | None:
        """The bot every link of this app is bound to."""
        return self.settings.bot_id


def base_url(state: LinkState) -> str:
    """Where the world reaches this app: the configured base, or the webhook's origin.

    Without either, a request's ``Host`` header is used only in debug or testing mode: a
    client writes that header, and a link minted from it would send the token to the
    client's host.
    """
    base = state.settings.external_base_url or state.settings.public_base_url
    if base:
        return base.rstrip("/")
    if has_request_context() and (current_app.debug or current_app.testing):
        if not state.host_warned:
            state.host_warned = True
            logger.warning(
                "external_url(): links take their origin from the request's Host header, %r, "
                "because neither TELEGRAM_EXTERNAL_BASE_URL nor TELEGRAM_WEBHOOK_URL is set "
                "(allowed in debug and testing only). Set TELEGRAM_EXTERNAL_BASE_URL.",
                request.host,
            )
        return f"https://{request.host}{request.script_root}"
    raise RuntimeError(
        "Can't tell this app's public address to make an external link. Set "
        "TELEGRAM_EXTERNAL_BASE_URL (e.g. 'https://bot.example.com') or TELEGRAM_WEBHOOK_URL; "
        "the request's Host header is not used outside debug and testing, because a client "
        "can write anything there."
    )


def send_external_link(
    bot: Bot,
    chat_id: int | str,
    text: str,
    url: str,
    *,
    button: str | None = None,
    **params: Any,
) -> Any:
    """Send ``url`` to ``chat_id`` with link previews off, and return the sent Message.

    :param text: the message. Without ``button`` the link goes on a line of its own after
        it, so use plain text or ``parse_mode="HTML"`` (MarkdownV2 would need the link escaped).
    :param button: put the link in an inline keyboard button with this label instead; the
        text is then left as it is, in any parse mode.
    :param params: more sendMessage parameters (``parse_mode``, ``message_thread_id``, ...).
    """
    if button is not None:
        if "reply_markup" in params:
            raise ValueError("Pass button or reply_markup, not both: the button is the markup.")
        params["reply_markup"] = {"inline_keyboard": [[{"text": button, "url": url}]]}
    else:
        text = f"{text}\n{url}" if text else url
    params["link_preview_options"] = {"is_disabled": True}
    return bot.call("sendMessage", chat_id=chat_id, text=text, **params)
