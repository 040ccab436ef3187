"""``TelegramWebhook``: the extension object, its per-app state and the wiring.

Handlers belong to the extension object (a :class:`~flask_tgwebhook.dispatch.Router`), so
they can be declared at import time; everything that depends on an app's config lives in a
:class:`TelegramState` in ``app.extensions["tgwebhook"]``. Nothing here touches the network.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app

from .client import Bot
from .config import DEFAULTS, Settings, apply_defaults
from .dispatch import HandlerTable, Router
from .external.hooks import ExternalLinks
from .flood import DEFAULTS as FLOOD_DEFAULTS
from .flood import FLOOD_WAIT_MAX, FloodControl, FloodSettings
from .redact import install_log_redaction
from .stores import Claim, DedupeStore, MemoryStore
from .views import make_webhook_blueprint

logger = logging.getLogger("flask_tgwebhook")

EXTENSION_KEY = "tgwebhook"
#: Seconds before getMe is asked again for the bot's username after it failed.
USERNAME_RETRY_AFTER = 60

StoreFactory = Callable[[Flask, Settings], DedupeStore]


class TelegramState:
    """What the extension keeps per app: settings, the Bot API client, the dedupe store."""

    def __init__(
        self, ext: TelegramWebhook, app: Flask, settings: Settings, store: DedupeStore
    ) -> None:
        self.ext = ext
        self.app = app
        self.settings = settings
        self.store = store
        #: Prefix of dedupe keys, so bots sharing one store never collide.
        self.key_prefix = f"tg:{settings.bot_id or 0}:"
        #: ``TELEGRAM_FLOOD_*``: whether and how the client paces messages.
        self.flood = FloodSettings.from_config(app.config)
        #: Counts of received, handled, unhandled, failed, duplicate and rejected requests.
        self.stats: Counter[str] = Counter()
        self._bot: Bot | None = None
        self._username: str | None = settings.bot_username
        self._username_retry_at = 0.0
        self._lock = threading.Lock()
        self._failures: MemoryStore | None = None  # failure counts while the store is down

    @property
    def bot(self) -> Bot:
        """The Bot API client for this app, made on first use (after any fork)."""
        if self._bot is None:
            with self._lock:
                if self._bot is None:
                    self._bot = self._make_bot()
        return self._bot

    def _make_bot(self) -> Bot:
        settings = self.settings
        if not settings.token:
            raise RuntimeError(
                "No bot token: set TELEGRAM_BOT_TOKEN in the app's config or the environment "
                "to call the Bot API."
            )
        flood = self.flood_control() if self.flood.enabled else None
        return Bot(
            settings.token,
            api_url=settings.api_url,
            timeout=settings.timeout,
            flood_control=flood,
            flood_wait_max=FLOOD_WAIT_MAX if flood else 0.0,
        )

    def flood_control(self) -> FloodControl:
        """A pacer for this bot's messages, shared through the store with every worker."""
        return FloodControl.from_settings(self.store, self.flood, self.key_prefix)

    def bot_username(self) -> str | None:
        """This bot's @username: configured, or asked from getMe once (only when needed).

        After a failed getMe the question waits :data:`USERNAME_RETRY_AFTER` seconds, so an
        outage does not add a Bot API call to every update that names a bot.
        """
        if self._username is None and self.settings.token:
            now = time.monotonic()
            if now < self._username_retry_at:
                return None
            try:
                self._username = str(self.bot.call("getMe")["username"])
            except Exception as exc:
                self._username_retry_at = now + USERNAME_RETRY_AFTER
                logger.warning(
                    "Could not learn the bot's username from getMe (%s); asking again in %d s. "
                    "Set TELEGRAM_BOT_USERNAME so that /command@username in groups is "
                    "recognised without it.",
                    exc,
                    USERNAME_RETRY_AFTER,
                )
        return self._username

    # The store may be a network service: when it is down we handle the update anyway
    # (fail open). Running an update twice in an outage beats losing it.
    def claim(self, key: str) -> Claim:
        try:
            return self.store.claim(key, self.settings.processing_timeout)
        except Exception:
            logger.warning("The dedupe store failed; handling the update anyway.", exc_info=True)
            return Claim.NEW

    def finish(self, key: str) -> None:
        try:
            self.store.finish(key, self.settings.dedupe_ttl)
        except Exception:
            logger.warning("The dedupe store failed to mark an update done.", exc_info=True)

    def release(self, key: str) -> None:
        try:
            self.store.release(key)
        except Exception:
            logger.warning("The dedupe store failed to release an update.", exc_info=True)

    def count_failure(self, key: str) -> int:
        """Failures of one update so far, this one included (for ``TELEGRAM_MAX_RETRIES``)."""
        try:
            return self.store.incr(key, self.settings.dedupe_ttl)
        except Exception:
            logger.warning(
                "The dedupe store failed to count a failure; counting in this process.",
                exc_info=True,
            )
        # Per process, so the cap still holds (times the number of workers) in an outage.
        if self._failures is None:
            self._failures = MemoryStore(max_entries=10_000)
        return self._failures.incr(key, self.settings.dedupe_ttl)


class TelegramWebhook(ExternalLinks, Router):
    """Make a Flask app a Telegram bot.

    :param app: the app, or ``None`` to call :meth:`init_app` later (app factories).
    :param store: a dedupe store, or a factory ``(app, settings) -> store``; defaults to a
        :class:`~flask_tgwebhook.dedupe_redis.RedisStore` when ``TELEGRAM_DEDUPE_URL`` is set,
        else one :class:`~flask_tgwebhook.dedupe.MemoryStore` per app.
    :param blueprint_name: the name of the webhook Blueprint (endpoint ``<name>.webhook``).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        store: DedupeStore | StoreFactory | None = None,
        blueprint_name: str = "tgwebhook",
    ) -> None:
        super().__init__(name=blueprint_name)
        self._store = store
        self.blueprint_name = blueprint_name
        self._table: HandlerTable | None = None
        self._table_lock = threading.Lock()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the config, register the webhook Blueprint and the ``flask tg`` commands."""
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "A 'TelegramWebhook' instance has already been registered on this Flask app. "
                "Import and use that instance instead."
            )
        apply_defaults(app.config, DEFAULTS)
        apply_defaults(app.config, FLOOD_DEFAULTS)
        settings = Settings.from_config(app.config)
        state = TelegramState(self, app, settings, self._make_store(app, settings))
        app.extensions[EXTENSION_KEY] = state
        app.register_blueprint(make_webhook_blueprint(state, self.blueprint_name))
        # Tokens out of this package's tracebacks (a handler may quote a Bot API URL), and
        # link tokens out of Flask's "Exception on <path>" line on the app's logger.
        install_log_redaction(app.name)
        self.external_hooks.init_app(app, settings)  # signed links for other services
        if settings.trusted_proxies:
            _trust_proxies(app, settings.trusted_proxies)
        _register_cli(app)

    def _make_store(self, app: Flask, settings: Settings) -> DedupeStore:
        if self._store is None:
            if settings.dedupe_url:
                from .stores.redis import RedisStore  # redis is an optional extra

                return RedisStore.from_url(settings.dedupe_url)
            return MemoryStore()
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
        """The state of ``app`` (default: the current app)."""
        app = app if app is not None else current_app
        try:
            state: TelegramState = app.extensions[EXTENSION_KEY]
        except KeyError:
            raise RuntimeError(
                "flask_tgwebhook is not set up on this app. Call tg.init_app(app) first."
            ) from None
        if state.ext is not self:
            raise RuntimeError("This app was set up by a different TelegramWebhook instance.")
        return state

    @property
    def bot(self) -> Bot:
        """The Bot API client of the current app."""
        return self.state().bot

    def dispatch(self, raw: dict[str, Any], app: Flask | None = None) -> Any:
        """Dispatch one update dict outside a webhook request (``flask tg poll`` uses it)."""
        from .update import Update

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
    from .cli import tg_cli  # cli imports this module: import it when an app is set up

    app.cli.add_command(tg_cli)
