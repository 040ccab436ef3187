"""The in-memory dedupe store and the claim / finish / release protocol."""

from __future__ import annotations

import threading
import time

from flask_tgwebhook.dedupe import Claim, MemoryStore


def test_add_if_absent() -> None:
    store = MemoryStore()
    assert store.add("k", "v", 60)
    assert not store.add("k", "w", 60)
    assert store.get("k") == "v"


def test_claim_finish_release() -> None:
    store = MemoryStore()
    assert store.claim("u1", 60) is Claim.NEW
    assert store.claim("u1", 60) is Claim.RUNNING
    store.finish("u1", 60)
    assert store.claim("u1", 60) is Claim.DONE
    assert store.claim("u2", 60) is Claim.NEW
    store.release("u2")
    assert store.claim("u2", 60) is Claim.NEW


def test_marks_expire() -> None:
    store = MemoryStore()
    assert store.claim("u", 0.05) is Claim.NEW
    deadline = time.monotonic() + 5
    while store.claim("u", 0.05) is not Claim.NEW:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_memory_is_bounded() -> None:
    store = MemoryStore(max_entries=3)
    for i in range(10):
        store.finish(str(i), 60)
    assert len(store) == 3
    assert store.get("0") is None and store.get("9") == "done"


def test_one_winner_under_concurrency() -> None:
    store = MemoryStore()
    results: list[Claim] = []
    barrier = threading.Barrier(8)

    def contend() -> None:
        barrier.wait(5)
        results.append(store.claim("same", 60))

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert results.count(Claim.NEW) == 1 and results.count(Claim.RUNNING) == 7
