"""Which store an app gets: TELEGRAM_STORE_URL, its alias, the default and TESTING."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from flask_tgwebhook import TelegramWebhook, Update
from flask_tgwebhook.stores import MemoryStore, SqliteStore, Store, open_store
from flask_tgwebhook.stores.redis import RedisStore
from flask_tgwebhook.testing.updates import make_update

from .conftest import SECRET, TOKEN

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


@pytest.fixture(autouse=True)
def no_store_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_STORE_URL", raising=False)  # conftest's memory://
    monkeypatch.delenv("TELEGRAM_DEDUPE_URL", raising=False)


def make_app(instance: Path, **config: object) -> Flask:
    app = Flask("store_config_app", instance_path=str(instance))
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, **config)
    return app


def store_of(app: Flask) -> Store:
    TelegramWebhook(app)
    store: Store = app.extensions["tgwebhook"].store
    return store


def test_default_is_an_sqlite_file_in_the_instance_folder(tmp_path: Path) -> None:
    store = store_of(make_app(tmp_path / "instance"))
    assert isinstance(store, SqliteStore)
    assert Path(store.path) == tmp_path / "instance" / "tgwebhook.sqlite3"
    assert Path(store.path).is_file()  # made at init_app, so a bad folder fails there
    store.close()


def test_two_apps_with_the_default_share_it(tmp_path: Path) -> None:
    """Two app objects stand for two workers: a copy reaching the second one is a duplicate."""
    runs: list[str] = []
    apps = []
    for name in ("one", "two"):
        tg = TelegramWebhook()

        @tg.message
        def record(update: Update, name: str = name) -> None:
            runs.append(name)

        app = make_app(tmp_path)
        tg.init_app(app)
        apps.append(app)
    update = make_update(text="once")
    statuses = [
        app.test_client().post("/telegram/webhook", json=update, headers=HEADERS).status_code
        for app in apps
    ]
    assert runs == ["one"]
    assert statuses[0] == 200 and statuses[1] in (200, 503)  # 503 until done is written
    for app in apps:
        app.extensions["tgwebhook"].store.close()


def test_testing_apps_keep_a_memory_store_of_their_own(tmp_path: Path) -> None:
    stores = [store_of(make_app(tmp_path, TESTING=True)) for _ in range(2)]
    assert all(isinstance(s, MemoryStore) for s in stores)
    assert stores[0] is not stores[1]
    assert not (tmp_path / "tgwebhook.sqlite3").exists()


def test_store_url_schemes(tmp_path: Path) -> None:
    relative = store_of(make_app(tmp_path, TELEGRAM_STORE_URL="sqlite:///sub/bot.sqlite3"))
    assert isinstance(relative, SqliteStore)
    assert Path(relative.path) == tmp_path / "sub" / "bot.sqlite3"
    absolute = tmp_path / "elsewhere" / "bot.sqlite3"
    store = store_of(make_app(tmp_path, TELEGRAM_STORE_URL=f"sqlite:///{absolute}"))
    assert isinstance(store, SqliteStore) and Path(store.path) == absolute
    assert isinstance(store_of(make_app(tmp_path, TELEGRAM_STORE_URL="memory://")), MemoryStore)
    redis = store_of(make_app(tmp_path, TELEGRAM_STORE_URL="redis://127.0.0.1:1/0"))
    assert isinstance(redis, RedisStore)
    # A memory store, even with TESTING, when the app asks for it by name.
    testing = make_app(tmp_path, TESTING=True, TELEGRAM_STORE_URL=f"sqlite:///{absolute}")
    assert isinstance(store_of(testing), SqliteStore)
    for made in (relative, store):
        made.close()


def test_dedupe_url_is_an_alias(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alias = store_of(make_app(tmp_path, TELEGRAM_DEDUPE_URL="sqlite:///old.sqlite3"))
    assert isinstance(alias, SqliteStore) and alias.path.endswith("old.sqlite3")
    alias.close()
    # The app's config names the store under the old key: the new key in the environment
    # does not overrule it (config before environment, as for every key).
    monkeypatch.setenv("TELEGRAM_STORE_URL", "memory://")
    store = store_of(make_app(tmp_path, TELEGRAM_DEDUPE_URL="redis://127.0.0.1:1/0"))
    assert isinstance(store, RedisStore)
    assert isinstance(store_of(make_app(tmp_path)), MemoryStore)  # the environment's
    monkeypatch.setenv("TELEGRAM_DEDUPE_URL", "sqlite:///env.sqlite3")
    new_key = make_app(tmp_path, TELEGRAM_STORE_URL="memory://")
    assert isinstance(store_of(new_key), MemoryStore)


def test_unwritable_instance_folder_fails_at_init_with_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    app = make_app(blocker / "instance")  # can't be made, even by root
    with pytest.raises(RuntimeError) as info:
        TelegramWebhook(app)
    message = str(info.value)
    assert str(blocker / "instance" / "tgwebhook.sqlite3") in message
    assert "writable" in message and "TELEGRAM_STORE_URL" in message
    assert "memory://" in message


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "mysql://db/x", "localhost:6379"])
def test_bad_store_urls_say_the_fix(tmp_path: Path, url: str) -> None:
    with pytest.raises(RuntimeError, match=re.escape("sqlite:///")):
        TelegramWebhook(make_app(tmp_path, TELEGRAM_STORE_URL=url))


def test_open_store_directly(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    store = open_store(None, app)
    assert isinstance(store, SqliteStore)
    store.close()
    app.testing = True
    assert isinstance(open_store(None, app), MemoryStore)
