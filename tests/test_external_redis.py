"""Rate limits of external links shared through a real Redis, as between gunicorn workers
or machines: two apps (two processes' worth of state) count against one limit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask

from flask_tgwebhook import ExternalCall, TelegramWebhook

from .conftest import TOKEN
from .servers import RedisServer


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = RedisServer(tmp_path / "redis")
    try:
        yield server.url
    finally:
        server.stop()


def worker(redis_url: str, calls: list[int]) -> tuple[Flask, TelegramWebhook]:
    """One worker's app: its own extension object, limiter and memory, the shared Redis."""
    tg = TelegramWebhook()

    @tg.external("paid")
    def paid(call: ExternalCall) -> str:
        calls.append(call.user_id or 0)
        return "ok"

    app = Flask("worker")
    app.config.update(
        SECRET_KEY="shared-secret-key",
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_WEBHOOK_URL="https://bot.example.com/telegram/webhook",
        TELEGRAM_EXTERNAL_RATE_LIMIT="3/minute",
        TELEGRAM_RATELIMIT_STORAGE_URI=redis_url,
    )
    tg.init_app(app)
    return app, tg


def test_workers_share_the_limit_through_redis(redis_url: str) -> None:
    calls: list[int] = []
    (first, tg), (second, _) = worker(redis_url, calls), worker(redis_url, calls)
    with first.app_context():
        path = urlsplit(tg.external_url("paid", user_id=7)).path
    caller = {"REMOTE_ADDR": "198.51.100.7"}
    answers = [
        app.test_client().post(path, data=b"{}", environ_base=caller).status_code
        for app in (first, second, first, second)
    ]
    assert answers == [200, 200, 200, 429]
    assert calls == [7, 7, 7]


def test_a_memory_limit_is_per_worker(redis_url: str) -> None:
    # The contrast that shows the Redis test above measures sharing: without the shared
    # storage each worker counts alone, and the fourth call goes through.
    calls: list[int] = []
    apps = [worker("memory://", calls) for _ in range(2)]
    with apps[0][0].app_context():
        path = urlsplit(apps[0][1].external_url("paid", user_id=7)).path
    caller = {"REMOTE_ADDR": "198.51.100.7"}
    answers = [
        apps[i % 2][0].test_client().post(path, data=b"{}", environ_base=caller).status_code
        for i in range(4)
    ]
    assert answers == [200, 200, 200, 200]
