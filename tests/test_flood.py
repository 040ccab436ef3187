"""Outgoing flood control against the emulator: overall pace, per chat, per group, 429s."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from flask import Flask

from flask_tgwebhook import Bot, TelegramWebhook
from flask_tgwebhook.errors import RetryAfter
from flask_tgwebhook.flood import FloodControl, is_message
from flask_tgwebhook.stores import DedupeStore, MemoryStore
from flask_tgwebhook.testing import FakeTelegram

from .conftest import TOKEN
from .servers import wait_until


def arrivals(telegram: FakeTelegram, method: str = "sendMessage") -> list[float]:
    return sorted(call.received_at for call in telegram.calls_to(method))


def most_in_window(times: Sequence[float], window: float) -> int:
    """The most arrivals in any half-open interval of ``window`` seconds."""
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def gaps(times: Sequence[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def paced_bot(telegram: FakeTelegram, store: DedupeStore, **rates: float) -> Bot:
    flood = FloodControl(store, **rates)  # type: ignore[arg-type]
    return Bot(TOKEN, api_url=telegram.api_url, flood_control=flood, flood_wait_max=5)


@pytest.fixture
def bots(telegram: FakeTelegram, store: MemoryStore) -> Iterator[list[Bot]]:
    """Two clients sharing one store, as two workers share it."""
    made = [paced_bot(telegram, store, per_second=20) for _ in range(2)]
    yield made
    for bot in made:
        bot.close()


def test_which_methods_are_paced() -> None:
    assert is_message("sendMessage") and is_message("sendPhoto") and is_message("copyMessage")
    assert is_message("forwardMessages") and is_message("SENDMESSAGE")
    assert not is_message("sendChatAction")
    assert not is_message("getMe") and not is_message("answerCallbackQuery")


def test_overall_rate_is_shared_by_two_clients(telegram: FakeTelegram, bots: list[Bot]) -> None:
    def send(bot: Bot, first: int) -> None:
        for chat_id in range(first, first + 15):
            bot.send_message(chat_id=chat_id, text="news")

    threads = [threading.Thread(target=send, args=(bot, n * 100)) for n, bot in enumerate(bots)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    times = arrivals(telegram)
    assert len(times) == 30
    # 20 a second: 30 messages spread over about 1.45 s, and never 21 in one second. The
    # times are arrivals at the emulator: one message late by a loaded machine's jitter may
    # shorten the spread or join the next second (unpaced, all 30 arrive within a few ms).
    assert times[-1] - times[0] >= 29 / 20 * 0.9
    assert most_in_window(times, 1.0) <= 21


def test_one_chat_gets_one_message_per_interval(telegram: FakeTelegram, store: MemoryStore) -> None:
    with paced_bot(telegram, store, per_second=100, chat_interval=0.25) as bot:
        for n in range(4):
            bot.send_message(chat_id=7, text=str(n))
        bot.send_message(chat_id=8, text="another chat is not held up")
    to_seven = sorted(
        c.received_at for c in telegram.calls_to("sendMessage") if c.params["chat_id"] == 7
    )
    assert min(gaps(to_seven)) >= 0.2  # 0.25 s apart, less a loaded machine's jitter
    [other] = [c for c in telegram.calls_to("sendMessage") if c.params["chat_id"] == 8]
    assert other.received_at - to_seven[-1] < 0.2


def test_a_group_gets_its_per_minute_share(telegram: FakeTelegram, store: MemoryStore) -> None:
    flood = FloodControl(
        store, per_second=100, chat_interval=0.01, group_per_minute=3, group_window=0.6
    )
    with Bot(TOKEN, api_url=telegram.api_url, flood_control=flood) as bot:
        for n in range(7):
            bot.send_message(chat_id=-100, text=str(n))
    times = arrivals(telegram)
    assert len(times) == 7
    assert most_in_window(times, 0.6) <= 4  # 3, and one late arrival of jitter at most
    assert times[2] - times[0] < 0.3  # the first three go at once (a burst is allowed)
    assert times[-1] - times[0] >= 1.1  # 7 messages, 3 a window: two full windows (1.2 s)


def test_a_429_is_waited_out_by_every_worker(
    telegram: FakeTelegram, bots: list[Bot], store: MemoryStore
) -> None:
    telegram.fail("sendMessage", error_code=429, parameters={"retry_after": 1})
    first, second = bots
    waiting = threading.Thread(target=first.send_message, kwargs={"chat_id": 1, "text": "again"})
    waiting.start()
    wait_until(lambda: store.get("tg:flood:pause") is not None, timeout=5, what="the 429")
    # The other worker was not told 429 itself, yet its next message waits for the pause.
    second.send_message(chat_id=2, text="paused too")
    waiting.join(10)
    failed, *rest = telegram.calls_to("sendMessage")
    retried = next(c for c in rest if c.params["chat_id"] == 1)
    other = next(c for c in rest if c.params["chat_id"] == 2)
    assert failed.params["chat_id"] == 1
    assert retried.received_at - failed.received_at >= 0.95
    assert other.received_at - failed.received_at >= 0.95


def test_a_long_429_is_raised(telegram: FakeTelegram, store: MemoryStore) -> None:
    telegram.fail("sendMessage", error_code=429, parameters={"retry_after": 3600})
    with paced_bot(telegram, store) as bot, pytest.raises(RetryAfter):
        bot.send_message(chat_id=1, text="x")
    assert float(store.get("tg:flood:pause") or 0) > time.time() + 3000  # others wait too


class BrokenStore(DedupeStore):
    def add(self, key: str, value: str, ttl: float) -> bool:
        raise ConnectionError("the store is down")

    def get(self, key: str) -> str | None:
        raise ConnectionError("the store is down")


def test_a_broken_store_sends_unpaced_and_warns_once(
    telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, "flask_tgwebhook.flood"),
        paced_bot(telegram, BrokenStore()) as bot,
    ):
        for n in range(3):
            bot.send_message(chat_id=1, text=str(n))
    assert len(telegram.calls_to("sendMessage")) == 3
    warnings = [r for r in caplog.records if "unpaced" in r.getMessage()]
    assert len(warnings) == 1
    assert "check the store" in warnings[0].getMessage()


def test_config_turns_it_on(telegram: FakeTelegram) -> None:
    app = Flask("flood")
    app.config.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=telegram.api_url,
        TELEGRAM_FLOOD_CONTROL="true",
        TELEGRAM_FLOOD_CHAT_INTERVAL="0.3",
    )
    tg = TelegramWebhook(app)
    with app.app_context():
        assert tg.bot.flood_control is not None
        assert tg.bot.flood_control.chat_interval == 0.3
        tg.bot.send_message(chat_id=3, text="a")
        tg.bot.send_message(chat_id=3, text="b")
    assert min(gaps(arrivals(telegram))) >= 0.25  # 0.3 s apart, less jitter
    off = Flask("no_flood")
    off.config.update(TELEGRAM_BOT_TOKEN=TOKEN)
    TelegramWebhook(off)
    with off.app_context():
        assert off.extensions["tgwebhook"].bot.flood_control is None  # opt-in


def test_bad_config_fails_at_init_app() -> None:
    app = Flask("bad_flood")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_FLOOD_PER_SECOND="fast")
    with pytest.raises(RuntimeError, match="TELEGRAM_FLOOD_PER_SECOND must be a positive number"):
        TelegramWebhook(app)
