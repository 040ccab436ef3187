"""Remembering which updates were handled, so Telegram's redeliveries run nothing twice.

The primitive is cachelib's "add if absent" (atomic ``SET NX EX`` in Redis, a lock in
memory). An update goes through two marks: *running* with a short lease while its handler
runs (a second copy gets 503 and comes back later; if the worker dies the lease runs out and
the retry is handled), then *done* for as long as Telegram may still redeliver it.
"""

from __future__ import annotations

import enum

RUNNING = "running"
DONE = "done"


class Claim(enum.Enum):
    """What :meth:`DedupeStore.claim` found."""

    NEW = "new"  #: nobody has it: handle it now
    RUNNING = "running"  #: another copy is being handled right now
    DONE = "done"  #: handled before: acknowledge and do nothing


class DedupeStore:
    """Base class: subclasses implement the four storage primitives.

    :meth:`add` must be atomic across every worker that shares the store: it is what makes
    exactly one of two concurrent copies of an update win. :meth:`incr` has a default built
    on :meth:`get` and :meth:`set`; a store that can count atomically should override it.
    """

    def add(self, key: str, value: str, ttl: float) -> bool:
        """Store ``value`` under ``key`` for ``ttl`` seconds unless the key exists."""
        raise NotImplementedError

    def get(self, key: str) -> str | None:
        raise NotImplementedError

    def set(self, key: str, value: str, ttl: float) -> None:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def incr(self, key: str, ttl: float) -> int:
        """Add one to the counter under ``key`` (kept ``ttl`` seconds) and return it.

        This default is not atomic; it counts the failures of one update, whose copies never
        run at the same time (the claim sees to that), so a lost increment cannot happen.
        """
        value = self.get(key)
        count = (int(value) if value and value.isdigit() else 0) + 1
        self.set(key, str(count), ttl)
        return count

    def claim(self, key: str, lease: float) -> Claim:
        """Take ``key`` for handling, for at most ``lease`` seconds."""
        if self.add(key, RUNNING, lease):
            return Claim.NEW
        # The mark can expire between add() and get(); RUNNING is the safe answer then,
        # because Telegram comes back and the next claim succeeds.
        return Claim.DONE if self.get(key) == DONE else Claim.RUNNING

    def finish(self, key: str, ttl: float) -> None:
        """Mark ``key`` handled, for ``ttl`` seconds."""
        self.set(key, DONE, ttl)

    def release(self, key: str) -> None:
        """Give ``key`` up unhandled, so Telegram's next delivery is handled."""
        self.delete(key)
