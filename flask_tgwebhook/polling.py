"""Long polling for development: getUpdates feeding the same update pipeline as the webhook.

For a machine without a public https URL. Telegram answers getUpdates only while no webhook
is set, so remove the webhook first (``flask tg poll`` asks, then does).
"""

from __future__ import annotations

import logging
import time
import traceback
from typing import TYPE_CHECKING, Any

from .errors import TelegramError
from .pipeline import Outcome, run_in_app
from .redact import redact
from .state import get_state

if TYPE_CHECKING:
    from flask import Flask

    from .client import Bot
    from .extension import TelegramWebhook

__all__ = ["poll_updates", "run_update"]

#: Seconds before an update whose handler raised (``TELEGRAM_ON_ERROR = "retry"``) is
#: polled again.
RETRY_DELAY = 1.0

_default_logger = logging.getLogger("flask_tgwebhook.polling")


def run_update(
    tg: TelegramWebhook,
    app: Flask,
    bot: Bot,
    raw: dict[str, Any],
    *,
    logger: logging.Logger | None = None,
) -> Any:
    """Run one polled update through the pipeline and carry out a :func:`~flask_tgwebhook.reply`
    it returns with ``bot``.

    Returns what the handler (or error handler) returned, a
    :class:`~flask_tgwebhook.dispatch.Failure` when nothing took the exception, or
    :data:`~flask_tgwebhook.dispatch.UNHANDLED`; ``None`` for an update already handled. The
    pipeline logs a handler's exception, as for the webhook, so one bad update does not stop
    the loop.
    """
    return _run(tg, app, bot, raw, logger or _default_logger)[0]


def _run(
    tg: TelegramWebhook, app: Flask, bot: Bot, raw: dict[str, Any], log: logging.Logger
) -> tuple[Any, bool]:
    """:func:`run_update`'s value, and whether the update must be polled again (the
    handler raised under ``TELEGRAM_ON_ERROR = "retry"``, within the retry cap)."""
    # tg's own bot (a named one too), or one sentence saying the fix when app is not its app
    result = run_in_app(get_state(app, tg), raw)
    update_id = result.update.update_id
    outcome = result.outcome
    if outcome in (Outcome.DUPLICATE, Outcome.RUNNING):
        log.info("Update %s: already handled, skipped.", update_id)
        return None, False
    if outcome is Outcome.UNHANDLED:
        log.info("Update %s: no handler.", update_id)
        return result.value, False
    if outcome is Outcome.RETRY or (outcome is Outcome.FAILED and not result.value.handled):
        text = "".join(traceback.format_exception(result.value.error))
        again = outcome is Outcome.RETRY
        # As Telegram redelivers to a webhook: not confirmed, so getUpdates gives it again,
        # until TELEGRAM_MAX_RETRIES (the pipeline's cap) acknowledges it.
        what = "polled again" if again else "confirmed"
        log.error("%s", redact(f"Update {update_id}: the handler raised ({what}):\n{text}"))
        return result.value, again
    value = result.value.value if outcome is Outcome.FAILED else result.value
    reply = result.reply
    if reply is None:
        log.info("Update %s: handled.", update_id)
        return value, False
    try:
        bot.call(reply.method, **reply.params)
    except TelegramError as exc:
        log.error("%s", redact(f"Update {update_id}: the reply failed: {exc}"))
    else:
        log.info("Update %s: handled, replied with %s.", update_id, reply.method)
    return value, False


def poll_updates(
    tg: TelegramWebhook,
    app: Flask,
    bot: Bot,
    *,
    timeout: int = 30,
    limit: int = 100,
    max_updates: int | None = None,
    once: bool = False,
    logger: logging.Logger | None = None,
) -> int:
    """Long-poll getUpdates and run each update; returns how many were run.

    Runs until interrupted (Ctrl+C), after ``max_updates`` updates, or after one round with
    ``once``. Updates that were run are confirmed to Telegram before returning, so the next
    poll does not get them again.

    :raises flask_tgwebhook.errors.Conflict: a webhook is set, or another poller is running.
    """
    log = logger or _default_logger
    offset: int | None = None
    count = 0
    try:
        while max_updates is None or count < max_updates:
            batch = limit if max_updates is None else min(limit, max_updates - count)
            updates = bot.call(
                "getUpdates",
                offset=offset,
                timeout=timeout,
                limit=batch,
                allowed_updates=tg.allowed_updates,
            )
            again = False
            for raw in updates[:batch]:
                count += 1
                again = _run(tg, app, bot, raw, log)[1]
                # An offset past an update confirms it; one to be polled again is not, nor
                # what came after it (run after it, in order, as Telegram delivers).
                offset = int(raw["update_id"]) + (0 if again else 1)
                if again:
                    break
            if once:
                break
            if again:
                time.sleep(RETRY_DELAY)
    except KeyboardInterrupt:
        log.info("Stopped.")
    if offset is not None:
        # An offset past an update confirms it; limit=1 and timeout=0 keep this call short.
        bot.call("getUpdates", offset=offset, timeout=0, limit=1)
    return count
