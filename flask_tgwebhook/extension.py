"""``TelegramWebhook``: the extension object, its per-app state and the wiring.

Handlers belong to the extension object (a :class:`~flask_tgwebhook.dispatch.Router`), so
they can be declared at import time; everything that depends on an app's config lives in a
:class:`TelegramState` in ``app.extensions["tgwebhook"]``. Nothing here touches the network.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from flask import Flask

from .config import DEFAULTS, Settings, apply_defaults, bot_config, check_bot_name
from .dispatch import HandlerTable, Router
from .executors import make_executor
from .external.registry import ExternalFn, ExternalHooks
from .fastpath import install_fast_path
from .flood import DEFAULTS as FLOOD_DEFAULTS
from .lazycli import LazyGroup
from .redact import install_log_redaction, redact
from .state import EXTENSION_KEY, TelegramState, get_state
from .stores import DedupeStore, open_store
from .update import Update
from .views import make_webhook_blueprint

if TYPE_CHECKING:
    from .client import Bot  # requests is imported with the first Bot API call

__all__ = ["EXTENSION_KEY", "TelegramState", "TelegramWebhook"]

logger = logging.getLogger("flask_tgwebhook")

StoreFactory = Callable[[Flask, Settings], DedupeStore]
F = TypeVar("F", bound=ExternalFn)


class TelegramWebhook(Router):
    """Make a Flask app a Telegram bot.

    :param app: the app, or ``None`` to call :meth:`init_app` later (app factories).
    :param store: a store, or a factory ``(app, settings) -> store``; defaults to the one
        ``TELEGRAM_STORE_URL`` names (see :func:`~flask_tgwebhook.stores.open_store`): an
        SQLite file in the instance folder when unset.
    :param name: ``None`` for the app's bot; a name for one more bot in the same app, with its
        own token, route (default ``/telegram/<name>/webhook``), secret, handlers and state,
        configured in ``TELEGRAM_BOTS[name]`` (see :func:`~flask_tgwebhook.config.bot_config`).
    :param blueprint_name: the name of the webhook Blueprint (endpoint ``<name>.webhook``);
        default ``tgwebhook``, or ``tgwebhook_<name>`` for a named bot.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        name: str | None = None,
        store: DedupeStore | StoreFactory | None = None,
        blueprint_name: str | None = None,
    ) -> None:
        #: The bot's name in the app (``None``: the app's unnamed bot).
        self.bot_name = check_bot_name(name) if name is not None else None
        if blueprint_name is None:
            blueprint_name = "tgwebhook" if name is None else f"tgwebhook_{name}"
        super().__init__(name=blueprint_name)
        self._store = store
        self.blueprint_name = blueprint_name
        #: The commands of :meth:`external`, for links from other services.
        self.external_hooks = ExternalHooks()
        self._table: HandlerTable | None = None
        self._table_lock = threading.Lock()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the config, register the webhook Blueprint and the ``flask tg`` commands."""
        first: TelegramState | None = app.extensions.get(EXTENSION_KEY)
        if first is not None and self.bot_name in first.bots:
            raise RuntimeError(
                "A 'TelegramWebhook' instance has already been registered on this Flask app"
                + (f" for the bot {self.bot_name!r}" if self.bot_name else "")
                + ". Import and use that instance instead, or give another bot its own name."
            )
        apply_defaults(app.config, DEFAULTS)
        apply_defaults(app.config, FLOOD_DEFAULTS)
        if self.bot_name is None:
            settings = Settings.from_config(app.config)
            # Like every other key, the config shows the value in use (here: derived, maybe).
            app.config["TELEGRAM_WEBHOOK_PATH"] = settings.webhook_path
        else:
            settings = Settings.from_config(*bot_config(app.config, os.environ, self.bot_name))
        state = TelegramState(self, app, settings, self._make_store(app, settings))
        if first is not None:
            state.bots = first.bots  # one registry per app, shared by its bots
            first.bots[self.bot_name] = state
        if first is None or self.bot_name is None:
            app.extensions[EXTENSION_KEY] = state  # the key holds the unnamed bot when there is one
        state.executor = make_executor(state)
        if state.executor is not None:
            state.executor.start()
        app.register_blueprint(make_webhook_blueprint(state, self.blueprint_name))
        # Tokens out of this package's tracebacks (a handler may quote a Bot API URL), and
        # link tokens out of Flask's "Exception on <path>" line on the app's logger.
        install_log_redaction(app.name)
        # Signed links for other services, on this bot's own path.
        state.links = self.external_hooks.init_app(
            app, settings, blueprint_name=f"{self.blueprint_name}_external"
        )
        if settings.fast_path:  # inside ProxyFix, which must fix the address before us
            install_fast_path(app, f"{self.blueprint_name}.webhook")
        if settings.trusted_proxies:
            _trust_proxies(app, settings.trusted_proxies)
        _register_cli(app)
        _warn_about(settings)

    def _make_store(self, app: Flask, settings: Settings) -> DedupeStore:
        if self._store is None:
            return open_store(settings.store_url, app)
        if isinstance(self._store, DedupeStore):
            return self._store
        return self._store(app, settings)

    @property
    def table(self) -> HandlerTable:
        """Every router's handlers compiled; built on the first update, then frozen."""
        table = self._table
        if table is None:
            with self._table_lock:
                if self._table is None:
                    self._table = HandlerTable(self)
                table = self._table
        return table

    def state(self, app: Flask | None = None) -> TelegramState:
        """The state of ``app`` (default: the current app); see :func:`~.state.get_state`."""
        return get_state(app, self)

    # -- links for other services (flask_tgwebhook.external) -----------------------------

    @overload
    def external(self, fn: F, /) -> F: ...
    @overload
    def external(
        self, command: str | None = None, /, *, allow_ips: Iterable[str] | None = None
    ) -> Callable[[F], F]: ...
    def external(self, command: Any = None, /, *, allow_ips: Any = None) -> Any:
        """Register ``fn(call)`` for calls to :meth:`external_url` links of ``command``:
        ``@tg.external``, ``@tg.external("paid")`` or ``@tg.external("paid", allow_ips=[...])``.
        See :meth:`~flask_tgwebhook.external.ExternalHooks.external`."""
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
        service calls it. See :meth:`~flask_tgwebhook.external.ExternalHooks.url`."""
        links = self.state().links
        assert links is not None, "init_app makes every bot's links"
        return self.external_hooks.url(links, command, user_id, expires_in=expires_in, **extra)

    @property
    def bot(self) -> Bot:
        """The Bot API client of the current app."""
        return self.state().bot

    def dispatch(self, raw: dict[str, Any], app: Flask | None = None) -> Any:
        """Run only the handlers for one update dict: no dedupe, counters or signals.

        For a unit test of a handler; everything else should go through
        :func:`~flask_tgwebhook.pipeline.feed_update`, as the webhook and polling do.
        """
        return self.table.dispatch(Update(raw, self.state(app).bot_username))


def _trust_proxies(app: Flask, count: int) -> None:
    """Take the client address from ``X-Forwarded-For``, as many hops from the right as
    there are proxies we run; anything a client wrote further left is ignored."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    if isinstance(app.wsgi_app, ProxyFix):
        raise RuntimeError(
            "The app is already wrapped in ProxyFix; remove TELEGRAM_TRUSTED_PROXIES or the "
            "app's own ProxyFix, so the proxies are counted once."
        )
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count)  # type: ignore[method-assign]


def _register_cli(app: Flask) -> None:
    # `flask tg` imports requests and cryptography: only when a command runs, not in workers.
    app.cli.add_command(LazyGroup("tg", "flask_tgwebhook.cli:tg_cli"))


def _warn_about(settings: Settings) -> None:
    """Start-up warnings for settings that work but will most likely lose updates."""
    if settings.route_differs_from_url():
        logger.warning(
            "The webhook route is %s but TELEGRAM_WEBHOOK_URL (%s) has another path: unless a "
            "proxy rewrites the path, every delivery gets 404. Remove TELEGRAM_WEBHOOK_PATH "
            "(the route then follows the URL) or make the two agree.",
            settings.webhook_path,
            redact(settings.webhook_url or ""),
        )
