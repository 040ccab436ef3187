"""The Redis dedupe store against a real redis-server on 127.0.0.1."""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask

from flask_tgwebhook import TelegramWebhook, Update
from flask_tgwebhook.dedupe import Claim
from flask_tgwebhook.dedupe_redis import RedisStore
from flask_tgwebhook.testing.updates import make_update

from .conftest import SECRET, TOKEN
from .servers import RedisServer, free_port

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
PASSWORD = "hunter2-redis-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def store(server: RedisServer) -> Iterator[RedisStore]:
    store = RedisStore.from_url(server.url)
    store.client.flushdb()
    yield store
    store.client.close()


def bot_app(tg: TelegramWebhook, url: str, name: str = "redis_bot") -> Flask:
    app = Flask(name)
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_DEDUPE_URL=url)
    tg.init_app(app)
    return app


def test_add_is_set_nx_with_an_expiry(store: RedisStore) -> None:
    assert store.add("k", "v", 60)
    assert not store.add("k", "w", 60)
    assert store.get("k") == "v"
    assert 55 <= store.client.ttl("k") <= 60
    assert store.add("short", "v", 0.5)
    assert 0 < store.client.pttl("short") <= 500


def test_claim_finish_release(store: RedisStore) -> None:
    assert store.claim("u1", 60) is Claim.NEW
    assert store.claim("u1", 60) is Claim.RUNNING
    store.finish("u1", 600)
    assert store.claim("u1", 60) is Claim.DONE
    assert store.client.ttl("u1") > 60  # the done mark outlives the lease
    assert store.claim("u2", 60) is Claim.NEW
    store.release("u2")
    assert store.claim("u2", 60) is Claim.NEW


def test_lease_runs_out(store: RedisStore) -> None:
    assert store.claim("u", 0.1) is Claim.NEW
    deadline = time.monotonic() + 5
    while store.claim("u", 0.1) is not Claim.NEW:
        assert time.monotonic() < deadline, "the lease never ran out"
        time.sleep(0.02)


def test_one_winner_among_clients(server: RedisServer, store: RedisStore) -> None:
    # Eight clients with their own connections, like eight workers on several machines.
    stores = [RedisStore.from_url(server.url) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    results: list[Claim] = []

    def contend(other: RedisStore) -> None:
        barrier.wait(5)
        results.append(other.claim("same", 60))

    threads = [threading.Thread(target=contend, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results.count(Claim.NEW) == 1
    assert results.count(Claim.RUNNING) == 7


def test_incr_is_atomic_and_expires(server: RedisServer, store: RedisStore) -> None:
    stores = [RedisStore.from_url(server.url) for _ in range(4)]

    def count(other: RedisStore) -> None:
        for _ in range(50):
            other.incr("failures", 60)

    threads = [threading.Thread(target=count, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert store.incr("failures", 60) == 201
    assert 0 < store.client.pttl("failures") <= 60_000


def test_client_fails_fast(store: RedisStore) -> None:
    options = store.client.connection_pool.connection_kwargs
    assert options["socket_timeout"] == 1.0
    assert options["socket_connect_timeout"] == 1.0
    custom = RedisStore.from_url("redis://127.0.0.1:1/0?socket_timeout=3")
    assert custom.client.connection_pool.connection_kwargs["socket_timeout"] == 3.0


def test_bytes_from_a_client_without_decoding(server: RedisServer) -> None:
    store = RedisStore(redis.Redis(host="127.0.0.1", port=server.port))
    store.set("b", "done", 60)
    assert store.get("b") == "done"
    store.client.close()


def test_missing_redis_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # what "not installed" looks like
    app = Flask("no_redis")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_DEDUPE_URL="redis://127.0.0.1:1/0")
    with pytest.raises(RuntimeError, match=r"pip install flask_tgwebhook\[redis\]"):
        TelegramWebhook(app)


def test_url_config_makes_a_redis_store_without_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("init_app opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    app = bot_app(TelegramWebhook(), f"redis://:{PASSWORD}@127.0.0.1:{free_port()}/0")
    state = app.extensions["tgwebhook"]
    assert isinstance(state.store, RedisStore)
    assert PASSWORD not in repr(state.store) + repr(state.settings)


def test_two_apps_sharing_redis_run_an_update_once(server: RedisServer, store: RedisStore) -> None:
    # Two instances of one bot (two machines): Telegram's redelivery may reach either.
    runs: list[str] = []
    apps = []
    for name in ("blue", "green"):
        tg = TelegramWebhook()

        @tg.message
        def record(update: Update, name: str = name) -> None:
            runs.append(name)

        apps.append(bot_app(tg, server.url, name))
    update = make_update(text="once")
    for app in [*apps, *apps]:
        response = app.test_client().post("/telegram/webhook", json=update, headers=HEADERS)
        assert response.status_code == 200
    assert runs == ["blue"]


def test_outage_fails_open_and_recovers(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """redis-server stopped: updates are handled anyway, logged without the password."""
    caplog.set_level(logging.DEBUG)
    server = RedisServer(tmp_path / "redis", password=PASSWORD)
    tg = TelegramWebhook()
    runs: list[int] = []

    @tg.message
    def record(update: Update) -> None:
        runs.append(update.update_id)

    app = bot_app(tg, server.url)
    client = app.test_client()
    first = make_update(text="before")
    try:
        assert client.post("/telegram/webhook", json=first, headers=HEADERS).status_code == 200
        assert client.post("/telegram/webhook", json=first, headers=HEADERS).status_code == 200
        assert runs == [first["update_id"]]

        server.stop()
        during = make_update(text="during")
        response = client.post("/telegram/webhook", json=during, headers=HEADERS)
        assert response.status_code == 200
        assert runs[-1] == during["update_id"]
        warnings = [r for r in caplog.records if "dedupe store failed" in r.getMessage()]
        assert warnings and all(r.levelno == logging.WARNING for r in warnings)
        errors = [r.exc_info[1] for r in warnings if r.exc_info]
        assert errors and all(isinstance(e, redis.ConnectionError) for e in errors)

        server = server.restart()  # empty, as after a crash without persistence
        after = make_update(text="after")
        for _ in range(2):
            assert client.post("/telegram/webhook", json=after, headers=HEADERS).status_code == 200
        assert runs == [first["update_id"], during["update_id"], after["update_id"]]
    finally:
        server.stop()
    logged = "\n".join(
        r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
        for r in caplog.records
    )
    assert PASSWORD not in logged


def test_retry_cap_counts_across_apps(server: RedisServer, store: RedisStore) -> None:
    """The failures of an update are counted in Redis, whichever instance ran it."""
    runs: list[str] = []
    apps = []
    for name in ("blue", "green"):
        tg = TelegramWebhook()

        @tg.message
        def poison(update: Update, name: str = name) -> None:
            runs.append(name)
            raise RuntimeError("never works")

        app = Flask(name)
        app.config.update(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_DEDUPE_URL=server.url,
            TELEGRAM_ON_ERROR="retry",
            TELEGRAM_MAX_RETRIES=2,
        )
        tg.init_app(app)
        apps.append(app)
    update = make_update(text="poison")
    statuses = [
        app.test_client().post("/telegram/webhook", json=update, headers=HEADERS).status_code
        for app in [*apps, *apps]
    ]
    assert statuses == [500, 500, 200, 200]
    assert runs == ["blue", "green", "blue"]
