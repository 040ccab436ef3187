"""Soak: thousands of updates through a real gunicorn, with faults, fed by the emulator.

The bot (tests/apps/soak_app.py) appends each update it handles to a record file. Faults are
injected on the way: handler exceptions that pass (the retry policy redelivers), a poison
update (the retry cap gives up), workers SIGKILLed mid-handler and after the done mark, a
HUP reload, and the emulator's own retries. Whatever happens, the record must hold every
update exactly once. Everything runs on 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import json
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from flask_tgwebhook.config import derive_secret
from flask_tgwebhook.testing import FakeTelegram
from flask_tgwebhook.testing.updates import make_update

from .servers import Gunicorn, Nginx, RedisServer, wait_until

pytestmark = pytest.mark.slow

TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"
SECRET = derive_secret(TOKEN)
APPS = Path(__file__).parent / "apps"
PATH = "/telegram/webhook"
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
CHATS = 40
MAX_RETRIES = 3  # soak_app's TELEGRAM_MAX_RETRIES
#: Seconds the whole delivery of one soak may take before the test fails.
SOAK_TIMEOUT = 90.0


@dataclass
class Plan:
    """The updates of one soak and the faults among them."""

    updates: list[dict[str, Any]]
    faults: dict[str, list[int]]

    @property
    def must_be_handled(self) -> list[int]:
        poison = set(self.faults.get("poison", []))
        return sorted(u["update_id"] for u in self.updates if u["update_id"] not in poison)


def make_plan(count: int, first_id: int, faults: dict[str, tuple[int, int]]) -> Plan:
    """``count`` message updates over CHATS chats; ``faults`` maps a fault to (every, offset)."""
    updates: list[dict[str, Any]] = []
    chosen: dict[str, list[int]] = {name: [] for name in faults}
    for index in range(count):
        text = f"ok {index}"
        for name, (every, offset) in faults.items():
            if index % every == offset:
                text = name
        update_id = first_id + index
        if text in chosen:
            chosen[text].append(update_id)
        updates.append(make_update(text=text, chat_id=1000 + index % CHATS, update_id=update_id))
    return Plan(updates, chosen)


def read_record(soak_dir: Path, name: str = "record.txt") -> list[tuple[int, int]]:
    path = soak_dir / name
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text().splitlines()]
    return [(int(fields[0]), int(fields[1])) for fields in lines]


def soak_env(soak_dir: Path, **extra: str) -> dict[str, str]:
    return {"SOAK_DIR": str(soak_dir), "TELEGRAM_BOT_TOKEN": TOKEN, **extra}


@pytest.fixture
def soak_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "soak"
    directory.mkdir()
    return directory


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    # Telegram retries for a day; here until delivered, the test's own timeout bounding it.
    # Telegram's clock at 0.2 %: its connection limits (10 new ones per 0.5 s, and gunicorn's
    # sync workers close each connection) and back-off would make the soak last minutes.
    with FakeTelegram(
        token=TOKEN,
        time_scale=0.002,
        webhook_timeout=30,
        allow_loopback=True,
        allow_http=True,
    ) as telegram:
        yield telegram


def set_webhook(telegram: FakeTelegram, url: str) -> None:
    answer = requests.post(
        f"{telegram.api_url}/bot{TOKEN}/setWebhook",
        data={"url": url + PATH, "secret_token": SECRET, "max_connections": 8},
        timeout=10,
    ).json()
    assert answer["ok"], answer


def run_soak(
    telegram: FakeTelegram, plan: Plan, soak_dir: Path, reload: list[Gunicorn]
) -> list[Any]:
    """Deliver the plan; HUP each of ``reload`` a third of the way in; wait for every update."""
    deliveries = telegram.deliver_many(plan.updates)
    wait_until(
        lambda: len(read_record(soak_dir)) >= len(plan.updates) // 3,
        timeout=SOAK_TIMEOUT,
        what="a third of the updates to be handled",
    )
    for server in reload:
        server.reload()
    telegram.wait_idle(SOAK_TIMEOUT)
    return deliveries


def check_exactly_once(plan: Plan, soak_dir: Path, deliveries: list[Any]) -> None:
    assert [d.state for d in deliveries if d.state != "delivered"] == []  # none lost
    handled = Counter(uid for uid, _ in read_record(soak_dir))
    twice = sorted(uid for uid, n in handled.items() if n > 1)
    assert twice == [], f"handled more than once: {twice[:20]}"
    assert sorted(handled) == plan.must_be_handled  # every update, and nothing else
    # The faults really happened and were retried through.
    marks = {p.name for p in (soak_dir / "marks").iterdir()}
    for uid in plan.faults.get("kill", []):
        assert f"kill-{uid}" in marks
    for uid in plan.faults.get("fail", []):
        assert {f"fail1-{uid}", f"fail2-{uid}"} <= marks
    retried = {d.update_id for d in deliveries if len(d.attempts) > 1}
    assert set(plan.faults.get("kill", [])) | set(plan.faults.get("fail", [])) <= retried


def test_soak_one_gunicorn_memory_store(telegram: FakeTelegram, soak_dir: Path) -> None:
    """2000 updates, 2 sync workers, the default in-memory store: faults before the effect."""
    plan = make_plan(
        2000,
        first_id=10_000,
        faults={"fail": (97, 11), "kill": (331, 40), "slow": (173, 3)},
    )
    server = Gunicorn(
        "soak_app:app",
        chdir=APPS,
        log_dir=soak_dir,
        workers=2,
        env=soak_env(soak_dir, SOAK_SLOW="0.3"),
        args=["--graceful-timeout", "20"],
    )
    try:
        set_webhook(telegram, server.url)
        first_workers = set(server.worker_pids())
        deliveries = run_soak(telegram, plan, soak_dir, reload=[server])
        check_exactly_once(plan, soak_dir, deliveries)
        pids = {pid for _, pid in read_record(soak_dir)}
        assert pids - first_workers, "the HUP should have brought new workers"
        assert server.log().count("SIGKILL") >= len(plan.faults["kill"])
    finally:
        server.stop()


def test_soak_two_gunicorns_share_a_redis_store(
    telegram: FakeTelegram, soak_dir: Path, tmp_path: Path
) -> None:
    """3000 updates through nginx to two gunicorns (2 workers each) sharing one redis-server.

    On top of the first soak: workers killed after the update was marked done (only a shared
    store keeps the redelivery, which lands on any worker, from running it again), poison
    updates, leases left by killed workers (503 + Retry-After until they run out), and the
    allowlist and trusted proxy of a production deploy.
    """
    plan = make_plan(
        3000,
        first_id=50_000,
        faults={
            "fail": (97, 11),
            "kill": (389, 40),
            "kill-after": (367, 70),
            "poison": (1201, 500),
            "slow": (173, 3),
        },
    )
    redis = RedisServer(tmp_path / "redis")
    servers: list[Gunicorn] = []
    nginx: Nginx | None = None
    try:
        for name in ("blue", "green"):
            env = soak_env(
                soak_dir,
                TELEGRAM_DEDUPE_URL=redis.url,
                SOAK_TELEGRAM_TRUSTED_PROXIES="1",
                SOAK_TELEGRAM_ALLOWED_NETWORKS='"127.0.0.1/32"',
                SOAK_INSTANCE=name,
            )
            servers.append(
                Gunicorn(
                    "soak_app:app",
                    chdir=APPS,
                    log_dir=soak_dir,
                    workers=2,
                    env=env,
                    args=["--graceful-timeout", "20"],
                    name=name,
                )
            )
        nginx = Nginx([s.port for s in servers], tmp_path / "nginx")
        set_webhook(telegram, nginx.url)
        deliveries = run_soak(telegram, plan, soak_dir, reload=servers[:1])
        check_exactly_once(plan, soak_dir, deliveries)
        marks = {p.name for p in (soak_dir / "marks").iterdir()}
        for uid in plan.faults["kill-after"]:
            assert f"kill-after-{uid}" in marks
        # The poison updates ran exactly 1 + TELEGRAM_MAX_RETRIES times, then were dropped.
        poison = Counter(int(line) for line in (soak_dir / "poison.txt").read_text().split())
        assert poison == {uid: 1 + MAX_RETRIES for uid in plan.faults["poison"]}
        # Both instances served, each a good share.
        lines = (soak_dir / "record.txt").read_text().splitlines()
        by_instance = Counter(line.split()[2] for line in lines)
        assert set(by_instance) == {"blue", "green"}
        assert min(by_instance.values()) > len(lines) // 4
    finally:
        if nginx is not None:
            nginx.stop()
        for server in servers:
            server.stop()
        redis.stop()


# -- graceful shutdown ---------------------------------------------------------------------


def post_in_background(url: str, updates: list[dict[str, Any]]) -> tuple[list[int], list[Any]]:
    """POST each update from its own thread; returns (statuses, threads)."""
    statuses: list[int] = []

    def post(update: dict[str, Any]) -> None:
        response = requests.post(url + PATH, json=update, headers=HEADERS, timeout=30)
        statuses.append(response.status_code)

    threads = [threading.Thread(target=post, args=(u,)) for u in updates]
    for thread in threads:
        thread.start()
    return statuses, threads


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_in_flight_updates_finish_on_term_and_hup(soak_dir: Path, signum: int) -> None:
    """Sync workers finish the request they are in before they exit (graceful_timeout)."""
    server = Gunicorn(
        "soak_app:app",
        chdir=APPS,
        log_dir=soak_dir,
        workers=2,
        env=soak_env(soak_dir, SOAK_SLOW="1.5"),
        args=["--graceful-timeout", "20"],
    )
    try:
        old_workers = set(server.worker_pids())
        slow = [make_update(text="slow", update_id=700 + n, chat_id=700 + n) for n in range(2)]
        statuses, threads = post_in_background(server.url, slow)
        wait_until(
            lambda: len(read_record(soak_dir, "started.txt")) == 2,
            timeout=20,
            what="both slow handlers to start",
        )
        server.signal(signum)
        for thread in threads:
            thread.join(30)
        assert statuses == [200, 200]
        assert sorted(uid for uid, _ in read_record(soak_dir)) == [700, 701]
        if signum == signal.SIGTERM:
            assert server.process.wait(30) == 0
        else:
            # New workers serve the next update; the old ones are gone.
            wait_until(
                lambda: not old_workers & set(server.worker_pids()),
                timeout=20,
                what="the old workers to exit",
            )
            after = make_update(text="after", update_id=702)
            response = requests.post(server.url + PATH, json=after, headers=HEADERS, timeout=30)
            assert response.status_code == 200
            assert read_record(soak_dir)[-1][1] not in old_workers
    finally:
        server.stop()


def test_update_cut_off_by_sigkill_is_handled_after_the_lease(
    soak_dir: Path, tmp_path: Path
) -> None:
    """A worker killed mid-handler leaves its lease in Redis: copies get 503 until it ends."""
    redis = RedisServer(tmp_path / "redis")
    server = Gunicorn(
        "soak_app:app",
        chdir=APPS,
        log_dir=soak_dir,
        workers=2,
        env=soak_env(soak_dir, TELEGRAM_DEDUPE_URL=redis.url, SOAK_TELEGRAM_PROCESSING_TIMEOUT="2"),
    )
    try:
        update = make_update(text="kill", update_id=900)
        with pytest.raises(requests.ConnectionError):
            requests.post(server.url + PATH, json=update, headers=HEADERS, timeout=30)
        retry = requests.post(server.url + PATH, json=update, headers=HEADERS, timeout=30)
        assert retry.status_code == 503
        assert retry.headers["Retry-After"] == "1"
        statuses: list[int] = []

        def retried_until_ok() -> bool:
            response = requests.post(server.url + PATH, json=update, headers=HEADERS, timeout=30)
            statuses.append(response.status_code)
            return response.status_code == 200

        wait_until(retried_until_ok, timeout=15, what="the lease to run out", interval=0.25)
        assert [uid for uid, _ in read_record(soak_dir)] == [900]
        again = requests.post(server.url + PATH, json=update, headers=HEADERS, timeout=30)
        assert again.status_code == 200
        assert [uid for uid, _ in read_record(soak_dir)] == [900]  # done: not run again
    finally:
        server.stop()
        redis.stop()


# -- secrets -------------------------------------------------------------------------------

PASSWORD = "hunter2-redis-password"


def test_no_secret_in_any_log_line_or_answer(soak_dir: Path, tmp_path: Path) -> None:
    """Everything logged at DEBUG by gunicorn, the app, requests, urllib3 and redis-py, through
    failures of the handler, the Bot API and the store: no token, secret token or password."""
    redis = RedisServer(tmp_path / "redis", password=PASSWORD)
    api = FakeTelegram(token=TOKEN, allow_loopback=True, allow_http=True).start()
    server = Gunicorn(
        "soak_app:app",
        chdir=APPS,
        log_dir=soak_dir,
        workers=2,
        env=soak_env(
            soak_dir,
            TELEGRAM_DEDUPE_URL=redis.url,
            SOAK_LOG_LEVEL="DEBUG",
            SOAK_TELEGRAM_API_URL=api.api_url,
        ),
        args=["--log-level", "debug"],
    )
    answers: list[requests.Response] = []

    def post(
        text: str,
        *,
        secret: str = SECRET,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret, "Content-Type": content_type}
        data = body if body is not None else json.dumps(make_update(text=text)).encode()
        response = requests.post(server.url + PATH, data=data, headers=headers, timeout=30)
        answers.append(response)
        return response.status_code

    try:
        assert post("ok") == 200
        assert post("call") == 200
        api.fail("sendMessage", error_code=403)
        assert post("call") == 500  # the Bot API error, logged with its traceback
        assert [post("poison") for _ in range(2)] == [500, 500]
        assert post("ok", secret="wrong-secret") == 403
        assert post("ok", body=b"{not json") == 400
        assert post("ok", content_type="text/plain") == 415
        api.stop()
        assert post("call") == 500  # the Bot API unreachable: requests' error names the URL
        redis.stop()
        assert post("ok") == 200  # the store down: fails open, logged with tracebacks
    finally:
        server.stop()
        api.stop()
        redis.stop()
    log = server.log()
    # The paths above really were logged, at every level...
    for expected in ["DEBUG", "raised", "Refused a webhook request", "dedupe store failed"]:
        assert expected in log
    assert "Traceback" in log
    # ...and nothing secret was.
    for text in [log, *(r.text + str(r.headers) for r in answers)]:
        assert TOKEN.split(":", 1)[1] not in text
        assert SECRET not in text
        assert PASSWORD not in text
