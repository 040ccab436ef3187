"""What only the memory store and the base class do (tests/test_stores.py runs the rest on
every store)."""

from __future__ import annotations

from flask_tgwebhook.dedupe import Claim, DedupeStore, MemoryStore


def test_memory_is_bounded() -> None:
    store = MemoryStore(max_entries=3)
    for i in range(10):
        store.finish(str(i), 60)
    assert len(store) == 3
    assert store.get("0") is None and store.get("9") == "done"


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
