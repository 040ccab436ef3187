"""One update's life, written once: claim → hooks and dispatch → error policy → finish or
release → stats → signals.

The webhook view, long polling and every executor call :func:`feed_update` (aiogram's
``feed_update``); they only translate in (HTTP, getUpdates) and out (an HTTP answer, a
Bot API call). So dedupe, signals, counters, error handlers and the retry cap behave the
same however an update arrives.
"""

from __future__ import annotations

import enum
import logging
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context

from . import signals
from .albums import collect_part, media_group_id, watch_albums
from .dispatch import UNHANDLED, Failure
from .reply import Reply
from .state import get_state
from .stores import Claim
from .update import Update

if TYPE_CHECKING:
    from .state import TelegramState

__all__ = ["Outcome", "Result", "feed_update", "run_in_app", "run_update"]

logger = logging.getLogger("flask_tgwebhook")


class NeverFinished(RuntimeError):
    """An update's earlier runs all ended with their worker; it was acknowledged unrun."""


class Outcome(enum.Enum):
    """What became of an update; the webhook view turns it into an HTTP status."""

    HANDLED = "handled"  #: a handler ran and returned
    UNHANDLED = "unhandled"  #: no handler matched (or the type is unknown)
    DUPLICATE = "duplicate"  #: handled before: nothing ran
    RUNNING = "running"  #: another copy is being handled right now: nothing ran
    FAILED = "failed"  #: the handler raised; acknowledged (error handlers ran)
    RETRY = "retry"  #: the handler raised; Telegram should deliver it again


class Result:
    """What :func:`feed_update` did with one update."""

    __slots__ = ("outcome", "update", "value")

    def __init__(self, outcome: Outcome, update: Update, value: Any = None) -> None:
        self.outcome = outcome
        self.update = update
        #: What the handler (or an error handler) returned, a :class:`Failure`, or
        #: :data:`~flask_tgwebhook.dispatch.UNHANDLED`.
        self.value = value

    @property
    def reply(self) -> Reply | None:
        """The :func:`~flask_tgwebhook.reply` to carry out, if the handler returned one."""
        value = self.value
        if type(value) is Failure:
            value = value.value
        return value if type(value) is Reply else None

    def __repr__(self) -> str:
        return f"<Result {self.outcome.value} update {self.update.update_id}>"


def feed_update(app: Flask, raw: dict[str, Any], *, bot: str | None = None) -> Result:
    """Run one raw update (a dict with an integer ``update_id``) through ``app``'s bot.

    Pushes an app context for ``app`` when none is active, so handlers see ``current_app``
    and ``g`` wherever the update came from. Never raises for a handler's exception: that
    is in the result (and was logged, and sent as a signal).

    :param bot: the name of the bot (``TelegramWebhook(app, name=...)``); ``None`` for the
        unnamed bot, or the only one.
    """
    return run_in_app(get_state(app, name=bot), raw)


def run_in_app(state: TelegramState, raw: dict[str, Any]) -> Result:
    """:func:`run_update` inside the app context of ``state``'s app (pushed when another
    app's or none is active): for callers that hold a bot's state."""
    app = state.app
    if has_app_context() and current_app._get_current_object() is app:  # type: ignore[attr-defined]
        return run_update(state, raw)
    with app.app_context():
        return run_update(state, raw)


def run_update(state: TelegramState, raw: dict[str, Any]) -> Result:
    """:func:`feed_update` inside the app's context, for callers that hold the state."""
    update = Update(raw, state.bot_username)
    state.stats["received"] += 1
    app = state.app
    if signals.update_received.receivers:
        signals.update_received.send(app, update=update)

    key = state.update_key(update.update_id)
    # Claims are counted, not failures: a handler that kills its worker (SIGKILL, the OOM
    # killer, gunicorn's timeout) raises nothing, and its update comes back after the lease.
    claim, attempts = state.dedupe.claim_counted(
        key, state.update_key(update.update_id, "attempts:")
    )
    if claim is not Claim.NEW:
        return _duplicate(state, update, claim)
    if attempts > state.settings.max_retries + 1:
        return _given_up(state, update, key, attempts)

    table = state.ext.table
    if table.album_handler is not None:
        watch_albums(state)  # in every worker, also those no part reached
        group = media_group_id(raw)
        if group is not None:
            return _album_part(state, update, key, group)
    value = table.dispatch(update)
    if value is UNHANDLED:
        state.dedupe.finish(key)
        state.stats["unhandled"] += 1
        logger.debug("No handler for update %d of type %r.", update.update_id, update.type)
        if signals.update_unhandled.receivers:
            signals.update_unhandled.send(app, update=update)
        return Result(Outcome.UNHANDLED, update, value)
    if type(value) is Failure:
        return _failed(state, update, key, value, attempts)
    state.dedupe.finish(key)
    state.stats["handled"] += 1
    if signals.update_handled.receivers:
        signals.update_handled.send(app, update=update, result=value)
    return Result(Outcome.HANDLED, update, value)


def _album_part(state: TelegramState, update: Update, key: str, group: str) -> Result:
    """Record a part of an album; the album handler gets every part later, at once."""
    try:
        collect_part(state, update.raw, group)
    except Exception as exc:
        logger.warning(
            "The update store failed to record a part of album %s; asking Telegram to deliver "
            "it again.",
            group,
            exc_info=True,
        )
        state.dedupe.release(key)
        return Result(Outcome.RETRY, update, Failure(exc, False, None))
    state.dedupe.finish(key)
    state.stats["album_parts"] += 1
    return Result(Outcome.HANDLED, update, None)


def _duplicate(state: TelegramState, update: Update, claim: Claim) -> Result:
    running = claim is Claim.RUNNING
    state.stats["duplicates"] += 1
    logger.info(
        "Update %d delivered again while %s.",
        update.update_id,
        "still running" if running else "already handled",
    )
    if signals.update_duplicate.receivers:
        signals.update_duplicate.send(state.app, update_id=update.update_id, running=running)
    return Result(Outcome.RUNNING if running else Outcome.DUPLICATE, update)


def _failed(
    state: TelegramState, update: Update, key: str, failure: Failure, attempts: int
) -> Result:
    settings = state.settings
    state.stats["failed"] += 1
    if not failure.handled:
        logger.error(
            "The handler for update %d (%s) raised.",
            update.update_id,
            update.type,
            exc_info=failure.error,
        )
    if signals.update_failed.receivers:
        signals.update_failed.send(
            state.app, update=update, exception=failure.error, handled=failure.handled
        )
    if settings.on_error == "retry" and not failure.handled:
        if attempts <= settings.max_retries:
            state.dedupe.release(key)
            return Result(Outcome.RETRY, update, failure)
        # A poison update would otherwise hold back its chat's later updates for a day.
        logger.error(
            "Update %d failed %d times; acknowledging it (TELEGRAM_MAX_RETRIES = %d).",
            update.update_id,
            attempts,
            settings.max_retries,
        )
    state.dedupe.finish(key)
    return Result(Outcome.FAILED, update, failure)


def _given_up(state: TelegramState, update: Update, key: str, attempts: int) -> Result:
    """Acknowledge an update whose earlier runs never finished, without running it again."""
    state.stats["failed"] += 1
    logger.error(
        "Update %d (%s) was claimed %d times and never finished: its handler ends the worker "
        "(killed, out of memory, or over gunicorn's timeout). Acknowledging it without running "
        "it again (TELEGRAM_MAX_RETRIES = %d); make the handler finish, or raise it.",
        update.update_id,
        update.type,
        attempts - 1,
        state.settings.max_retries,
    )
    state.dedupe.finish(key)
    error = NeverFinished(f"Update {update.update_id} was claimed {attempts - 1} times.")
    # handled=True: it is logged above, and no error handler ran or can run for it.
    return Result(Outcome.FAILED, update, Failure(error, handled=True, value=None))
