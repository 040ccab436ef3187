"""A store in an SQLite file, shared by every worker of one machine, with no server to run.

It is the default (a file in the app's instance folder): gunicorn's workers are processes,
and SQLite is the one thing they can all share without anyone installing anything. The
dedupe claim is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE expired`` statement, so of
two copies of an update that reach two workers at once exactly one inserts its mark.

Tuned for the webhook's path (``docs/scaling.rst`` has the figures):

- WAL mode (readers never wait for the writer) with ``synchronous = NORMAL``: a commit is
  written to the log but not flushed to the disk; the flush happens at checkpoints. A power
  cut may forget the last marks, never corrupt the file.
- One connection per thread, opened on first use in each process (after gunicorn forks),
  with its statements prepared once and kept (the sqlite3 module's statement cache).
- Checkpoints run in a background thread, not in the request that happens to fill the log.
- One commit per update. The claim counts itself on its own row (the retry cap's count
  needs no second write), and a finished update's *done* mark is written by the next
  claim's statement, or by the background thread within :data:`FLUSH_DELAY` when no update
  follows. Until then a copy of it gets the *running* answer (503, come back later), never
  a second run.
- Expired rows are deleted by the background thread, a bounded batch at a time; rows live on
  disk, not in the worker's memory.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

from .base import DONE, JOURNAL_SCAN, RUNNING, Accepted, AlbumClaim, Claim, Store

__all__ = ["SqliteStore"]

logger = logging.getLogger("flask_tgwebhook")

#: Seconds a write waits for another process's write before giving up (a busy error).
BUSY_TIMEOUT = 5.0
#: Seconds a done mark may wait to ride along with the next claim before it is written alone.
FLUSH_DELAY = 0.05
#: Seconds between checkpoints (copying the log into the database file) while writing.
CHECKPOINT_INTERVAL = 1.0
#: Seconds between sweeps of expired rows, and the rows one sweep looks at.
SWEEP_INTERVAL = 30.0
SWEEP_BATCH = 2000
#: Most done marks written by one claim; more wait for the next one.
MAX_CARRIED = 16
#: Bytes of log past which a checkpoint makes it start over (and truncates it back to this).
WAL_LIMIT = 16 * 1024 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS marks (
    key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, keep REAL NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL, key TEXT NOT NULL, chat TEXT, ord INTEGER NOT NULL,
    payload TEXT NOT NULL, lease_until REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    UNIQUE (name, key)
);
CREATE INDEX IF NOT EXISTS journal_chat ON journal (name, chat, ord);
CREATE TABLE IF NOT EXISTS albums (
    album TEXT PRIMARY KEY, last REAL NOT NULL, expires REAL NOT NULL,
    claimed INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS album_parts (
    album TEXT NOT NULL, ord INTEGER NOT NULL, part TEXT NOT NULL, PRIMARY KEY (album, ord)
) WITHOUT ROWID;
"""

_ADD = (
    "INSERT INTO marks (key, value, expires) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
    "SET value = excluded.value, expires = excluded.expires WHERE marks.expires <= ?"
)
_SET = (
    "INSERT INTO marks (key, value, expires) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
    "SET value = excluded.value, expires = excluded.expires"
)
_INCR = (
    "INSERT INTO marks (key, value, expires) VALUES (?, '1', ?) ON CONFLICT (key) DO UPDATE "
    "SET value = CASE WHEN marks.expires <= ? THEN '1' "
    "ELSE CAST(CAST(marks.value AS INTEGER) + 1 AS TEXT) END, expires = excluded.expires "
    "RETURNING value"
)
_GET = "SELECT value FROM marks WHERE key = ? AND expires > ?"
_ENTRY = "SELECT key, payload, chat, ord, attempts, seq FROM journal AS j "
_HEADS_CHAT = (
    "(j.chat IS NULL OR NOT EXISTS (SELECT 1 FROM journal AS o WHERE o.name = j.name "
    "AND o.chat = j.chat AND o.seq != j.seq AND (o.lease_until > :now OR o.ord < j.ord "
    "OR (o.ord = j.ord AND o.seq < j.seq))))"
)
_TAKE = _ENTRY + "WHERE j.name = :name AND j.lease_until <= :now AND " + _HEADS_CHAT
#: The next entry of one chat, or the oldest takeable among the first JOURNAL_SCAN entries.
_TAKE_CHAT = _TAKE + " AND j.chat = :chat ORDER BY j.ord, j.seq LIMIT 1"
_TAKE_ANY = (
    _TAKE  # noqa: S608 (constants only)
    + " AND j.seq IN (SELECT seq FROM journal WHERE name = :name ORDER BY seq "
    "LIMIT :scan) ORDER BY j.seq LIMIT 1"
)


def _claim_sql(carried: int) -> str:
    """The claim, with ``carried`` done marks written in the same statement before it.

    Done rows always apply; the claim row only over an expired mark, and then it counts
    itself in ``attempts`` (from 1 again once ``keep``, the count's expiry, has passed). The
    statement returns a row for each row it wrote: the claim won when one of them is running.
    """
    rows = ", ".join(["(?, ?, ?, 0, 0)"] * carried + ["(?, ?, ?, 1, ?)"])
    # No value is written into the SQL: they are all parameters.
    return (
        f"INSERT INTO marks (key, value, expires, attempts, keep) VALUES {rows} "  # noqa: S608
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires = excluded.expires, "
        f"attempts = CASE WHEN excluded.value = '{DONE}' THEN marks.attempts "
        "WHEN marks.keep > ? THEN marks.attempts + 1 ELSE 1 END, "
        "keep = max(marks.keep, excluded.keep) "
        f"WHERE excluded.value = '{DONE}' OR marks.expires <= ? "
        "RETURNING value, attempts"
    )


_BATCH_END = "SELECT max(key) FROM (SELECT key FROM marks WHERE key > ? ORDER BY key LIMIT ?)"
_SWEEP_MARKS = (
    "DELETE FROM marks WHERE key IN (SELECT key FROM marks WHERE key > ? ORDER BY key "
    "LIMIT ?) AND max(expires, keep) <= ?"
)
_SWEEP_PARTS = (
    "DELETE FROM album_parts WHERE album IN (SELECT album FROM albums WHERE expires <= ? LIMIT ?)"
)
_SWEEP_ALBUMS = (
    "DELETE FROM albums WHERE album IN (SELECT album FROM albums WHERE expires <= ? LIMIT ?)"
)
_CLAIM_SQL = [_claim_sql(n) for n in range(MAX_CARRIED + 1)]
_MAX_FLAT = 3 * MAX_CARRIED
#: Connections a forked child inherited: kept referenced, because closing them in the child
#: could touch the parent's locks and log.
_INHERITED: list[sqlite3.Connection] = []


class SqliteStore(Store):
    """Marks, journal and album parts in an SQLite file.

    :param path: the database file; made (with its schema) now, so a folder that cannot be
        written fails at start-up rather than at the first update.
    :param busy_timeout: seconds a write waits for another worker's.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = BUSY_TIMEOUT) -> None:
        if sqlite3.sqlite_version_info < (3, 35):
            raise RuntimeError(
                f"The SQLite store needs SQLite 3.35 or newer; this Python has "
                f"{sqlite3.sqlite_version}. Use a newer Python, or set TELEGRAM_STORE_URL to "
                "redis://... or memory://."
            )
        self.path = str(path)
        self.busy_timeout = busy_timeout
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            with _transaction(conn):  # one worker makes or upgrades the schema at a time
                for statement in filter(str.strip, SCHEMA.split(";")):
                    conn.execute(statement)
                _add_columns(conn)
        finally:
            conn.close()
        self._reset()
        os.register_at_fork(after_in_child=functools.partial(_forked, weakref.ref(self)))

    def _reset(self) -> None:
        """Per-process state: nothing of it survives a fork."""
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        #: Done marks not yet written, flat as the claim's parameters: key, DONE, expiry, ...
        self._finished: list[object] = []
        self._housekeeper: threading.Thread | None = None
        self._stop = threading.Event()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,  # autocommit: one statement, one transaction
            check_same_thread=False,  # only close() touches another thread's connection
            cached_statements=64,
        )
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # the housekeeper checkpoints
        conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}")
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
            with self._lock:
                self._connections.append(conn)
                if self._housekeeper is None:
                    self._start_housekeeper()
        return conn

    # -- primitives ---------------------------------------------------------------------

    def add(self, key: str, value: str, ttl: float) -> bool:
        now = time.time()
        return self._conn().execute(_ADD, (key, value, now + ttl, now)).rowcount == 1

    def get(self, key: str) -> str | None:
        row = self._conn().execute(_GET, (key, time.time())).fetchone()
        return None if row is None else str(row[0])

    def set(self, key: str, value: str, ttl: float) -> None:
        self._forget(key)
        self._conn().execute(_SET, (key, value, time.time() + ttl))

    def delete(self, key: str) -> None:
        self._forget(key)
        self._conn().execute("DELETE FROM marks WHERE key = ?", (key,))

    def incr(self, key: str, ttl: float) -> int:
        """One upsert that counts from 1 again past the expiry: atomic across processes."""
        now = time.time()
        rows = self._conn().execute(_INCR, (key, now + ttl, now)).fetchall()
        return int(rows[0][0])

    # -- dedupe (the hot path) ----------------------------------------------------------

    def claim(self, key: str, lease: float) -> Claim:
        return self._claim(key, lease, lease)[0]

    def claim_counted(
        self, key: str, lease: float, count_key: str, ttl: float
    ) -> tuple[Claim, int]:
        """:meth:`claim`, counted on the claim's own row for ``ttl`` seconds: one write.

        ``count_key`` is not used: the count lives beside the claim, and :meth:`release`
        keeps it.
        """
        return self._claim(key, lease, ttl)

    def _claim(self, key: str, lease: float, keep: float) -> tuple[Claim, int]:
        conn = getattr(self._local, "conn", None) or self._conn()
        now = time.time()
        with self._lock:
            carried = self._finished  # flat: key, DONE, expiry, key, DONE, expiry, ...
            self._finished = carried[_MAX_FLAT:]
        del carried[_MAX_FLAT:]
        params = [*carried, key, RUNNING, now + lease, now + keep, now, now]
        try:
            written = conn.execute(_CLAIM_SQL[len(carried) // 3], params).fetchall()
        except BaseException:
            self._carry_back(carried)
            raise
        for value, attempts in written:
            if value == RUNNING:  # the carried rows are all done: this is the claim's
                return Claim.NEW, int(attempts)
        if key in carried[::3]:
            return Claim.DONE, 0
        return Claim.DONE if self.get(key) == DONE else Claim.RUNNING, 0

    def finish(self, key: str, ttl: float) -> None:
        """Mark ``key`` done: written by the next claim, or within :data:`FLUSH_DELAY`."""
        expires = time.time() + ttl
        with self._lock:
            self._finished += (key, DONE, expires)
        if self._housekeeper is None:
            self._conn()  # starts the housekeeper in this process

    def release(self, key: str) -> None:
        """Give ``key`` up: the next claim wins at once and counts on from this one's count."""
        self._forget(key)
        self._conn().execute("UPDATE marks SET expires = 0 WHERE key = ?", (key,))

    def _forget(self, key: str) -> None:
        """Drop a waiting done mark of ``key`` (it is being set or deleted now)."""
        with self._lock:
            flat = self._finished
            if key in flat[::3]:
                self._finished = [
                    v for i in range(0, len(flat), 3) if flat[i] != key for v in flat[i : i + 3]
                ]

    def _carry_back(self, carried: list[object]) -> None:
        with self._lock:
            self._finished = carried + self._finished

    def flush(self) -> None:
        """Write the done marks still waiting (the housekeeper does it within FLUSH_DELAY)."""
        with self._lock:
            carried, self._finished = self._finished, []
        if not carried:
            return
        rows = [carried[i : i + 3] for i in range(0, len(carried), 3)]
        try:
            self._conn().executemany(_SET, rows)
        except BaseException:
            self._carry_back(carried)
            raise

    # -- journal ------------------------------------------------------------------------

    def journal_accept(
        self, journal: str, key: str, payload: str, *, chat: str | None = None, order: int = 0
    ) -> bool:
        cursor = self._conn().execute(
            "INSERT INTO journal (name, key, chat, ord, payload) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (name, key) DO NOTHING",
            (journal, key, chat, order, payload),
        )
        return cursor.rowcount == 1

    def journal_take(
        self, journal: str, lease: float, *, chat: str | None = None
    ) -> Accepted | None:
        now = time.time()
        sql = _TAKE_CHAT if chat is not None else _TAKE_ANY
        params = {"name": journal, "now": now, "chat": chat, "scan": JOURNAL_SCAN}
        with _transaction(self._conn()) as conn:
            row = conn.execute(sql, params).fetchone()
            if row is not None:
                conn.execute(
                    "UPDATE journal SET lease_until = ?, attempts = attempts + 1 WHERE seq = ?",
                    (now + lease, row[5]),
                )
        if row is None:
            return None
        key, payload, entry_chat, order, attempts, _ = row
        return Accepted(key, payload, entry_chat, order, attempts + 1)

    def journal_renew(self, journal: str, entry: Accepted, lease: float) -> bool:
        now = time.time()
        cursor = self._conn().execute(
            "UPDATE journal SET lease_until = :until WHERE name = :name AND key = :key "
            "AND attempts = :attempts AND lease_until > :now",
            {
                "until": now + lease,
                "name": journal,
                "key": entry.key,
                "attempts": entry.attempts,
                "now": now,
            },
        )
        return cursor.rowcount == 1

    def journal_done(self, journal: str, key: str) -> None:
        self._conn().execute("DELETE FROM journal WHERE name = ? AND key = ?", (journal, key))

    def journal_expired(self, journal: str, limit: int = 100) -> list[Accepted]:
        rows = self._conn().execute(
            _ENTRY + "WHERE name = ? AND lease_until > 0 AND lease_until <= ? ORDER BY seq LIMIT ?",
            (journal, time.time(), limit),
        )
        return [Accepted(k, p, c, o, a) for k, p, c, o, a, _ in rows.fetchall()]

    # -- albums -------------------------------------------------------------------------

    def album_add(self, album: str, order: int, part: str, ttl: float) -> bool:
        now = time.time()
        with _transaction(self._conn()) as conn:
            row = conn.execute(
                "SELECT claimed, expires FROM albums WHERE album = ?", (album,)
            ).fetchone()
            if row is not None and row[1] <= now:  # an old album of that id: start afresh
                conn.execute("DELETE FROM album_parts WHERE album = ?", (album,))
                row = None
            added = row is None or not row[0]
            if added:
                conn.execute(
                    "INSERT INTO albums (album, last, expires) VALUES (?, ?, ?) "
                    "ON CONFLICT (album) DO UPDATE SET last = excluded.last, "
                    "expires = excluded.expires, claimed = 0",
                    (album, now, now + ttl),
                )
                conn.execute(
                    "INSERT OR IGNORE INTO album_parts (album, ord, part) VALUES (?, ?, ?)",
                    (album, order, part),
                )
        return added

    def album_parts(self, album: str) -> list[str]:
        rows = self._conn().execute(
            "SELECT part FROM album_parts WHERE album = ? AND EXISTS (SELECT 1 FROM albums "
            "WHERE album = ? AND expires > ?) ORDER BY ord",
            (album, album, time.time()),
        )
        return [str(part) for (part,) in rows.fetchall()]

    def album_claim(self, album: str, quiet: float) -> AlbumClaim:
        now = time.time()
        with _transaction(self._conn()) as conn:
            row = conn.execute(
                "SELECT last, claimed FROM albums WHERE album = ? AND expires > ?", (album, now)
            ).fetchone()
            if row is None or row[1]:
                claim = AlbumClaim(None)
            elif now - row[0] < quiet:
                claim = AlbumClaim(None, quiet - (now - row[0]))
            else:
                conn.execute("UPDATE albums SET claimed = 1 WHERE album = ?", (album,))
                parts = conn.execute(
                    "SELECT part FROM album_parts WHERE album = ? ORDER BY ord", (album,)
                ).fetchall()
                claim = AlbumClaim([str(part) for (part,) in parts])
        return claim

    def albums_due(self, prefix: str, quiet: float, limit: int = 100) -> list[str]:
        now = time.time()
        rows = self._conn().execute(
            "SELECT album FROM albums WHERE substr(album, 1, ?) = ? AND claimed = 0 "
            "AND last <= ? AND expires > ? LIMIT ?",
            (len(prefix), prefix, now - quiet, now, limit),
        )
        return [str(album) for (album,) in rows.fetchall()]

    # -- housekeeping -------------------------------------------------------------------

    def _start_housekeeper(self) -> None:
        # A weak reference, so a store nobody uses any more can be collected.
        thread = threading.Thread(
            target=_housekeep,
            args=(weakref.ref(self), self._stop),
            name="flask_tgwebhook sqlite store",
            daemon=True,
        )
        self._housekeeper = thread
        thread.start()

    def checkpoint(self) -> None:
        """Copy the log into the database file; past :data:`WAL_LIMIT`, start the log over.

        The log starts over from its top only once every frame in it has been copied, and a
        checkpoint racing a steady stream of writes never catches up with them: under
        sustained load the log would grow without end, each write extending the file. So a
        log past the limit gets a checkpoint that holds new writers back until it is done
        (a few milliseconds, at most once per :data:`CHECKPOINT_INTERVAL`).
        """
        try:
            restart = os.path.getsize(self.path + "-wal") > WAL_LIMIT
        except OSError:  # no log yet
            restart = False
        mode = "RESTART" if restart else "PASSIVE"
        self._conn().execute(f"PRAGMA wal_checkpoint({mode})").fetchall()

    def sweep(self, after: str = "") -> str:
        """Delete expired rows among the next :data:`SWEEP_BATCH` marks after ``after``.

        :returns: where the next sweep continues (``""``: from the start again).
        """
        conn = self._conn()
        now = time.time()
        last = conn.execute(_BATCH_END, (after, SWEEP_BATCH)).fetchone()
        with _transaction(conn):
            conn.execute(_SWEEP_MARKS, (after, SWEEP_BATCH, now))
            conn.execute(_SWEEP_PARTS, (now, SWEEP_BATCH))
            conn.execute(_SWEEP_ALBUMS, (now, SWEEP_BATCH))
        return str(last[0]) if last and last[0] is not None else ""

    def close(self) -> None:
        """Write the waiting done marks, stop the housekeeper, close this process's connections."""
        try:
            self.flush()
        finally:
            self._stop.set()
            thread = self._housekeeper
            if thread is not None and thread is not threading.current_thread():
                thread.join(5)
            with self._lock:
                connections, self._connections = self._connections, []
            for conn in connections:
                conn.close()
            self._reset()

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path!r}>"


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (the write lock first, so no upgrade can fail half-way) ... commit,
    or roll back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _add_columns(conn: sqlite3.Connection) -> None:
    """Give a file made by an older version the columns it lacks (the claim's own count)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(marks)")}
    for column in ("attempts INTEGER NOT NULL DEFAULT 0", "keep REAL NOT NULL DEFAULT 0"):
        if column.split()[0] not in have:
            conn.execute(f"ALTER TABLE marks ADD COLUMN {column}")


def _housekeep(ref: weakref.ref[SqliteStore], stop: threading.Event) -> None:
    """The background thread: late done marks, checkpoints and sweeps, each on its clock."""
    checkpointed = swept = time.monotonic()
    cursor = ""
    failed = False
    while not stop.wait(FLUSH_DELAY):
        store = ref()
        if store is None:
            return
        try:
            store.flush()
            now = time.monotonic()
            if now - checkpointed >= CHECKPOINT_INTERVAL:
                checkpointed = now
                store.checkpoint()
            if now - swept >= SWEEP_INTERVAL:
                swept = now
                cursor = store.sweep(cursor)
        except sqlite3.Error as exc:
            # Busy or gone for a moment: the next round tries again. Said once, loudly,
            # because a full disk or a deleted file needs someone to act.
            if not failed:
                failed = True
                logger.warning(
                    "The SQLite store %s could not write its housekeeping (%s); fix the file "
                    "or its disk, or set TELEGRAM_STORE_URL to another store.",
                    store.path,
                    exc,
                )
        else:
            failed = False
        del store


def _forked(ref: weakref.ref[SqliteStore]) -> None:
    """In a forked child: the parent's connections and thread are not ours to use."""
    store = ref()
    if store is not None:
        _INHERITED.extend(store._connections)
        store._reset()


def default_path(instance_path: str | os.PathLike[str]) -> Path:
    """Where the default store lives: a file in the app's instance folder."""
    return Path(instance_path) / "tgwebhook.sqlite3"
