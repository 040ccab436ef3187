"""The registry of external commands and the signed links that call them.

``tg.external(command)`` registers a handler; ``tg.external_url(command, user_id)`` makes
an absolute https link whose token binds the bot, the command, the user and any extras.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from flask import Flask, current_app, has_request_context, request
from werkzeug.datastructures import Headers

from ..config import apply_defaults
from ..redact import add_link_path
from .ratelimit import RateLimiter
from .settings import DEFAULTS, EXTENSION_KEY, ExternalSettings, ExternalState
from .signing import LinkClaims, dump_token, expiry, key_fallbacks, signing_keys

if TYPE_CHECKING:
    from ..config import Settings

logger = logging.getLogger("flask_tgwebhook.external")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


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

    __slots__ = ("allow_ips", "callback", "command")

    def __init__(
        self, command: str, callback: ExternalFn, allow_ips: Iterable[str] | None = None
    ) -> None:
        self.command = command
        self.callback = callback
        self.allow_ips: tuple[IPNetwork, ...] | None = None
        if allow_ips is not None:
            if isinstance(allow_ips, str):
                allow_ips = [allow_ips]  # one network given bare, not as a list
            try:
                self.allow_ips = tuple(ipaddress.ip_network(n, strict=False) for n in allow_ips)
            except ValueError as exc:
                raise ValueError(
                    f"allow_ips of external command {command!r} must be addresses or networks "
                    f"like '203.0.113.7' or '203.0.113.0/24': {exc}"
                ) from None

    def allows(self, remote_addr: str | None) -> bool:
        """Whether a client at ``remote_addr`` may call; a missing or garbled one may not."""
        if self.allow_ips is None:
            return True
        try:
            address: IPAddress = ipaddress.ip_address(remote_addr or "")
        except ValueError:
            return False  # e.g. a forged X-Forwarded-For that isn't an address: 403, not 500
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped  # '::ffff:203.0.113.7' from a dual-stack socket
        return any(address in network for network in self.allow_ips)

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

    def init_app(self, app: Flask, bot_settings: Settings) -> ExternalState:
        """Read the ``TELEGRAM_EXTERNAL_*`` config and register the route on ``app``."""
        from .views import make_external_blueprint

        apply_defaults(app.config, DEFAULTS)
        key_fallbacks(app.config)  # a string there fails now, not at the first call
        settings = ExternalSettings.from_config(app.config, bot_settings.webhook_path)
        limiter = None
        if settings.rate_limit:
            limiter = RateLimiter(settings.rate_limit, settings.storage_uri)
        state = ExternalState(self, settings, bot_settings, limiter)
        app.extensions[EXTENSION_KEY] = state
        app.register_blueprint(make_external_blueprint(state))
        add_link_path(settings.path)  # redacted from every log line, like bot tokens
        return state

    def state(self, app: Flask | None = None) -> ExternalState:
        """The :class:`ExternalState` of ``app`` (default: the current app)."""
        app = app if app is not None else current_app
        state: ExternalState | None = app.extensions.get(EXTENSION_KEY)
        if state is None or state.hooks is not self:
            raise RuntimeError(
                "External links are not set up on this app by this extension object. Call "
                "tg.init_app(app) first."
            )
        return state

    def url(
        self,
        command: str,
        user_id: int | None = None,
        *,
        expires_in: float | timedelta | None = None,
        **extra: Any,
    ) -> str:
        """An absolute https link that calls ``command`` for ``user_id`` when fetched.

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
        state = self.state()
        claims = LinkClaims(state.bot_id, command, user_id, extra, expiry(expires_in))
        token = dump_token(signing_keys(current_app.config), claims)
        return f"{base_url(state)}{state.settings.path}/{token}"


def base_url(state: ExternalState) -> str:
    """Where the world reaches this app: the configured base, or the webhook's origin.

    Without either, a request's ``Host`` header is used only in debug or testing mode: a
    client writes that header, and a link minted from it would send the token to the
    client's host.
    """
    base = state.settings.base_url or state.bot_settings.public_base_url
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


class ExternalLinks:
    """The extension's side of external links: ``tg.external``, ``tg.add_external`` and
    ``tg.external_url``, each handing over to one :class:`ExternalHooks` per extension."""

    @property
    def external_hooks(self) -> ExternalHooks:
        """The registry behind :meth:`external`, made on first use."""
        hooks: ExternalHooks | None = self.__dict__.get("_external_hooks")
        if hooks is None:
            hooks = self.__dict__["_external_hooks"] = ExternalHooks()
        return hooks

    @overload
    def external(self, fn: F, /) -> F: ...
    @overload
    def external(
        self, command: str | None = None, /, *, allow_ips: Iterable[str] | None = None
    ) -> Callable[[F], F]: ...
    def external(self, command: Any = None, /, *, allow_ips: Any = None) -> Any:
        """Register ``fn(call)`` for calls to :meth:`external_url` links of ``command``.

        ``@tg.external`` (the function's name is the command), ``@tg.external("paid")`` or
        ``@tg.external("paid", allow_ips=["203.0.113.0/24"])``. See
        :meth:`ExternalHooks.external`.
        """
        return self.external_hooks.external(command, allow_ips=allow_ips)

    def add_external(
        self, command: str, fn: ExternalFn, *, allow_ips: Iterable[str] | None = None
    ) -> None:
        """The non-decorator twin of :meth:`external`."""
        self.external_hooks.add(command, fn, allow_ips=allow_ips)

    def external_url(
        self,
        command: str,
        user_id: int | None = None,
        *,
        expires_in: float | timedelta | None = None,
        **extra: Any,
    ) -> str:
        """A signed absolute https link that runs ``command`` for ``user_id`` when another
        service calls it with GET or POST. See :meth:`ExternalHooks.url`."""
        return self.external_hooks.url(command, user_id, expires_in=expires_in, **extra)
