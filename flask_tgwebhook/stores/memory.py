"""A per-process store: one worker's marks, journal and albums, in locked dicts."""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace

from .base import DONE, JOURNAL_SCAN, RUNNING, Accepted, AlbumClaim, Claim, Store

__all__ = ["MemoryStore"]


@dataclass
class _Entry:
    accepted: Accepted
    seq: int
    lease_until: float = 0.0  # 0: never taken


@dataclass
class _Album:
    parts: dict[int, str] = field(default_factory=dict)
    last: float = 0.0
    expires: float = 0.0
    claimed: bool = False


class MemoryStore(Store):
    """A per-process store: right for one worker (and tests); use a shared store for several.

    :param max_entries: the oldest marks are dropped past this many, bounding memory.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._journals: dict[str, dict[str, _Entry]] = {}
        self._albums: dict[str, _Album] = {}
        self._seq = 0
        self._lock = threading.Lock()

    # -- primitives ---------------------------------------------------------------------

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
            return self._count(key, ttl, now)

    def _count(self, key: str, ttl: float, now: float) -> int:
        """Add one to the counter ``key`` (the lock held) and return it."""
        entry = self._live(key, now)
        count = (int(entry[0]) if entry and entry[0].isdigit() else 0) + 1
        self._put(key, str(count), ttl, now)
        return count

    # -- dedupe (the hot path) ----------------------------------------------------------

    def claim_counted(
        self, key: str, lease: float, count_key: str, ttl: float
    ) -> tuple[Claim, int]:
        """The claim and, when it wins, its count: under one lock, as one step."""
        now = time.monotonic()
        with self._lock:
            entry = self._live(key, now)
            if entry is not None:
                return (Claim.DONE if entry[0] == DONE else Claim.RUNNING), 0
            self._put(key, RUNNING, lease, now)
            return Claim.NEW, self._count(count_key, ttl, now)

    def __len__(self) -> int:
        return len(self._entries)

    # -- journal ------------------------------------------------------------------------

    def journal_accept(
        self, journal: str, key: str, payload: str, *, chat: str | None = None, order: int = 0
    ) -> bool:
        with self._lock:
            entries = self._journals.setdefault(journal, {})
            if key in entries:
                return False
            self._seq += 1
            entries[key] = _Entry(Accepted(key, payload, chat, order, 0), self._seq)
            return True

    def journal_take(
        self, journal: str, lease: float, *, chat: str | None = None
    ) -> Accepted | None:
        now = time.monotonic()
        with self._lock:
            entries = self._journals.get(journal, {})
            candidates = sorted(
                (e for e in entries.values() if chat is None or e.accepted.chat == chat),
                key=lambda e: e.seq,
            )[:JOURNAL_SCAN]
            for entry in candidates:
                if entry.lease_until > now or not self._heads_chat(entries, entry, now):
                    continue
                entry.accepted = replace(entry.accepted, attempts=entry.accepted.attempts + 1)
                entry.lease_until = now + lease
                return entry.accepted
        return None

    @staticmethod
    def _heads_chat(entries: dict[str, _Entry], entry: _Entry, now: float) -> bool:
        """No other entry of its chat is leased or comes before it."""
        chat = entry.accepted.chat
        if chat is None:
            return True
        place = (entry.accepted.order, entry.seq)
        return not any(
            other is not entry
            and other.accepted.chat == chat
            and (other.lease_until > now or (other.accepted.order, other.seq) < place)
            for other in entries.values()
        )

    def journal_renew(self, journal: str, entry: Accepted, lease: float) -> bool:
        now = time.monotonic()
        with self._lock:
            current = self._journals.get(journal, {}).get(entry.key)
            if (
                current is None
                or current.accepted.attempts != entry.attempts
                or current.lease_until <= now  # ran out: another worker may have it
            ):
                return False
            current.lease_until = now + lease
            return True

    def journal_done(self, journal: str, key: str) -> None:
        with self._lock:
            self._journals.get(journal, {}).pop(key, None)

    def journal_expired(self, journal: str, limit: int = 100) -> list[Accepted]:
        now = time.monotonic()
        with self._lock:
            entries = self._journals.get(journal, {}).values()
            expired = [e for e in entries if 0 < e.lease_until <= now]
        return [e.accepted for e in sorted(expired, key=lambda e: e.seq)[:limit]]

    # -- albums -------------------------------------------------------------------------

    def _album(self, album: str, now: float) -> _Album | None:
        found = self._albums.get(album)
        if found is not None and found.expires <= now:
            del self._albums[album]
            return None
        return found

    def album_add(self, album: str, order: int, part: str, ttl: float) -> bool:
        now = time.monotonic()
        with self._lock:
            found = self._album(album, now)
            if found is None:
                if len(self._albums) > 1000:  # bound memory: drop the expired ones
                    for old in [a for a, f in self._albums.items() if f.expires <= now]:
                        del self._albums[old]
                found = self._albums[album] = _Album()
            if found.claimed:
                return False
            found.parts.setdefault(order, part)
            found.last = now
            found.expires = now + ttl
            return True

    def album_parts(self, album: str) -> list[str]:
        with self._lock:
            found = self._album(album, time.monotonic())
            return [found.parts[o] for o in sorted(found.parts)] if found else []

    def album_claim(self, album: str, quiet: float) -> AlbumClaim:
        now = time.monotonic()
        with self._lock:
            found = self._album(album, now)
            if found is None or found.claimed:
                return AlbumClaim(None)
            if now - found.last < quiet:
                return AlbumClaim(None, quiet - (now - found.last))
            found.claimed = True
            return AlbumClaim([found.parts[o] for o in sorted(found.parts)])

    def albums_due(self, prefix: str, quiet: float, limit: int = 100) -> list[str]:
        now = time.monotonic()
        with self._lock:
            due = (
                name
                for name, found in self._albums.items()
                if name.startswith(prefix)
                and not found.claimed
                and found.expires > now
                and now - found.last >= quiet
            )
            return list(itertools.islice(due, limit))
