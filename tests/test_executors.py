"""Background executors and albums under real gunicorn workers, a real redis-server and a real
Celery worker: answered at once, each chat in order and one at a time, exactly once when a
worker dies after answering, poison updates capped, albums gathered across workers."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flask_tgwebhook.testing.updates import make_update

from .conftest import SECRET, TOKEN
from .servers import HOST, Gunicorn, RedisServer, wait_until

APPS = Path(__file__).parent / "apps"


def serve(directory: Path, env: dict[str, str], workers: int = 2) -> Gunicorn:
    return Gunicorn(
        "executor_app:app",
        chdir=APPS,
        log_dir=directory,
        workers=workers,
        env={
            "EXEC_APP_DIR": str(directory),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_STORE_URL": "",  # the default: SQLite in the instance folder
            "TELEGRAM_PROCESSING_TIMEOUT": "2",
            **env,
        },
    )


def warm_up(server: Gunicorn) -> None:
    """Have every worker load the app (a worker imports it after it is counted as booted):
    a few unhandled updates at once, so each worker takes one."""
    threads = [
        threading.Thread(target=post, args=(server.port, make_update("poll"))) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


def post(port: int, update: dict[str, Any]) -> tuple[int, float]:
    """POST an update; its status and how long the answer took."""
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    started = time.monotonic()
    try:
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
        connection.request("POST", "/telegram/webhook", json.dumps(update), headers)
        status = connection.getresponse().status
    finally:
        connection.close()
    return status, time.monotonic() - started


def records(directory: Path, event: str) -> list[dict[str, Any]]:
    path = directory / "record.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [r for r in map(json.loads, lines) if r["event"] == event]


def message(text: str, update_id: int, chat_id: int = 1) -> dict[str, Any]:
    return make_update("message", text=text, update_id=update_id, chat_id=chat_id)


class Deployment:
    """gunicorn with a background executor, and the Celery worker when there is one."""

    def __init__(self, server: Gunicorn, directory: Path, celery_env: dict[str, str] | None):
        self.server, self.directory, self.celery_env = server, directory, celery_env
        self.worker = CeleryWorker(directory, celery_env) if celery_env is not None else None

    def revive(self) -> None:
        """What a supervisor does: a Celery worker that died is started again."""
        if self.worker is not None and self.celery_env is not None:
            self.worker.process.wait(30)
            self.worker = CeleryWorker(self.directory, self.celery_env)

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.server.stop()


@pytest.fixture(params=["thread", "thread-redis-store", "celery"])
def executor(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    """gunicorn (2 workers) with the thread executor on the default SQLite store or on a real
    redis-server, or with Celery (a real Celery worker process, Redis as its broker)."""
    if request.param == "thread":
        deployment = Deployment(serve(tmp_path, {"TELEGRAM_EXECUTOR": "thread"}), tmp_path, None)
        yield deployment
        deployment.stop()
        return
    redis = RedisServer(tmp_path / "redis")
    url = f"redis://{HOST}:{redis.port}/0"
    try:
        if request.param == "celery":
            env = {"CELERY_BROKER_URL": url, "TELEGRAM_EXECUTOR": "celery"}
            deployment = Deployment(serve(tmp_path, env), tmp_path, env)
        else:
            env = {"TELEGRAM_EXECUTOR": "thread", "TELEGRAM_STORE_URL": url}
            deployment = Deployment(serve(tmp_path, env), tmp_path, None)
        yield deployment
        deployment.stop()
    finally:
        redis.stop()


class CeleryWorker:
    """``celery worker`` for executor_app, with 4 threads, stopped by its pid."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.log = directory / "celery.log"
        full_env = {
            **os.environ,
            "EXEC_APP_DIR": str(directory),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_STORE_URL": "",
            "TELEGRAM_PROCESSING_TIMEOUT": "2",
            **env,
        }
        command = [
            str(Path(sys.executable).with_name("celery")),
            "--app", "executor_app:celery_app",
            "worker", "--pool", "threads", "--concurrency", "4", "--loglevel", "INFO",
            "--without-heartbeat", "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        with self.log.open("w") as out:
            self.process = subprocess.Popen(
                command, cwd=APPS, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        wait_until(
            lambda: "ready" in self.log.read_text() or self.process.poll() is not None,
            timeout=60,
            what="the Celery worker",
        )
        assert self.process.poll() is None, self.log.read_text()[-3000:]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@pytest.mark.slow
def test_a_slow_handler_is_answered_at_once_and_runs_once(
    executor: Deployment,
) -> None:
    server, directory = executor.server, executor.directory
    warm_up(server)
    update = message("slow 2.5", update_id=1)
    status, took = post(server.port, update)
    assert status == 200 and took < 1.0
    assert post(server.port, update)[0] == 200  # Telegram's redelivery: not run twice
    wait_until(lambda: bool(records(directory, "done")), timeout=20, what="the handler")
    assert post(server.port, update)[0] == 200  # after it is done: still once
    time.sleep(0.5)  # give a second run (there must be none) the chance to start
    assert len(records(directory, "start")) == 1


@pytest.mark.slow
def test_each_chat_runs_in_order_one_at_a_time_while_chats_overlap(
    executor: Deployment,
) -> None:
    server, directory = executor.server, executor.directory
    chats = (101, 102, 103)

    def send_chat(chat: int) -> None:  # Telegram sends one chat's updates in order
        for n in range(5):
            update = message("slow 0.2", update_id=chat * 100 + n, chat_id=chat)
            assert post(server.port, update)[0] == 200

    threads = [threading.Thread(target=send_chat, args=(chat,)) for chat in chats]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    wait_until(lambda: len(records(directory, "done")) == 15, timeout=60, what="15 updates")
    starts = {r["update_id"]: r["at"] for r in records(directory, "start")}
    ends = {r["update_id"]: r["at"] for r in records(directory, "done")}
    for chat in chats:
        ids = [chat * 100 + n for n in range(5)]
        ran = sorted(ids, key=lambda i: starts[i])
        assert ran == ids, f"chat {chat} ran out of order: {ran}"
        for earlier, later in itertools.pairwise(ids):
            assert ends[earlier] <= starts[later], f"chat {chat}: {later} overlapped {earlier}"
    overlapping = any(
        starts[a] < ends[b] and starts[b] < ends[a]
        for a in starts
        for b in starts
        if a // 100 != b // 100
    )
    assert overlapping, "different chats never ran at the same time"


@pytest.mark.slow
def test_a_worker_killed_after_answering_loses_nothing(executor: Deployment) -> None:
    server, directory = executor.server, executor.directory
    assert post(server.port, message("kill-once", update_id=7))[0] == 200
    executor.revive()
    wait_until(lambda: bool(records(directory, "done")), timeout=30, what="the update run again")
    time.sleep(1.0)
    assert len(records(directory, "done")) == 1
    assert len(records(directory, "start")) == 2  # the killed run and the one that finished


@pytest.mark.slow
def test_a_poison_update_that_kills_its_worker_stops_after_the_cap(tmp_path: Path) -> None:
    server = serve(tmp_path, {"TELEGRAM_EXECUTOR": "thread", "TELEGRAM_MAX_RETRIES": "1"})
    try:
        assert post(server.port, message("kill", update_id=9))[0] == 200
        wait_until(
            lambda: "dropping it (TELEGRAM_MAX_RETRIES = 1)" in server.log(),
            timeout=30,
            what="the poison update dropped",
        )
        time.sleep(3.0)  # a lease and several sweeps: no further attempt
        assert len(records(tmp_path, "start")) == 2  # max_retries + 1 attempts
        assert records(tmp_path, "done") == []
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("executor_kind", ["inline", "thread"])
def test_an_album_posted_to_two_workers_reaches_its_handler_once(
    tmp_path: Path, executor_kind: str
) -> None:
    env = {"TELEGRAM_EXECUTOR": executor_kind, "TELEGRAM_MEDIA_GROUP_WAIT": "0.5"}
    server = serve(tmp_path, env)
    try:
        photo = [{"file_id": "AgAC", "file_unique_id": "AQAD", "width": 90, "height": 90}]
        parts = [
            make_update(
                "message",
                update_id=500 + n,
                chat_id=5,
                message_id=40 + n,
                media_group_id="album-1",
                photo=photo,
            )
            for n in range(5)
        ]
        barrier = threading.Barrier(5)
        statuses: list[int] = []

        def send(part: dict[str, Any]) -> None:
            barrier.wait(10)
            statuses.append(post(server.port, part)[0])

        threads = [threading.Thread(target=send, args=(p,)) for p in reversed(parts)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert statuses == [200] * 5
        wait_until(lambda: bool(records(tmp_path, "album")), timeout=20, what="the album")
        time.sleep(1.5)  # the other workers' timers fire too; none may hand it out again
        [album] = records(tmp_path, "album")
        assert album["message_ids"] == [40, 41, 42, 43, 44]
        assert records(tmp_path, "start") == []  # parts never reached the message handler
    finally:
        server.stop()


@pytest.mark.slow
def test_an_album_whose_worker_was_killed_in_its_quiet_window_is_handed_out(
    tmp_path: Path,
) -> None:
    server = serve(tmp_path, {"TELEGRAM_MEDIA_GROUP_WAIT": "3"}, workers=1)
    try:
        photo = [{"file_id": "AgAC", "file_unique_id": "AQAD", "width": 90, "height": 90}]
        for n in range(3):
            part = make_update(
                "message", update_id=600 + n, chat_id=6, message_id=60 + n,
                media_group_id="album-2", photo=photo,
            )  # fmt: skip
            assert post(server.port, part)[0] == 200
        [worker] = server.worker_pids()
        os.kill(worker, signal.SIGKILL)  # its timer for the album dies with it
        wait_until(
            lambda: server.worker_pids() not in ([], [worker]),
            timeout=30,
            what="gunicorn's new worker",
        )
        # The next update the new worker handles starts its look-out for albums left behind.
        assert post(server.port, message("hello", update_id=610))[0] == 200
        wait_until(lambda: bool(records(tmp_path, "album")), timeout=30, what="the album")
        time.sleep(1.5)  # more sweeps: none hands it out again
        [album] = records(tmp_path, "album")
        assert album["message_ids"] == [60, 61, 62]
        assert "Handed out an album whose quiet window had passed long ago" in server.log()
    finally:
        server.stop()
