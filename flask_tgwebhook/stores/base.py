"""What every store offers: dedupe marks, the journal of accepted updates, album parts.

The primitive is cachelib's "add if absent" (atomic ``SET NX EX`` in Redis, an upsert in
SQLite, a lock in memory). An update goes through two marks: *running* with a short lease
while its handler runs (a second copy gets 503 and comes back later; if the worker dies the
lease runs out and the retry is handled), then *done* for as long as Telegram may still
redeliver it.

Beside the marks, a store keeps what background executors and albums share between workers:

- the **journal** of accepted updates (``journal_*``): an update recorded before Telegram is
  answered, taken with a lease by whichever worker runs it, deleted when done. A worker that
  dies holding one lets its lease run out, and the next :meth:`~Store.journal_take` (by any
  worker, or the next start) gets it again. Entries of one chat are taken one at a time and
  in order, which is how each chat's updates keep their order across workers.
- **album parts** (``album_*``): the messages of one ``media_group_id``, gathered from
  whichever worker received them and handed out once after a quiet window.

Every method is atomic across all the workers that share the store.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["DONE", "RUNNING", "Accepted", "AlbumClaim", "Claim", "DedupeStore", "Store"]

RUNNING = "running"
DONE = "done"
#: Entries :meth:`Store.journal_take` looks at when it is not told the chat; past this many
#: waiting entries, the oldest blocked ones may hide a takeable one until they move.
JOURNAL_SCAN = 1000


class Claim(enum.Enum):
    """What :meth:`Store.claim` found."""

    NEW = "new"  #: nobody has it: handle it now
    RUNNING = "running"  #: another copy is being handled right now
    DONE = "done"  #: handled before: acknowledge and do nothing


@dataclass(frozen=True)
class Accepted:
    """An accepted update, as :meth:`Store.journal_take` hands it out.

    :param key: the update's key (unique within its journal).
    :param payload: what :meth:`Store.journal_accept` recorded (the update's JSON).
    :param chat: the chat whose order it keeps, or ``None``.
    :param order: its place in the chat (the ``update_id``).
    :param attempts: how many times it was taken, this time included: past the retry cap,
        an update whose handler kills its worker can be dropped instead of run again.
    """

    key: str
    payload: str
    chat: str | None
    order: int
    attempts: int


@dataclass(frozen=True)
class AlbumClaim:
    """What :meth:`Store.album_claim` found.

    :param parts: the album's parts in order, when this caller won the album; else ``None``.
    :param wait: seconds until the quiet window ends, when a part arrived too recently
        (ask again then); ``0`` with no parts means someone else has the album, or there is
        no such album.
    """

    parts: list[str] | None
    wait: float = 0.0


class Store:
    """Base class of the stores.

    Subclasses implement the primitives (:meth:`add`, :meth:`get`, :meth:`set`,
    :meth:`delete`, :meth:`incr`) and the journal and album methods. :meth:`add` must be
    atomic across every worker that shares the store: it is what makes exactly one of two
    concurrent copies of an update win. :meth:`incr` has a default built on :meth:`get` and
    :meth:`set` for stores that only have the four primitives; the stores shipped here count
    atomically.
    """

    # -- primitives ---------------------------------------------------------------------

    def add(self, key: str, value: str, ttl: float) -> bool:
        """Store ``value`` under ``key`` for ``ttl`` seconds unless the key exists."""
        raise NotImplementedError

    def get(self, key: str) -> str | None:
        """The value under ``key``, or ``None`` when absent or expired."""
        raise NotImplementedError

    def set(self, key: str, value: str, ttl: float) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, whatever was there."""
        raise NotImplementedError

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        raise NotImplementedError

    def incr(self, key: str, ttl: float) -> int:
        """Add one to the counter under ``key`` (kept ``ttl`` seconds) and return it.

        Counts survive the worker that made them (the retry cap of an update that kills its
        worker relies on it). This default is not atomic; it counts the failures of one
        update, whose copies never run at the same time (the claim sees to that).
        """
        value = self.get(key)
        count = (int(value) if value and value.isdigit() else 0) + 1
        self.set(key, str(count), ttl)
        return count

    # -- dedupe -------------------------------------------------------------------------

    def claim(self, key: str, lease: float) -> Claim:
        """Take ``key`` for handling, for at most ``lease`` seconds."""
        if self.add(key, RUNNING, lease):
            return Claim.NEW
        # The mark can expire between add() and get(); RUNNING is the safe answer then,
        # because Telegram comes back and the next claim succeeds.
        return Claim.DONE if self.get(key) == DONE else Claim.RUNNING

    def claim_counted(
        self, key: str, lease: float, count_key: str, ttl: float
    ) -> tuple[Claim, int]:
        """:meth:`claim`, and when it wins, :meth:`incr` of ``count_key`` (the claims of one
        update, which cap an update whose handler kills its worker). Returns the claim and
        the count (0 when the claim did not win). A store may do both in one write."""
        claim = self.claim(key, lease)
        return claim, self.incr(count_key, ttl) if claim is Claim.NEW else 0

    def finish(self, key: str, ttl: float) -> None:
        """Mark ``key`` handled, for ``ttl`` seconds."""
        self.set(key, DONE, ttl)

    def release(self, key: str) -> None:
        """Give ``key`` up unhandled, so Telegram's next delivery is handled."""
        self.delete(key)

    # -- the journal of accepted updates -------------------------------------------------

    def journal_accept(
        self, journal: str, key: str, payload: str, *, chat: str | None = None, order: int = 0
    ) -> bool:
        """Record an accepted update before Telegram is answered; any worker may take it.

        :param journal: the journal's name (one per bot: bots sharing a store never mix).
        :param chat: updates with the same chat are taken one at a time, by ``order``;
            ``None`` for an update that belongs to no chat.
        :returns: ``False`` when ``key`` is in the journal already (a redelivery).
        """
        raise NotImplementedError(self._lacks("journal"))

    def journal_take(
        self, journal: str, lease: float, *, chat: str | None = None
    ) -> Accepted | None:
        """Lease the next update to run, or ``None`` when none may run now.

        An entry may run when it is not leased (never taken, or its lease ran out because its
        worker died) and, when it has a chat, no entry of that chat is leased and none has a
        lower ``order``. The oldest such entry is taken, for ``lease`` seconds, its
        ``attempts`` counted. With ``chat``, only that chat's next entry is considered (the
        loop "accept, then take for my chat until ``None``" drains a chat in order).
        """
        raise NotImplementedError(self._lacks("journal"))

    def journal_renew(self, journal: str, entry: Accepted, lease: float) -> bool:
        """Extend the lease on ``entry`` for a handler that runs long (before it runs out).

        :returns: ``False`` when the lease was lost (it ran out and the entry was taken
            again, or it is done): stop, someone else runs it.
        """
        raise NotImplementedError(self._lacks("journal"))

    def journal_done(self, journal: str, key: str) -> None:
        """Remove ``key``: handled (or given up), and its chat's next entry may run."""
        raise NotImplementedError(self._lacks("journal"))

    def journal_expired(self, journal: str, limit: int = 100) -> list[Accepted]:
        """Entries whose lease ran out (their worker died mid-handler), oldest first.

        Only a look: :meth:`journal_take` is what recovers them.
        """
        raise NotImplementedError(self._lacks("journal"))

    # -- albums ---------------------------------------------------------------------------

    def album_add(self, album: str, order: int, part: str, ttl: float) -> bool:
        """Add ``part`` (its JSON) to ``album`` at ``order`` (the message id).

        Restarts the album's quiet window; the album is kept ``ttl`` seconds after its
        latest part. A part added twice (a redelivery) is kept once.

        :returns: ``False`` when the album was already handed out (a part too late).
        """
        raise NotImplementedError(self._lacks("album"))

    def album_parts(self, album: str) -> list[str]:
        """The parts of ``album`` so far, in order."""
        raise NotImplementedError(self._lacks("album"))

    def album_claim(self, album: str, quiet: float) -> AlbumClaim:
        """Hand ``album`` out once, when no part arrived for ``quiet`` seconds."""
        raise NotImplementedError(self._lacks("album"))

    def albums_due(self, prefix: str, quiet: float, limit: int = 100) -> list[str]:
        """Albums named ``prefix`` + their id that nobody took yet and that had no part for
        ``quiet`` seconds: the ones a worker that died in the quiet window left behind.
        At most ``limit``; :meth:`album_claim` still decides who gets each."""
        raise NotImplementedError(self._lacks("album"))

    def close(self) -> None:
        """Release what this process holds (connections); the store reopens on next use."""

    def _lacks(self, what: str) -> str:
        return (
            f"{type(self).__name__} has no {what}: use one of flask_tgwebhook's stores "
            "(sqlite://, redis:// or memory:// in TELEGRAM_STORE_URL) or implement it."
        )


#: The name this base class had when it held dedupe marks only.
DedupeStore = Store
