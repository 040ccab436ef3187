"""The store as the update pipeline uses it: leases and lifetimes from the settings, and
fail-open when the store is down.

The store may be a network service. When it fails the update is handled anyway: running an
update twice in an outage beats losing it. Every failure is logged at WARNING.
"""

from __future__ import annotations

import logging

from .base import Claim, DedupeStore
from .memory import MemoryStore

__all__ = ["FailOpenStore"]

logger = logging.getLogger("flask_tgwebhook.stores")


class FailOpenStore:
    """Claim, finish, release and count updates in ``store``, never raising.

    :param store: the shared store.
    :param lease: seconds a claim holds while its handler runs (``TELEGRAM_PROCESSING_TIMEOUT``).
    :param ttl: seconds a finished update is remembered (``TELEGRAM_DEDUPE_TTL``).
    """

    __slots__ = ("_failures", "lease", "store", "ttl")

    def __init__(self, store: DedupeStore, lease: float, ttl: float) -> None:
        self.store = store
        self.lease = lease
        self.ttl = ttl
        self._failures: MemoryStore | None = None  # counts kept here while the store is down

    def claim(self, key: str) -> Claim:
        try:
            return self.store.claim(key, self.lease)
        except Exception:
            logger.warning("The dedupe store failed; handling the update anyway.", exc_info=True)
            return Claim.NEW

    def claim_counted(self, key: str, count_key: str) -> tuple[Claim, int]:
        """:meth:`claim`, and when it wins, :meth:`count` of ``count_key``, in one write where
        the store can."""
        try:
            return self.store.claim_counted(key, self.lease, count_key, self.ttl)
        except Exception:
            logger.warning("The dedupe store failed; handling the update anyway.", exc_info=True)
        return Claim.NEW, self._count_here(count_key)

    def finish(self, key: str) -> None:
        try:
            self.store.finish(key, self.ttl)
        except Exception:
            logger.warning("The dedupe store failed to mark an update done.", exc_info=True)

    def release(self, key: str) -> None:
        try:
            self.store.release(key)
        except Exception:
            logger.warning("The dedupe store failed to release an update.", exc_info=True)

    def count(self, key: str) -> int:
        """Add one to the counter ``key`` and return it (failures of one update, say)."""
        try:
            return self.store.incr(key, self.ttl)
        except Exception:
            logger.warning(
                "The dedupe store failed to count; counting in this process.", exc_info=True
            )
        return self._count_here(key)

    def _count_here(self, key: str) -> int:
        """Count in this process while the store is down, so a cap still holds (times the
        number of workers) in an outage."""
        if self._failures is None:
            self._failures = MemoryStore(max_entries=10_000)
        return self._failures.incr(key, self.ttl)
