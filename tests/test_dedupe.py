"""The in-memory dedupe store and the claim / finish / release protocol."""

from __future__ import annotations

import threading
import time

from flask_tgwebhook.dedupe import Claim, DedupeStore, MemoryStore


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


def test_incr_counts_and_expires() -> None:
    store = MemoryStore()
    assert [store.incr("n", 60) for _ in range(3)] == [1, 2, 3]
    assert store.incr("short", 0.05) == 1
    deadline = time.monotonic() + 5
    while store.get("short") is not None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert store.incr("short", 60) == 1


class DictStore(DedupeStore):
    """A store with only the four primitives: incr comes from the base class."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def add(self, key: str, value: str, ttl: float) -> bool:
        if key in self.data:
            return False
        self.data[key] = value
        return True

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def set(self, key: str, value: str, ttl: float) -> None:
        self.data[key] = value

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


def test_default_incr_on_the_primitives() -> None:
    store = DictStore()
    assert [store.incr("n", 60) for _ in range(3)] == [1, 2, 3]
    assert store.data["n"] == "3"
    assert store.claim("u", 60) is Claim.NEW and store.claim("u", 60) is Claim.RUNNING
