"""Telegram's clock, and the knobs that bend it for fast tests.

Every duration the real Bot API server uses (retry back-off, update lifetimes, how often a
failing webhook gets a new connection, setWebhook's one-second limit, ...) is written here in
Telegram seconds; :attr:`Timing.time_scale` says how long one of them lasts in real seconds.
``1.0`` (the default) is Telegram; a test suite may pass ``0.05`` and keep every rule.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

#: WebhookActor::on_update_error: Retry-After is clamped to this many seconds.
MAX_RETRY_AFTER = 3600
#: WebhookActor.h WEBHOOK_MAX_RESEND_TIMEOUT: the back-off tops out at a random 60-120 s.
MAX_RESEND_TIMEOUT = 60.0
#: WebhookActor::create_new_connections: without a success for this long, one connection only.
SUCCESS_WINDOW = 10.0
#: WebhookActor::start_up: while failing, one new connection per 2 s ...
PENDING_CONNECTION_INTERVAL = 2.0
#: ... and otherwise at most 10 new connections per 0.5 s.
ACTIVE_CONNECTION_BURST = (10, 0.5)
#: WebhookActor::create_connection: HttpOutboundConnection's idle timeout (the answer's deadline).
WEBHOOK_TIMEOUT = 60.0
#: Client::process_set_webhook_query: one setWebhook with a URL per second.
SET_WEBHOOK_INTERVAL = 1.0
#: Client::fail_query_conflict: a 409 at most every 3 s; later ones are answered 3 s late.
CONFLICT_INTERVAL = 3.0
#: Client::on_cmd: ``close`` answers 429 during the first 10 minutes after the bot started.
CLOSE_GRACE = 600.0

DAY = 86_400
# Client::add_update callers: how long each update type waits for the bot. A ``date`` key
# means "counted from that field of the payload" (messages, member changes, reactions).
_LIFETIMES: dict[str, tuple[int, str | None]] = {
    "message": (DAY, "date"),
    "edited_message": (DAY, "date"),
    "channel_post": (DAY, "date"),
    "edited_channel_post": (DAY, "date"),
    "business_message": (DAY, "date"),
    "edited_business_message": (DAY, "date"),
    "guest_message": (DAY, "date"),
    "inline_query": (30, None),
    "chosen_inline_result": (600, None),
    "callback_query": (150, None),
    "shipping_query": (150, None),
    "pre_checkout_query": (150, None),
    "poll": (DAY, None),
    "poll_answer": (DAY, None),
    "purchased_paid_media": (DAY, None),
    "managed_bot": (DAY, None),
    "business_connection": (DAY, None),
    "deleted_business_messages": (DAY, None),
    "my_chat_member": (DAY, "date"),
    "chat_member": (DAY, "date"),
    "chat_join_request": (DAY, "date"),
    "message_reaction": (DAY, "date"),
    "message_reaction_count": (DAY, "date"),
    "chat_boost": (DAY, "add_date"),
    "removed_chat_boost": (DAY, "remove_date"),
}


def update_type(update: dict[str, Any]) -> str | None:
    """The Update field an update carries (the first key that is not ``update_id``)."""
    return next((key for key in update if key != "update_id"), None)


def _started_at(kind: str, payload: Any, field: str | None) -> float | None:
    if field is None or not isinstance(payload, dict):
        return None
    if kind == "chat_boost":
        payload = payload.get("boost")
    if not isinstance(payload, dict):
        return None
    if kind.startswith("edited") and isinstance(payload.get("edit_date"), int):
        return float(payload["edit_date"])  # add_message_update: the edit date counts
    value = payload.get(field)
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass
class Timing:
    """The emulator's clock and delivery limits.

    :param time_scale: real seconds per Telegram second, for every duration above.
    :param max_attempts: give an update up after this many failed POSTs (None: Telegram's
        rule, until it expires).
    :param webhook_timeout: real seconds to wait for the webhook's answer (Telegram: 60).
    :param retry_delay: the back-off unit in real seconds (None: one Telegram second).
    :param max_retry_delay: the longest back-off in real seconds (None: Telegram's 60-120 s).
    :param set_webhook_interval: real seconds between two setWebhook calls with a URL
        (None: one Telegram second).
    """

    time_scale: float = 1.0
    max_attempts: int | None = None
    webhook_timeout: float = WEBHOOK_TIMEOUT
    retry_delay: float | None = None
    max_retry_delay: float | None = None
    set_webhook_interval: float | None = None

    def __post_init__(self) -> None:
        if not self.time_scale > 0:
            raise ValueError("time_scale must be a positive number of real seconds, e.g. 0.05.")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1, or None for Telegram's rule.")

    def seconds(self, telegram_seconds: float) -> float:
        """Real seconds for a Telegram duration."""
        return telegram_seconds * self.time_scale

    @property
    def webhook_interval(self) -> float:
        if self.set_webhook_interval is not None:
            return self.set_webhook_interval
        return self.seconds(SET_WEBHOOK_INTERVAL)

    def backoff(self, delay: int, failures: int, retry_after: int) -> tuple[int, float]:
        """WebhookActor::on_update_error: the next back-off step and the real wait.

        :param delay: the update's back-off step so far (1 at first).
        :param failures: failed attempts before this one.
        :param retry_after: the ``Retry-After`` the webhook sent (0: none).
        :returns: the new step (grown only without Retry-After) and the wait in real seconds.
        """
        retry_after = max(0, min(retry_after, MAX_RETRY_AFTER))
        if retry_after:
            return delay, self.seconds(retry_after)  # honoured in full, the step not grown
        if failures == 0:
            return delay, 0.0  # the first retry goes out at once
        unit = self.retry_delay if self.retry_delay is not None else self.time_scale
        step = delay * 2
        wait = step * unit
        if self.max_retry_delay is not None:
            return step, min(wait, self.max_retry_delay)
        cap = random.uniform(MAX_RESEND_TIMEOUT, 2 * MAX_RESEND_TIMEOUT)  # noqa: S311
        return int(min(step, cap)), min(step, cap) * unit

    def expires_at(self, update: dict[str, Any], now: float) -> float:
        """The Unix time (real) after which Telegram forgets ``update``."""
        kind = update_type(update) or ""
        lifetime, field = _LIFETIMES.get(kind, (DAY, None))
        start = _started_at(kind, update.get(kind), field)
        return (start if start is not None else now) + self.seconds(lifetime)
