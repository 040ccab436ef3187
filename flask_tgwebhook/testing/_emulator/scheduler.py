"""The bot's update queue, and its delivery over connections the way WebhookActor runs them.

Updates wait in arrival order (Telegram's TQueue). With a webhook set, at most
``2 * max_connections`` of them are loaded at a time (WebhookActor::start_up), and each
connection carries one update at a time, taking the queue head that is due soonest, so a
chat's updates arrive one by one and in order while other chats go on in parallel.
Connections are opened as WebhookActor::create_new_connections opens them: while nothing
has succeeded in the last 10 s, a single connection, and a new one at most every 2 s; after
a success, up to one per busy queue (``max_connections`` at most), ten per half second.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from .connection import Outcome, WebhookConnection
from .delivery import Attempt, Delivery
from .plumbing import Call
from .timing import (
    ACTIVE_CONNECTION_BURST,
    PENDING_CONNECTION_INTERVAL,
    SUCCESS_WINDOW,
    Timing,
)
from .webhook_rules import WebhookConfig

logger = logging.getLogger("flask_tgwebhook.testing")

ReplyRunner = Callable[[Call], dict[str, Any]]
# Upper bound on one idle wait, so a thread re-checks its state now and then.
_IDLE_WAIT = 0.5
# TQueue::get: an offset this far past the last update id is "in the future" and ignored.
_FUTURE_OFFSET = 10


class _Link:
    """One connection and the thread that sends over it."""

    def __init__(self, connection: WebhookConnection, generation: int) -> None:
        self.connection = connection
        self.generation = generation
        self.thread: threading.Thread | None = None


class Scheduler:
    """Pending updates, delivery connections and the last delivery error of one bot."""

    def __init__(self, timing: Timing, run_reply: ReplyRunner) -> None:
        self.timing = timing
        self._run_reply = run_reply
        self.cond = threading.Condition()
        self._pending: list[Delivery] = []
        self._in_flight: set[Any] = set()
        self._config: WebhookConfig | None = None
        self._generation = 0
        self._links: list[_Link] = []
        self._last_success = float("-inf")
        self._opened: list[float] = []  # when connections were opened, for the flood limits
        self._manager: threading.Thread | None = None
        self._stopping = False
        self.tail_id: int | None = None
        self.last_error_date = 0
        self.last_error_message = ""

    # -- configuration ---------------------------------------------------------------------

    def configure(self, config: WebhookConfig | None) -> None:
        """Deliver to ``config`` from now on (None: hold updates for getUpdates).

        Like a new WebhookActor: connections to the old URL are given up (an answer still
        on its way no longer counts), updates start over without back-off, and nothing has
        succeeded yet, so delivery begins on a single connection.
        """
        with self.cond:
            self._config = config
            self._generation += 1
            self._last_success = float("-inf")
            self._opened.clear()
            self.last_error_date = 0
            self.last_error_message = ""
            for delivery in self._pending:
                delivery.restart()
            for link in self._links:
                link.connection.abort()  # the old webhook's connections are closed
            if config is not None and self._manager is None and not self._stopping:
                self._manager = threading.Thread(
                    target=self._manage, name="FakeTelegram-webhook", daemon=True
                )
                self._manager.start()
            self.cond.notify_all()

    def stop(self) -> None:
        """Stop every thread (an answer still on its way is given up on) and clean up."""
        with self.cond:
            self._stopping = True
            self._generation += 1
            links, manager = list(self._links), self._manager
            self.cond.notify_all()
        for link in links:
            link.connection.abort()  # unblocks a thread waiting for an answer
        deadline = time.monotonic() + 2.0
        threads = [link.thread for link in links if link.thread] + ([manager] if manager else [])
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        for link in links:
            link.connection.discard()

    # -- the queue -------------------------------------------------------------------------

    def add(self, delivery: Delivery) -> None:
        with self.cond:
            self._pending.append(delivery)
            if self.tail_id is None or delivery.update_id > self.tail_id:
                self.tail_id = delivery.update_id
            self.cond.notify_all()

    def drop_pending(self) -> None:
        """Forget every waiting update (``drop_pending_updates``)."""
        with self.cond:
            dropped = [d for d in self._pending if d.queue not in self._in_flight]
            self._pending = [d for d in self._pending if d.queue in self._in_flight]
            self.cond.notify_all()
        for delivery in dropped:
            delivery.finish("dropped")

    def pending_count(self) -> int:
        with self.cond:
            self._expire(time.time())
            return len(self._pending)

    def _expire(self, now: float) -> None:
        """TQueue forgets an update once its lifetime is over (not while it is being sent)."""
        expired = [
            d for d in self._pending if d.expires_at < now and d.queue not in self._in_flight
        ]
        for delivery in expired:
            self._pending.remove(delivery)
            delivery.finish("expired")

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing waits for the webhook; False on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self._in_flight or (self._config is not None and self._pending):
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping:
                    return False
                self.cond.wait(min(left, _IDLE_WAIT))
                self._expire(time.time())
            return True

    # -- getUpdates' view of the queue (called with ``cond`` held) -------------------------

    def keep_last(self, count: int) -> None:
        """A negative offset: TQueue::clear keeps only the last ``count`` updates."""
        if len(self._pending) > count:
            forgotten = self._pending[: len(self._pending) - count]
            self._pending = self._pending[len(self._pending) - count :]
            for delivery in forgotten:
                delivery.finish("fetched")

    def read(self, offset: int, limit: int) -> list[dict[str, Any]]:
        """TQueue::get from ``offset``: confirm what is below it, return what follows.

        An offset of 0, or one more than 10 past the last update id, reads from the head
        and confirms nothing.
        """
        self._expire(time.time())
        tail = self.tail_id if self.tail_id is not None else 0
        if offset > 0 and offset <= tail + _FUTURE_OFFSET:
            confirmed = [d for d in self._pending if d.update_id < offset]
            self._pending = [d for d in self._pending if d.update_id >= offset]
            for delivery in confirmed:
                delivery.finish("fetched")
        return [d.update for d in self._pending[:limit]]

    @property
    def webhook_set(self) -> bool:
        return self._config is not None

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- connections (WebhookActor::create_new_connections) ---------------------------------

    def _loaded(self) -> list[Delivery]:
        """The updates WebhookActor has loaded: at most 2 * max_connections, oldest first."""
        config = self._config
        if config is None:
            return []
        return self._pending[: 2 * config.max_connections]

    def _open_connections(self, now: float) -> float:
        """Open the connections the rules allow now; how long until the next may open."""
        config = self._config
        if config is None:
            return _IDLE_WAIT
        timing = self.timing
        queues = {d.queue for d in self._loaded()}
        need = min(len(queues), config.max_connections)
        if self._last_success + timing.seconds(SUCCESS_WINDOW) < now:
            need, burst, window = min(need, 1), 1, timing.seconds(PENDING_CONNECTION_INTERVAL)
        else:
            need = max(need, 1)
            burst, window = ACTIVE_CONNECTION_BURST[0], timing.seconds(ACTIVE_CONNECTION_BURST[1])
        self._opened = [at for at in self._opened if at > now - window]
        wait = _IDLE_WAIT
        current = [link for link in self._links if link.generation == self._generation]
        while len(current) < need:
            if len(self._opened) >= burst:
                wait = min(wait, self._opened[-burst] + window - now)
                break
            self._opened.append(now)
            link = _Link(WebhookConnection(config, timing.webhook_timeout), self._generation)
            link.thread = threading.Thread(
                target=self._send_loop,
                args=(link,),
                name=f"FakeTelegram-connection-{len(self._links)}",
                daemon=True,
            )
            self._links.append(link)
            current.append(link)
            link.thread.start()
        return max(wait, 0.001)

    def _manage(self) -> None:
        with self.cond:
            while not self._stopping:
                now = time.monotonic()
                self._expire(time.time())
                wait = self._open_connections(now)
                self.cond.wait(min(wait, self._next_due(now)))

    def _next_due(self, now: float) -> float:
        due = [d.not_before - now for d in self._loaded() if d.not_before > now]
        return max(0.001, min(due, default=_IDLE_WAIT))

    # -- sending ---------------------------------------------------------------------------

    def _pick(self, now: float) -> Delivery | None:
        """The head of a free queue that is due soonest (WebhookActor::send_update)."""
        heads: dict[Any, Delivery] = {}
        for delivery in self._loaded():
            heads.setdefault(delivery.queue, delivery)
        ready = [
            d
            for queue, d in heads.items()
            if queue not in self._in_flight and d.not_before <= now and d.expires_at >= time.time()
        ]
        return min(ready, key=lambda d: d.not_before, default=None)

    def _send_loop(self, link: _Link) -> None:
        idle_since = time.monotonic()
        while True:
            with self.cond:
                delivery = None
                while not self._stopping and link.generation == self._generation:
                    now = time.monotonic()
                    delivery = self._pick(now)
                    if delivery is not None:
                        break
                    if now - idle_since > self.timing.webhook_timeout:
                        break  # HttpConnectionBase: an idle connection closes after its timeout
                    self.cond.wait(min(self._next_due(now), _IDLE_WAIT))
                if delivery is None:
                    self._drop_link(link)
                    return
                self._in_flight.add(delivery.queue)
            body = json.dumps(delivery.update).encode()
            outcome, result = self._post(link, delivery, body)
            with self.cond:
                self._in_flight.discard(delivery.queue)
                # A webhook changed meanwhile: the update waits for the new one instead.
                if delivery in self._pending and link.generation == self._generation:
                    self._record(delivery, outcome, result)
                if not outcome.keep or link.generation != self._generation:
                    self._drop_link(link)
                    self.cond.notify_all()
                    return
                idle_since = time.monotonic()
                self.cond.notify_all()

    def _post(
        self, link: _Link, delivery: Delivery, body: bytes
    ) -> tuple[Outcome, dict[str, Any] | None]:
        try:
            outcome = link.connection.post(body)
            reply = outcome.reply
            return outcome, self._run_reply(reply) if reply is not None else None
        except Exception:  # a bug here must not silently stop a connection
            logger.exception("The emulator failed to deliver update %s.", delivery.update_id)
            return Outcome(Attempt(None, "Internal emulator error"), keep=False), None

    def _drop_link(self, link: _Link) -> None:
        if link in self._links:
            self._links.remove(link)
        link.connection.discard()

    def _record(self, delivery: Delivery, outcome: Outcome, result: dict[str, Any] | None) -> None:
        attempt = outcome.attempt
        delivery.attempts.append(attempt)
        now = time.monotonic()
        if attempt.error is None:
            self._last_success = now
            self._pending.remove(delivery)
            delivery.reply, delivery.reply_result = outcome.reply, result
            delivery.finish("delivered")
            return
        if outcome.reported:  # WebhookActor::on_webhook_error
            self.last_error_date = int(time.time())
            self.last_error_message = attempt.error
        limit = self.timing.max_attempts
        if limit is not None and len(delivery.attempts) >= limit:
            self._pending.remove(delivery)
            delivery.finish("dropped")
            return
        step, wait = self.timing.backoff(
            delivery.delay, delivery.failures, attempt.retry_after or 0
        )
        if time.time() + wait > delivery.expires_at:  # on_update_error drops it
            self._pending.remove(delivery)
            delivery.finish("expired")
            return
        delivery.delay, delivery.failures = step, delivery.failures + 1
        delivery.not_before = now + wait
