"""Outgoing flood control: pace messages to Telegram's limits, across every worker.

Telegram's published limits (core.telegram.org/bots/faq): about 30 messages a second in
all, one a second in one chat, 20 a minute in one group. Past them it answers 429 with
``retry_after``. :class:`FloodControl` keeps every worker under them through the shared
store, with two primitives any store has (``add`` with a time to live, and ``get``):

- **overall**: time is cut into slots of ``1.05/per_second`` seconds; a message takes the first
  free slot (``add`` of the slot's key, atomic) and sleeps until it starts. Two workers can
  never take one slot, so the bot sends at most ``per_second`` messages a second.
- **one chat**: at its slot the message takes the chat's key for ``chat_interval`` seconds;
  if another message holds it, the slot is given up and a later one taken.
- **one group**: ``group_per_minute`` keys per group, each held for a minute by a message;
  a message needs a free one, so no minute holds more (a burst up to that many is fine).
- Slots are 5% wider, and chat and group places held :data:`JITTER` longer, than the limits
  say, so that network jitter cannot bring two messages closer than a limit at Telegram's end.
- **429**: ``retry_after`` is written to the store, and every worker waits it out.

When the store fails, messages go out unpaced (logged once): sending late is worse than
risking a 429, which is still waited out.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .config import config_errors_without_locals, flag, seconds, whole_number
from .stores.base import DedupeStore

__all__ = ["DEFAULTS", "FloodControl", "FloodSettings", "is_message"]

logger = logging.getLogger("flask_tgwebhook.flood")

#: Every key with its default (see the flood-control page).
DEFAULTS: dict[str, Any] = {
    "TELEGRAM_FLOOD_CONTROL": False,
    "TELEGRAM_FLOOD_PER_SECOND": 30,
    "TELEGRAM_FLOOD_CHAT_INTERVAL": 1.0,
    "TELEGRAM_FLOOD_GROUP_PER_MINUTE": 20,
}
#: Longest 429 ``retry_after`` (seconds) a paced client waits out before raising.
FLOOD_WAIT_MAX = 60.0
#: Slots one message looks at before giving up: more messages than this are waiting at once.
MAX_SLOTS = 10_000
#: Rounds of "slot, then chat" one message tries before giving up.
MAX_ROUNDS = 1_000
#: Seconds a chat's or group's place is held beyond its interval: the place is taken just
#: before sending, and the network's jitter must not bring two messages closer than the
#: limit at Telegram's end.
JITTER = 0.05
_SENDERS = ("send", "forward", "copy")
_NOT_MESSAGES = frozenset({"sendchataction"})


def is_message(method: str) -> bool:
    """Whether ``method`` posts a message (send*, forward*, copy*; not sendChatAction)."""
    lowered = method.lower()
    return lowered.startswith(_SENDERS) and lowered not in _NOT_MESSAGES


def _is_group(chat_id: Any) -> bool:
    # Users have positive ids; groups, supergroups and channels negative ones or @names.
    if isinstance(chat_id, int):
        return chat_id < 0
    text = str(chat_id)
    return text.startswith("@") or text.startswith("-")


@dataclass(frozen=True)
class FloodSettings:
    """The checked ``TELEGRAM_FLOOD_*`` keys of one app."""

    enabled: bool
    per_second: float
    chat_interval: float
    group_per_minute: int

    @classmethod
    @config_errors_without_locals
    def from_config(cls, config: Mapping[str, Any]) -> FloodSettings:
        merged = {**DEFAULTS, **{k: v for k, v in config.items() if k in DEFAULTS}}
        return cls(
            enabled=flag(merged, "TELEGRAM_FLOOD_CONTROL"),
            per_second=seconds(merged, "TELEGRAM_FLOOD_PER_SECOND"),
            chat_interval=seconds(merged, "TELEGRAM_FLOOD_CHAT_INTERVAL"),
            group_per_minute=whole_number(merged, "TELEGRAM_FLOOD_GROUP_PER_MINUTE"),
        )


class FloodControl:
    """Paces messages through ``store``, shared by every process that uses the same store.

    :param prefix: the start of every key (the bot's, so bots sharing a store don't collide).
    :param per_second: messages a second, in all.
    :param chat_interval: seconds between two messages to one chat.
    :param group_per_minute: messages a minute to one group (or channel).
    :param group_window: the length of that minute, in seconds (tests shorten it).
    """

    def __init__(
        self,
        store: DedupeStore,
        *,
        prefix: str = "tg:",
        per_second: float = 30.0,
        chat_interval: float = 1.0,
        group_per_minute: int = 20,
        group_window: float = 60.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0 or chat_interval <= 0 or group_per_minute < 1 or group_window <= 0:
            raise ValueError("Flood-control rates and intervals must be positive.")
        self.store = store
        self.prefix = f"{prefix}flood:"
        # Slots a little wider than 1/per_second, for the same reason as JITTER.
        self.slot = (1.0 + JITTER) / per_second
        self.chat_interval = chat_interval
        self.group_per_minute = group_per_minute
        self.group_window = group_window
        self._clock = clock  # wall time: slots are shared with other processes
        self._sleep = sleep
        self._store_warned = False

    @classmethod
    def from_settings(
        cls, store: DedupeStore, settings: FloodSettings, prefix: str = "tg:"
    ) -> FloodControl:
        return cls(
            store,
            prefix=prefix,
            per_second=settings.per_second,
            chat_interval=settings.chat_interval,
            group_per_minute=settings.group_per_minute,
        )

    def wait(self, method: str, params: Mapping[str, Any]) -> float:
        """Sleep until ``method`` may be sent; the seconds waited. Non-messages pass at once."""
        if not is_message(method):
            return 0.0
        started = self._clock()
        try:
            self._wait(params.get("chat_id"))
        except RuntimeError:
            raise  # too many waiting: the caller must slow down, not send unpaced
        except Exception:
            if not self._store_warned:
                self._store_warned = True
                logger.warning(
                    "Flood control could not use the store, so messages go out unpaced; "
                    "check the store (TELEGRAM_STORE_URL / TELEGRAM_DEDUPE_URL).",
                    exc_info=True,
                )
        return self._clock() - started

    def pause(self, retry_after: float) -> None:
        """Make every worker wait ``retry_after`` seconds (Telegram answered 429)."""
        until = self._clock() + retry_after
        key = f"{self.prefix}pause"
        try:
            current = self.store.get(key)
            if current is None or float(current) < until:
                self.store.set(key, repr(until), retry_after)
        except Exception:
            logger.warning("Flood control could not share a 429's wait.", exc_info=True)

    def _wait(self, chat_id: Any) -> None:
        for _ in range(MAX_ROUNDS):
            self._sleep_until(self._paused_until())
            self._sleep_until(self._take_slot())
            if chat_id is None:
                return
            busy_until = self._take_chat(chat_id)
            if busy_until is None:
                return
            self._sleep_until(busy_until)  # the slot is lost; take a later one
        raise RuntimeError(
            f"Gave up pacing a message to {chat_id!r} after {MAX_ROUNDS} rounds: something "
            "else keeps that chat busy."
        )

    def _sleep_until(self, moment: float) -> None:
        delay = moment - self._clock()
        if delay > 0:
            self._sleep(delay)

    def _paused_until(self) -> float:
        value = self.store.get(f"{self.prefix}pause")
        return float(value) if value else 0.0

    def _take_slot(self) -> float:
        """The start of the first free overall slot from now on, taken."""
        now = self._clock()
        number = math.ceil(now / self.slot)
        for _ in range(MAX_SLOTS):
            start = number * self.slot
            # Kept until the slot is over (and a little more), so nobody takes it twice.
            if self.store.add(f"{self.prefix}slot:{number}", "1", start - now + 2 * self.slot + 1):
                return start
            number += 1
        raise RuntimeError(
            f"More than {MAX_SLOTS} messages are waiting to be sent; send them from fewer "
            "threads at once (broadcast() sends one at a time)."
        )

    def _take_chat(self, chat_id: Any) -> float | None:
        """Take the chat (and a group's minute); ``None`` when taken, else when to try again."""
        now = self._clock()
        group_key = None
        if _is_group(chat_id):
            group_key, free_at = self._take_group(chat_id, now)
            if group_key is None:
                return free_at
        key = f"{self.prefix}chat:{chat_id}"
        if self.store.add(key, repr(now), self.chat_interval + JITTER):
            return None
        if group_key is not None:
            self.store.delete(group_key)  # not sent: give the minute's place back
        value = self.store.get(key)
        return (float(value) if value else now) + self.chat_interval + JITTER

    def _take_group(self, chat_id: Any, now: float) -> tuple[str | None, float]:
        earliest = math.inf
        for place in range(self.group_per_minute):
            key = f"{self.prefix}group:{chat_id}:{place}"
            if self.store.add(key, repr(now), self.group_window + JITTER):
                return key, now
            value = self.store.get(key)
            earliest = min(earliest, float(value) + self.group_window + JITTER if value else now)
        return None, earliest
