"""A per-process store: one worker's dedupe marks in a bounded, locked dict."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from .base import DedupeStore

__all__ = ["MemoryStore"]


class MemoryStore(DedupeStore):
    """A per-process store: right for one worker; use a shared store for several.

    :param max_entries: the oldest marks are dropped past this many, bounding memory.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> tuple[str, float] | None:
        entry = self._entries.get(key)
        if entry is not None and entry[1] <= now:
            del self._entries[key]
            return None
        return entry

    def _put(self, key: str, value: str, ttl: float, now: float) -> None:
        self._entries[key] = (value, now + ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def add(self, key: str, value: str, ttl: float) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._live(key, now) is not None:
                return False
            self._put(key, value, ttl, now)
            return True

    def get(self, key: str) -> str | None:
        with self._lock:
            entry = self._live(key, time.monotonic())
            return entry[0] if entry else None

    def set(self, key: str, value: str, ttl: float) -> None:
        with self._lock:
            self._put(key, value, ttl, time.monotonic())

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def incr(self, key: str, ttl: float) -> int:
        now = time.monotonic()
        with self._lock:
            entry = self._live(key, now)
            count = (int(entry[0]) if entry and entry[0].isdigit() else 0) + 1
            self._put(key, str(count), ttl, now)
            return count

    def __len__(self) -> int:
        return len(self._entries)
