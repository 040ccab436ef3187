"""What the extension keeps per app, and the one way to find it.

Everything lives under one key, ``app.extensions["tgwebhook"]`` (Flask-SQLAlchemy's pattern):
the settings read once, the store, the Bot API client (made on first use, after any fork),
the counters, and the signed links' state. :func:`get_state` is the only lookup; when the
extension is missing it raises one sentence that says what to call first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import TYPE_CHECKING

from flask import Flask, current_app

from .config import Settings
from .flood import FLOOD_WAIT_MAX, FloodControl, FloodSettings
from .stores import DedupeStore
from .stores.failopen import FailOpenStore
from .tokens import NO_TOKEN

if TYPE_CHECKING:
    from .client import Bot  # requests is imported with the first Bot API call
    from .executors import BackgroundExecutor
    from .extension import TelegramWebhook
    from .external.registry import LinkState

__all__ = ["EXTENSION_KEY", "TelegramState", "get_state"]

logger = logging.getLogger("flask_tgwebhook")

#: The one ``app.extensions`` key of this extension.
EXTENSION_KEY = "tgwebhook"
#: Seconds before getMe is asked again for the bot's username after it failed.
USERNAME_RETRY_AFTER = 60


def get_state(
    app: Flask | None = None, ext: TelegramWebhook | None = None, *, name: str | None = None
) -> TelegramState:
    """The state of a bot of ``app`` (default: the current app).

    :param ext: the bot of this extension object (it must be set up on the app).
    :param name: else the bot of this name (``None``: the unnamed bot, or the only one).
    :raises RuntimeError: the extension is not set up on the app, or has no such bot; the
        message says the fix.
    """
    app = current_app if app is None else app
    first: TelegramState | None = app.extensions.get(EXTENSION_KEY)
    if first is None:
        raise RuntimeError(
            f"flask_tgwebhook is not set up on the app {app.name!r}. Call tg.init_app(app) "
            "first (or TelegramWebhook(app)), in the app or the factory the server loads."
        )
    if ext is not None:
        state = first.bots.get(ext.bot_name)
        if state is None or state.ext is not ext:
            raise RuntimeError("This app was set up by a different TelegramWebhook instance.")
        return state
    state = first.bots.get(name)
    if state is None and name is None and len(first.bots) == 1:
        return first  # one named bot and nothing else: it is the bot
    if state is None:
        names = ", ".join(repr(n) for n in first.bots if n is not None) or "none"
        raise RuntimeError(
            f"The app {app.name!r} has no bot named {name!r} (named bots: {names}); pass the "
            "name of one (flask tg --bot NAME), or set one up with TelegramWebhook(app, "
            "name=...)."
        )
    return state


class TelegramState:
    """One app's bot: settings, store, client, counters."""

    def __init__(
        self, ext: TelegramWebhook, app: Flask, settings: Settings, store: DedupeStore
    ) -> None:
        self.ext = ext
        self.app = app
        self.settings = settings
        #: The shared store, as configured.
        self.store = store
        #: The store as the update pipeline uses it: leases from the settings, fail-open.
        self.dedupe = FailOpenStore(store, settings.processing_timeout, settings.dedupe_ttl)
        #: Prefix of store keys, so bots sharing one store never collide.
        self.key_prefix = f"tg:{settings.bot_id or 0}:"
        #: ``TELEGRAM_FLOOD_*``: whether and how the client paces messages.
        self.flood = FloodSettings.from_config(app.config)
        #: Counts of received, handled, unhandled, failed, duplicate and rejected updates.
        self.stats: Counter[str] = Counter()
        #: Every bot of the app by name (``None``: the unnamed one); shared by their states.
        self.bots: dict[str | None, TelegramState] = {ext.bot_name: self}
        #: The background executor (``TELEGRAM_EXECUTOR``), or ``None`` to handle inline.
        self.executor: BackgroundExecutor | None = None
        #: The signed links' per-app state (see :mod:`flask_tgwebhook.external`); ``None``
        #: for a named bot (links are the app's unnamed bot's).
        self.links: LinkState | None = None
        self._bot: Bot | None = None
        self._username: str | None = settings.bot_username
        self._username_retry_at = 0.0
        self._lock = threading.Lock()

    def update_key(self, update_id: int, what: str = "") -> str:
        """The store key of an update's claim (``what=""``) or of one of its counters; the
        webhook, polling and the executors must name it alike."""
        return f"{self.key_prefix}{what}{update_id}"

    @property
    def bot(self) -> Bot:
        """The Bot API client for this app, made on first use (after any fork)."""
        if self._bot is None:
            with self._lock:
                if self._bot is None:
                    self._bot = self._make_bot()
        return self._bot

    def _make_bot(self) -> Bot:
        from .client import Bot

        settings = self.settings
        if not settings.token:
            raise RuntimeError(NO_TOKEN)
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
