"""Send one message to many chats, paced, with a report, resumable after a crash.

::

    report = broadcast(subscriber_ids, text="New release!", job="release-2.0")
    report.reached, report.blocked, report.failed

Each chat's outcome is kept in the store under the job's name, so running the same job
again (after a crash, a deploy, or from another worker) sends only to the chats it has not
reached yet. A chat whose send was under way when the process died is reported as failed,
not sent again: Telegram may have delivered it, and a broadcast must not reach anyone twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import APIError, Forbidden, RetryAfter, TelegramError
from .state import get_state

if TYPE_CHECKING:
    from .client import Bot
    from .flood import FloodControl
    from .stores.base import DedupeStore

__all__ = ["BroadcastReport", "broadcast"]

logger = logging.getLogger("flask_tgwebhook.broadcast")

#: How long a job's progress is kept (seconds): a week to resume it.
JOB_TTL = 7 * 86400
#: 429s one chat may get before it is reported as failed.
MAX_FLOOD_RETRIES = 5
_SENDING, _REACHED, _BLOCKED, _FAILED = "sending", "reached", "blocked", "failed:"
INTERRUPTED = "interrupted while sending; it may have arrived, so it was not sent again"


@dataclass
class BroadcastReport:
    """Who a broadcast reached, who blocked the bot (403), and who failed, with why."""

    job: str
    reached: list[Any] = field(default_factory=list)
    blocked: list[Any] = field(default_factory=list)
    failed: dict[Any, str] = field(default_factory=dict)
    #: Chats whose outcome was already in the store (an earlier run of the job).
    resumed: int = 0

    def __str__(self) -> str:
        return (
            f"broadcast {self.job!r}: {len(self.reached)} reached, {len(self.blocked)} blocked "
            f"the bot, {len(self.failed)} failed ({self.resumed} from an earlier run)"
        )


def broadcast(
    chat_ids: Iterable[Any],
    method: str = "sendMessage",
    *,
    job: str,
    bot: Bot | None = None,
    store: DedupeStore | None = None,
    flood_control: FloodControl | None = None,
    ttl: float = JOB_TTL,
    **params: Any,
) -> BroadcastReport:
    """Call ``method`` once per chat (``chat_id=`` each, ``params`` for the rest), paced.

    Always paced to Telegram's limits, shared with every worker, whether or not
    ``TELEGRAM_FLOOD_CONTROL`` is on; a 429 is waited out and the chat tried again.

    :param job: names this broadcast; running the same job again resumes it.
    :param bot: the client; by default the current app's ``tg.bot``.
    :param store: where progress is kept; by default the current app's store.
    :param flood_control: the pacer; by default the bot's, else one on ``store``.
    :param ttl: seconds the progress is kept.
    """
    bot, store, pacer = _defaults(bot, store, flood_control)
    report = BroadcastReport(job)
    prefix = f"tg:{bot.bot_id}:broadcast:{job}:"  # the bot's keys, like the extension's
    for chat_id in chat_ids:
        key = f"{prefix}{chat_id}"
        if not store.add(key, _SENDING, ttl):
            report.resumed += 1
            _record(report, chat_id, store.get(key) or _SENDING)
            continue
        outcome = _send(bot, pacer, method, chat_id, params)
        store.set(key, outcome, ttl)
        _record(report, chat_id, outcome)
    logger.info("%s", report)
    return report


def _defaults(
    bot: Bot | None, store: DedupeStore | None, pacer: FloodControl | None
) -> tuple[Bot, DedupeStore, FloodControl | None]:
    if bot is None or store is None:
        state = get_state()  # raises with the fix when there is no app or no extension
        bot = bot or state.bot
        store = store or state.store
        if pacer is None and bot.flood_control is None:
            pacer = state.flood_control()
    if pacer is None and bot.flood_control is None:
        from .flood import FloodControl

        pacer = FloodControl(store)
    return bot, store, pacer


def _send(
    bot: Bot, pacer: FloodControl | None, method: str, chat_id: Any, params: dict[str, Any]
) -> str:
    for _ in range(MAX_FLOOD_RETRIES):
        if pacer is not None:  # else the bot paces every call itself
            pacer.wait(method, {"chat_id": chat_id})
        try:
            bot.call(method, chat_id=chat_id, **params)
            return _REACHED
        except Forbidden:
            return _BLOCKED
        except RetryAfter as exc:
            if pacer is not None:
                pacer.pause(exc.retry_after)
                continue
            if bot.flood_control is not None:
                bot.flood_control.pause(exc.retry_after)  # its own wait() sits it out
                continue
            return _FAILED + exc.description
        except APIError as exc:
            return f"{_FAILED}{exc.error_code} {exc.description}"
        except TelegramError as exc:
            return f"{_FAILED}{exc}"
    return f"{_FAILED}still flood-limited after {MAX_FLOOD_RETRIES} waits"


def _record(report: BroadcastReport, chat_id: Any, outcome: str) -> None:
    if outcome == _REACHED:
        report.reached.append(chat_id)
    elif outcome == _BLOCKED:
        report.blocked.append(chat_id)
    elif outcome == _SENDING:
        report.failed[chat_id] = INTERRUPTED
    else:
        report.failed[chat_id] = outcome.removeprefix(_FAILED)
