"""The queue of updates waiting for the webhook (or for getUpdates), and its workers.

Workers pick the oldest update whose queue has nothing in flight and whose retry time has
come, so each chat sees its updates one at a time and in order, and no more than the
webhook's ``max_connections`` are in flight at once.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .delivery import Attempt, Delivery, Poster, ReplyRunner, RetryPolicy
from .plumbing import Call
from .webhook_rules import WebhookConfig

logger = logging.getLogger("flask_tgwebhook.testing")

#: Delivery threads per emulator; max_connections limits how many of them send at once.
WORKERS = 8
# Upper bound on one idle wait, so a worker re-checks its state now and then.
_IDLE_WAIT = 0.5


class Scheduler:
    """Pending updates, delivery workers and the last delivery error."""

    def __init__(self, policy: RetryPolicy, run_reply: ReplyRunner) -> None:
        self.policy = policy
        self._run_reply = run_reply
        self._cond = threading.Condition()
        self._pending: list[Delivery] = []
        self._in_flight: set[Any] = set()
        self._config: WebhookConfig | None = None
        self._poster: Poster | None = None
        self._retired: list[Poster] = []
        self._generation = 0
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self.last_error_date = 0
        self.last_error_message = ""

    # -- configuration ---------------------------------------------------------------------

    def configure(self, config: WebhookConfig | None) -> None:
        """Deliver to ``config`` from now on (None: hold updates for getUpdates)."""
        with self._cond:
            if self._poster is not None:
                self._retired.append(self._poster)  # a worker may still be using it
            self._config = config
            self._poster = Poster(config, self.policy.timeout) if config else None
            self._generation += 1
            self.last_error_date = 0
            self.last_error_message = ""
            if config is not None and not self._threads and not self._stopping:
                self._start_workers()
            self._cond.notify_all()

    def _start_workers(self) -> None:
        for number in range(WORKERS):
            thread = threading.Thread(
                target=self._work, name=f"FakeTelegram-delivery-{number}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop the workers (an answer still on its way is given up on) and clean up."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            threads, self._threads = self._threads, []
        deadline = time.monotonic() + 2.0
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._cond:
            posters = [*self._retired, *([self._poster] if self._poster else [])]
            self._retired, self._poster = [], None
        for poster in posters:
            poster.close()

    # -- the queue -------------------------------------------------------------------------

    def add(self, delivery: Delivery) -> None:
        with self._cond:
            self._pending.append(delivery)
            self._cond.notify_all()

    def drop_pending(self) -> None:
        """Forget every waiting update (``drop_pending_updates``)."""
        with self._cond:
            dropped, self._pending = self._pending, []
            self._cond.notify_all()
        for delivery in dropped:
            delivery.finish("dropped")

    def pending_count(self) -> int:
        with self._cond:
            return len(self._pending)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing waits for the webhook; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._in_flight or (self._config is not None and self._pending):
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping:
                    return False
                self._cond.wait(min(left, _IDLE_WAIT))
            return True

    def poll(self, offset: int, limit: int, timeout: float) -> list[dict[str, Any]]:
        """getUpdates: confirm what is below ``offset``, then wait up to ``timeout`` for more."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if offset > 0:
                confirmed = [d for d in self._pending if d.update_id < offset]
                self._pending = [d for d in self._pending if d.update_id >= offset]
                for delivery in confirmed:
                    delivery.finish("fetched")
            while not self._pending and not self._stopping and self._config is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(min(left, _IDLE_WAIT))
            if self._config is not None:
                return []
            chosen = self._pending[offset:] if offset < 0 else self._pending
            return [d.update for d in chosen[:limit]]

    # -- the workers -----------------------------------------------------------------------

    def _pick(self, now: float) -> tuple[Delivery | None, float]:
        """The next update to send, or how long to wait for one."""
        config = self._config
        if config is None or len(self._in_flight) >= config.max_connections:
            return None, _IDLE_WAIT
        wait = _IDLE_WAIT
        blocked: set[Any] = set(self._in_flight)
        for delivery in self._pending:
            key = delivery.key if delivery.key is not None else id(delivery)
            if key in blocked:
                continue
            blocked.add(key)  # later updates of this queue wait behind this one
            if delivery.not_before > now:
                wait = min(wait, delivery.not_before - now)
                continue
            return delivery, 0.0
        return None, wait

    def _work(self) -> None:
        while True:
            with self._cond:
                delivery: Delivery | None = None
                while not self._stopping:
                    delivery, wait = self._pick(time.monotonic())
                    if delivery is not None:
                        break
                    self._cond.wait(wait)
                if self._stopping or delivery is None or self._poster is None:
                    return
                key = delivery.key if delivery.key is not None else id(delivery)
                self._in_flight.add(key)
                poster, generation = self._poster, self._generation
            try:
                attempt, reply = poster.post(delivery)
                result = self._run_reply(reply) if reply is not None else None
            except Exception:  # a bug here must not silently stop a worker
                logger.exception("The emulator failed to deliver update %s.", delivery.update_id)
                attempt, reply, result = Attempt(None, "Internal emulator error"), None, None
            with self._cond:
                self._in_flight.discard(key)
                # A webhook changed meanwhile: the update waits for the new one instead.
                if delivery in self._pending and generation == self._generation:
                    self._record(delivery, attempt, reply, result)
                self._cond.notify_all()

    def _record(
        self,
        delivery: Delivery,
        attempt: Attempt,
        reply: Call | None,
        result: dict[str, Any] | None,
    ) -> None:
        delivery.attempts.append(attempt)
        if attempt.error is None:
            self._pending.remove(delivery)
            delivery.reply, delivery.reply_result = reply, result
            delivery.finish("delivered")
            return
        self.last_error_date = int(time.time())
        self.last_error_message = attempt.error
        limit = self.policy.max_attempts
        if limit is not None and len(delivery.attempts) >= limit:
            self._pending.remove(delivery)
            delivery.finish("dropped")
            return
        failures = len(delivery.attempts)
        delivery.not_before = time.monotonic() + self.policy.delay(failures, attempt.retry_after)
