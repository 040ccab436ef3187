"""Albums: the messages of one ``media_group_id`` handed to ``@tg.media_group()`` once.

Telegram sends an album as separate updates, one per photo or video, maybe to different
workers. Each part is recorded in the store (:meth:`~flask_tgwebhook.stores.base.Store.album_add`)
and acknowledged; once no part arrived for ``TELEGRAM_MEDIA_GROUP_WAIT`` seconds, whichever
worker asks first (:meth:`~flask_tgwebhook.stores.base.Store.album_claim`) gets every part, in
message order, and runs the album handler. A handler's ``reply(...)`` is sent through the
client.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import signals
from .dispatch import run_error_handlers
from .errors import TelegramError
from .reply import Reply
from .update import Update

if TYPE_CHECKING:
    from .state import TelegramState

__all__ = ["Album", "AlbumFn", "collect_part", "media_group_id", "sweep_albums", "watch_albums"]

logger = logging.getLogger("flask_tgwebhook")

#: Seconds an album's parts are kept after its latest part, if nobody took them.
ALBUM_TTL = 3600.0
#: Seconds between two looks of a worker for albums left behind by a worker that died.
SWEEP_INTERVAL = 10.0
#: Update fields whose messages can be parts of an album.
ALBUM_FIELDS = ("message", "channel_post", "business_message")


class Album:
    """An album's parts, in message order."""

    __slots__ = ("media_group_id", "updates")

    def __init__(self, media_group_id: str, updates: list[Update]) -> None:
        self.media_group_id = media_group_id
        #: One update per photo or video, in message order.
        self.updates = updates

    @property
    def chat_id(self) -> int | None:
        """The chat the album was sent to."""
        return self.updates[0].chat_id if self.updates else None

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The parts' message objects, in order."""
        return [update.payload for update in self.updates]

    def __len__(self) -> int:
        return len(self.updates)

    def __repr__(self) -> str:
        return f"<Album {self.media_group_id} of {len(self.updates)} parts>"


AlbumFn = Callable[[Album], Any]


def media_group_id(raw: dict[str, Any]) -> str | None:
    """The ``media_group_id`` of an update's message, or ``None`` when it is no album part."""
    for field in ALBUM_FIELDS:
        message = raw.get(field)
        if isinstance(message, dict):
            group = message.get("media_group_id")
            return str(group) if group is not None else None
    return None


def collect_part(state: TelegramState, raw: dict[str, Any], group: str) -> None:
    """Record one part and have the album looked at once its quiet window may be over."""
    album = _prefix(state) + group
    message = next(raw[f] for f in ALBUM_FIELDS if isinstance(raw.get(f), dict))
    added = state.store.album_add(
        album, int(message.get("message_id", 0)), json.dumps(raw), ALBUM_TTL
    )
    if not added:
        logger.warning(
            "A part of album %s arrived after the album was handed to its handler; it is "
            "dropped. Raise TELEGRAM_MEDIA_GROUP_WAIT if parts arrive this late.",
            group,
        )
        return
    _check_later(state, album, group, state.settings.media_group_wait)


def _check_later(state: TelegramState, album: str, group: str, delay: float) -> None:
    timer = threading.Timer(delay, _check, (state, album, group))
    timer.daemon = True
    timer.start()


def _check(state: TelegramState, album: str, group: str) -> bool:
    """Hand the album out if its quiet window is over and nobody took it; whether it ran."""
    wait = state.settings.media_group_wait
    try:
        claim = state.store.album_claim(album, wait)
    except Exception:
        logger.warning("The update store failed to hand out album %s.", group, exc_info=True)
        return False
    if claim.parts is None:
        if claim.wait > 0:  # a part came in meanwhile: its own timer or this one decides
            _check_later(state, album, group, claim.wait)
        return False
    updates = [Update(json.loads(part), state.bot_username) for part in claim.parts]
    with state.app.app_context():
        _run(state, Album(group, updates))
    return True


def _prefix(state: TelegramState) -> str:
    """The store name of a bot's albums, up to the album's id."""
    return f"{state.key_prefix}album:"


def watch_albums(state: TelegramState) -> None:
    """Have this process look out for albums left behind, once per bot (a forked worker
    starts its own): the timer that hands an album out dies with its worker, so every
    :data:`SWEEP_INTERVAL` each worker hands out the albums that nobody took though their
    quiet window ended an interval ago."""
    pid = os.getpid()
    if _watching.get(state) == pid:
        return
    with _watching_lock:
        if _watching.get(state) == pid:
            return
        _watching[state] = pid
    thread = threading.Thread(
        target=_watch, args=(weakref.ref(state),), name="tg-albums", daemon=True
    )
    thread.start()


def sweep_albums(state: TelegramState) -> int:
    """Hand out the albums of ``state``'s bot left behind; how many this call ran."""
    prefix = _prefix(state)
    # Past the quiet window by a whole interval: the timers of living workers come first.
    quiet = state.settings.media_group_wait + SWEEP_INTERVAL
    due = state.store.albums_due(prefix, quiet)
    return sum(_check(state, album, album[len(prefix) :]) for album in due)


def _watch(ref: weakref.ref[TelegramState]) -> None:
    failed = False
    while True:
        time.sleep(SWEEP_INTERVAL)
        state = ref()
        if state is None:  # the app is gone
            return
        try:
            if sweep_albums(state):
                logger.warning(
                    "Handed out an album whose quiet window had passed long ago: the worker "
                    "that received its last part stopped before handing it out."
                )
        except Exception as exc:
            if not failed:  # once, until it works again
                logger.warning(
                    "Looking for albums left behind failed (%s); it is tried again every "
                    "%g s. Check the update store.",
                    exc,
                    SWEEP_INTERVAL,
                )
            failed = True
        else:
            failed = False
        del state


#: Each bot state whose look-out runs, and in which process (a fork has none running).
_watching: weakref.WeakKeyDictionary[TelegramState, int] = weakref.WeakKeyDictionary()
_watching_lock = threading.Lock()


def _run(state: TelegramState, album: Album) -> None:
    """Run the album handler; when it raises, the error handlers (of its router, then the
    parents) get the exception and the album's first part, as for any update."""
    table = state.ext.table
    handler = table.album_handler
    assert handler is not None
    try:
        result = handler(album)
    except Exception as exc:
        first = album.updates[0]
        failure = run_error_handlers(exc, first, table.album_router)
        state.stats["failed"] += 1
        if not failure.handled:
            logger.error(
                "The album handler for media group %s raised.",
                album.media_group_id,
                exc_info=failure.error,
            )
        if signals.update_failed.receivers:
            signals.update_failed.send(
                state.app, update=first, exception=failure.error, handled=failure.handled
            )
        if not failure.handled:
            return
        result = failure.value
    else:
        state.stats["albums"] += 1
    if type(result) is Reply:
        try:
            state.bot.call(result.method, **result.params)
        except TelegramError as exc:
            logger.error("Album %s: the reply failed: %s", album.media_group_id, exc)
