"""Every store (memory, SQLite, Redis) against one set of tests: marks, counts, the journal of
accepted updates with leases and per-chat order, album parts. Redis is a real redis-server;
the shared stores are also checked across real processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flask_tgwebhook.stores import Accepted, Claim, MemoryStore, SqliteStore, Store
from flask_tgwebhook.stores.redis import RedisStore

from .servers import RedisServer

J = "tg:1:journal"
StoreFactory = Callable[[], Store]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Makes stores that share one backend, as the workers of one deploy do."""
    made: list[Store] = []
    kind = request.param
    if kind == "memory":
        shared = MemoryStore()

        def make() -> Store:
            return shared

    elif kind == "sqlite":

        def make() -> Store:
            made.append(SqliteStore(tmp_path / "store.sqlite3"))
            return made[-1]

    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        RedisStore.from_url(server.url).client.flushdb()

        def make() -> Store:
            made.append(RedisStore.from_url(server.url))
            return made[-1]

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    return make_store()


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def run_threads(target: Callable[[int], None], count: int) -> None:
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait(5)
        target(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
        assert not thread.is_alive()


# -- marks and counts ----------------------------------------------------------------------


def test_add_get_set_delete(store: Store) -> None:
    assert store.add("k", "v", 60)
    assert not store.add("k", "w", 60)
    assert store.get("k") == "v"
    store.set("k", "w", 60)
    assert store.get("k") == "w"
    store.delete("k")
    assert store.get("k") is None
    assert store.add("k", "again", 60)


def test_claim_finish_release(store: Store) -> None:
    assert store.claim("u1", 60) is Claim.NEW
    assert store.claim("u1", 60) is Claim.RUNNING
    store.finish("u1", 600)
    assert store.claim("u1", 60) is Claim.DONE
    assert store.claim("u2", 60) is Claim.NEW
    store.release("u2")
    assert store.claim("u2", 60) is Claim.NEW


def test_done_is_seen_by_the_other_workers(make_store: StoreFactory) -> None:
    first, second = make_store(), make_store()
    assert first.claim("u", 60) is Claim.NEW
    assert second.claim("u", 60) is Claim.RUNNING
    first.finish("u", 600)
    # The SQLite store writes the done mark with the next claim or within FLUSH_DELAY.
    wait_until(lambda: second.claim("u", 60) is Claim.DONE)
    assert first.claim("next", 60) is Claim.NEW


def test_lease_runs_out(store: Store) -> None:
    assert store.claim("u", 0.1) is Claim.NEW
    wait_until(lambda: store.claim("u", 0.1) is Claim.NEW)


def test_one_winner_among_workers(make_store: StoreFactory) -> None:
    stores = [make_store() for _ in range(8)]
    results: list[Claim] = []
    run_threads(lambda i: results.append(stores[i].claim("same", 60)), 8)
    assert results.count(Claim.NEW) == 1
    assert results.count(Claim.RUNNING) == 7


def test_incr_is_atomic_and_expires(make_store: StoreFactory) -> None:
    stores = [make_store() for _ in range(4)]

    def count(index: int) -> None:
        for _ in range(50):
            stores[index].incr("failures", 60)

    run_threads(count, 4)
    assert stores[0].incr("failures", 60) == 201
    assert stores[0].incr("short", 0.1) == 1
    wait_until(lambda: stores[0].get("short") is None)
    assert stores[0].incr("short", 60) == 1


# -- the journal of accepted updates --------------------------------------------------------


def test_journal_accept_take_done(store: Store) -> None:
    assert store.journal_accept(J, "u1", '{"update_id": 1}', chat="7", order=1)
    assert not store.journal_accept(J, "u1", '{"update_id": 1}', chat="7", order=1)
    entry = store.journal_take(J, 60)
    assert entry == Accepted("u1", '{"update_id": 1}', "7", 1, 1)
    assert store.journal_take(J, 60) is None  # leased
    store.journal_done(J, "u1")
    assert store.journal_take(J, 60) is None
    assert store.journal_accept(J, "u2", "{}")  # no chat
    taken = store.journal_take(J, 60)
    assert taken is not None and taken.chat is None and taken.key == "u2"


def test_journals_are_separate(store: Store) -> None:
    store.journal_accept("tg:1:journal", "u", "one")
    store.journal_accept("tg:2:journal", "u", "two")
    taken = store.journal_take("tg:2:journal", 60)
    assert taken is not None and taken.payload == "two"
    taken = store.journal_take("tg:1:journal", 60)
    assert taken is not None and taken.payload == "one"


def test_a_dead_workers_lease_runs_out_and_the_update_is_taken_again(
    make_store: StoreFactory,
) -> None:
    worker, survivor = make_store(), make_store()
    worker.journal_accept(J, "u", "payload", chat="7", order=5)
    first = worker.journal_take(J, 0.2)
    assert first is not None and first.attempts == 1
    assert survivor.journal_take(J, 60) is None
    assert survivor.journal_expired(J) == []
    wait_until(lambda: survivor.journal_expired(J) == [first])
    again = survivor.journal_take(J, 60)
    assert again == Accepted("u", "payload", "7", 5, 2)  # attempts counts the deaths
    assert not worker.journal_renew(J, first, 60)  # the dead worker's lease is gone
    assert survivor.journal_renew(J, again, 60)
    survivor.journal_done(J, "u")
    assert not survivor.journal_renew(J, again, 60)


def test_renew_keeps_a_long_handler_s_lease(store: Store) -> None:
    store.journal_accept(J, "u", "p")
    entry = store.journal_take(J, 0.3)
    assert entry is not None
    for _ in range(4):
        time.sleep(0.1)
        assert store.journal_renew(J, entry, 0.3)
    assert store.journal_take(J, 60) is None
    assert store.journal_expired(J) == []


def test_one_chat_runs_one_at_a_time_in_order(store: Store) -> None:
    for key, chat, order in [("a3", "A", 3), ("a1", "A", 1), ("b1", "B", 1), ("a2", "A", 2)]:
        store.journal_accept(J, key, key, chat=chat, order=order)
    first = store.journal_take(J, 60)
    assert first is not None and first.key == "a1"  # the oldest that heads its chat
    second = store.journal_take(J, 60)
    assert second is not None and second.key == "b1"  # chat A is busy
    assert store.journal_take(J, 60) is None
    assert store.journal_take(J, 60, chat="A") is None
    store.journal_done(J, "a1")
    taken = []
    while (entry := store.journal_take(J, 60, chat="A")) is not None:
        taken.append(entry.key)
        assert store.journal_take(J, 60, chat="A") is None  # still one at a time
        store.journal_done(J, entry.key)
    assert taken == ["a2", "a3"]


def test_a_late_earlier_update_waits_for_the_running_one(store: Store) -> None:
    store.journal_accept(J, "u6", "6", chat="A", order=6)
    running = store.journal_take(J, 60)
    assert running is not None and running.key == "u6"
    store.journal_accept(J, "u5", "5", chat="A", order=5)  # arrives late
    assert store.journal_take(J, 60) is None
    store.journal_done(J, "u6")
    late = store.journal_take(J, 60, chat="A")
    assert late is not None and late.key == "u5"


def test_chats_are_ordered_across_workers(make_store: StoreFactory) -> None:
    """Four workers drain three chats of five updates: each chat one at a time, in order."""
    stores = [make_store() for _ in range(4)]
    for order in range(1, 6):
        for chat in "ABC":
            stores[0].journal_accept(J, f"{chat}{order}", "", chat=chat, order=order)
    ran: list[tuple[str, int]] = []
    running: set[str] = set()
    overlap: list[str] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            entry = stores[index].journal_take(J, 60)
            if entry is None:
                with lock:
                    if len(ran) == 15:
                        return
                time.sleep(0.005)
                continue
            assert entry.chat is not None
            with lock:
                if entry.chat in running:
                    overlap.append(entry.key)
                running.add(entry.chat)
                ran.append((entry.chat, entry.order))
            time.sleep(0.01)
            with lock:
                running.discard(entry.chat)
            stores[index].journal_done(J, entry.key)

    run_threads(work, 4)
    assert not overlap
    for chat in "ABC":
        assert [o for c, o in ran if c == chat] == [1, 2, 3, 4, 5]


# -- albums --------------------------------------------------------------------------------


def test_album_is_handed_out_once_after_the_quiet_window(make_store: StoreFactory) -> None:
    one, two = make_store(), make_store()
    assert one.album_add("tg:1:album:g", 12, "p12", 60)
    assert two.album_add("tg:1:album:g", 10, "p10", 60)
    assert one.album_add("tg:1:album:g", 10, "again", 60)  # a redelivered part: kept once
    assert one.album_parts("tg:1:album:g") == ["p10", "p12"]
    early = two.album_claim("tg:1:album:g", 0.3)
    assert early.parts is None and 0 < early.wait <= 0.3
    time.sleep(early.wait)
    won = one.album_claim("tg:1:album:g", 0.3)
    assert won.parts == ["p10", "p12"]
    lost = two.album_claim("tg:1:album:g", 0.3)
    assert lost.parts is None and lost.wait == 0
    assert not two.album_add("tg:1:album:g", 14, "too late", 60)
    nothing = one.album_claim("tg:1:album:none", 0.3)
    assert nothing.parts is None and nothing.wait == 0


def test_album_claimed_by_exactly_one_of_many(make_store: StoreFactory) -> None:
    stores = [make_store() for _ in range(5)]
    for index, store in enumerate(stores):
        store.album_add("tg:1:album:x", index, f"p{index}", 60)
    time.sleep(0.05)
    results: list[list[str] | None] = []
    run_threads(lambda i: results.append(stores[i].album_claim("tg:1:album:x", 0.05).parts), 5)
    winners = [r for r in results if r is not None]
    assert winners == [["p0", "p1", "p2", "p3", "p4"]]


def test_album_expires(store: Store) -> None:
    store.album_add("tg:1:album:e", 1, "p", 0.2)
    wait_until(lambda: store.album_parts("tg:1:album:e") == [])
    assert store.album_add("tg:1:album:e", 2, "q", 60)  # a new album under the old id
    assert store.album_parts("tg:1:album:e") == ["q"]


def test_albums_due_are_the_quiet_ones_nobody_took(make_store: StoreFactory) -> None:
    one, two = make_store(), make_store()
    one.album_add("tg:1:album:quiet", 1, "p", 60)
    one.album_add("tg:1:album:taken", 1, "p", 60)
    one.album_add("tg:2:album:other-bot", 1, "p", 60)
    one.album_add("tg:1:album:gone", 1, "p", 0.1)
    time.sleep(0.15)
    one.album_add("tg:1:album:busy", 1, "p", 60)  # a part just now: its window is not over
    assert one.album_claim("tg:1:album:taken", 0.1).parts == ["p"]
    assert sorted(two.albums_due("tg:1:album:", 0.1)) == ["tg:1:album:quiet"]
    assert two.albums_due("tg:1:album:", 0.1, limit=0) == []
    assert two.album_claim("tg:1:album:quiet", 0.1).parts == ["p"]
    assert two.albums_due("tg:1:album:", 0.1) == []  # handed out: due no more
    assert one.albums_due("tg:2:album:", 0.1) == ["tg:2:album:other-bot"]


# -- real processes -------------------------------------------------------------------------


def _claim_in_process(
    path: str, barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue[str]
) -> None:
    store = SqliteStore(path)
    barrier.wait(10)
    results.put(store.claim("same", 60).value)


def test_sqlite_one_winner_among_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "store.sqlite3")
    SqliteStore(path).close()
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(8)
    results: multiprocessing.Queue[str] = context.Queue()
    processes = [
        context.Process(target=_claim_in_process, args=(path, barrier, results)) for _ in range(8)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(20)
        assert process.exitcode == 0
    claims = [results.get(timeout=5) for _ in processes]
    assert claims.count("new") == 1 and claims.count("running") == 7


def _take_and_hang(path: str, taken: multiprocessing.synchronize.Event) -> None:
    store = SqliteStore(path)
    assert store.journal_take(J, 0.5) is not None
    taken.set()
    time.sleep(60)  # killed here, mid-handler


def test_sqlite_update_of_a_killed_process_is_taken_again(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    store = SqliteStore(path)
    store.journal_accept(J, "u", "payload", chat="7", order=1)
    context = multiprocessing.get_context("fork")
    taken = context.Event()
    worker = context.Process(target=_take_and_hang, args=(str(path), taken))
    worker.start()
    try:
        assert taken.wait(10)
        assert store.journal_take(J, 60) is None
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(10)
        wait_until(lambda: store.journal_take(J, 60) is not None)
        assert store.journal_take(J, 60) is None
    finally:
        if worker.is_alive():
            worker.kill()
        store.close()


def test_sqlite_store_made_before_a_fork_opens_its_own_connection(tmp_path: Path) -> None:
    """gunicorn --preload: the store is made in the master, used in each forked worker."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    assert store.claim("parent", 60) is Claim.NEW
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[str] = context.Queue()
    child = context.Process(target=lambda: results.put(store.claim("child", 60).value))
    child.start()
    child.join(10)
    assert child.exitcode == 0 and results.get(timeout=5) == "new"
    assert store.claim("child", 60) is Claim.RUNNING
    store.finish("parent", 60)
    store.close()
    assert SqliteStore(tmp_path / "store.sqlite3").claim("parent", 60) is Claim.DONE


def test_sqlite_sweeps_expired_rows_in_batches(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "store.sqlite3")
    for i in range(50):
        store.set(f"old{i:02}", "done", 0.01)
    store.set("live", "done", 60)
    time.sleep(0.05)
    cursor = ""
    for _ in range(10):
        cursor = store.sweep(cursor)
        if not cursor:
            break
    assert cursor == ""
    conn = store._conn()
    assert conn.execute("SELECT key FROM marks").fetchall() == [("live",)]
    store.close()


def test_sqlite_done_marks_ride_along_with_claims(tmp_path: Path) -> None:
    """Done marks wait for the next claim (at most MAX_CARRIED at a time) or the housekeeper."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    other = SqliteStore(tmp_path / "store.sqlite3")  # another worker
    keys = [f"u{i}" for i in range(40)]
    for key in keys:
        assert store.claim(key, 60) is Claim.NEW
    for key in keys:
        store.finish(key, 600)
    assert store.claim("u0", 60) is Claim.DONE  # this process knows at once
    assert store.claim("next", 60) is Claim.NEW
    store.finish("u1", 600)
    store.set("u1", "running", 60)  # a later write wins over a waiting done mark
    wait_until(lambda: all(other.claim(k, 60) is Claim.DONE for k in keys[2:]))
    assert other.claim("u1", 60) is Claim.RUNNING
    store.close()
    other.close()


def test_claim_counted_counts_every_claim_across_releases_and_lost_leases(store: Store) -> None:
    """The retry cap's count: one per claim that won, kept when the update is released."""
    assert store.claim_counted("u", 60, "attempts:u", 600) == (Claim.NEW, 1)
    assert store.claim_counted("u", 60, "attempts:u", 600) == (Claim.RUNNING, 0)
    store.release("u")  # the handler failed: Telegram comes back
    assert store.claim_counted("u", 0.05, "attempts:u", 600) == (Claim.NEW, 2)
    time.sleep(0.1)  # the worker died: its lease runs out
    assert store.claim_counted("u", 60, "attempts:u", 600) == (Claim.NEW, 3)
    store.finish("u", 600)
    wait_until(lambda: store.claim_counted("u", 60, "attempts:u", 600) == (Claim.DONE, 0))


def test_claim_counted_starts_again_when_the_count_expires(store: Store) -> None:
    assert store.claim_counted("u", 60, "attempts:u", 0.05) == (Claim.NEW, 1)
    store.release("u")
    time.sleep(0.1)
    assert store.claim_counted("u", 60, "attempts:u", 60) == (Claim.NEW, 1)


def test_sqlite_claim_is_one_write(tmp_path: Path) -> None:
    """Claim, count and the previous update's done mark: one statement, one commit."""
    store = SqliteStore(tmp_path / "store.sqlite3")
    conn = store._conn()
    store.claim_counted("warm-up", 60, "attempts:warm-up", 600)
    store.finish("warm-up", 600)
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    assert store.claim_counted("u", 60, "attempts:u", 600) == (Claim.NEW, 1)
    conn.set_trace_callback(None)
    assert len(statements) == 1 and statements[0].startswith("INSERT INTO marks")
    store.close()


def test_sqlite_file_of_an_older_version_gets_the_count_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "store.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE marks (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires REAL NOT NULL)"
        " WITHOUT ROWID"
    )
    old.execute("INSERT INTO marks VALUES ('handled', 'done', ?)", (time.time() + 600,))
    old.commit()
    old.close()
    store = SqliteStore(path)
    assert store.claim_counted("handled", 60, "attempts:handled", 600) == (Claim.DONE, 0)
    assert store.claim_counted("new", 60, "attempts:new", 600) == (Claim.NEW, 1)
    store.close()
    SqliteStore(path).close()  # opening it again changes nothing


def test_sqlite_log_starts_over_while_another_worker_keeps_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a steady stream of updates the checkpoint catches up (holding writers back once
    the log passes its limit), so the log is reused from its start instead of growing."""
    from flask_tgwebhook.stores import sqlite

    monkeypatch.setattr(sqlite, "WAL_LIMIT", 1024 * 1024)
    path = tmp_path / "store.sqlite3"
    writer, housekeeper = SqliteStore(path), SqliteStore(path)
    stop = threading.Event()
    written = [0]

    def write() -> None:
        while not stop.is_set() and written[0] < 20_000:
            key = f"u{written[0]}"
            writer.claim_counted(key, 60, "attempts:" + key, 600)
            writer.finish(key, 600)
            written[0] += 1
            time.sleep(0.0002)  # the rest of a request: a worker is not only writing

    thread = threading.Thread(target=write)
    thread.start()
    try:
        sizes = []
        for round_ in range(1, 21):
            wait_until(lambda: written[0] >= 100 * round_)  # noqa: B023 (used at once)
            housekeeper.checkpoint()
            sizes.append(os.path.getsize(f"{path}-wal"))
    finally:
        stop.set()
        thread.join(30)
    # Each write adds two or three 4 KiB frames: without a restart the log would pass
    # 16 MiB here; with them it stays near the limit.
    assert written[0] >= 2000
    assert max(sizes) < 4 * 1024 * 1024, sizes
    writer.close()
    housekeeper.close()
