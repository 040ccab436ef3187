"""The default store under a real gunicorn with several workers (separate processes)."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import Path

import pytest

from flask_tgwebhook.testing.updates import make_update

from .conftest import SECRET, TOKEN
from .servers import HOST, Gunicorn, wait_until

APPS = Path(__file__).parent / "apps"
MEMORY_WARNING = "TELEGRAM_STORE_URL is memory://, a store per process"


def start(
    directory: Path,
    *,
    workers: int,
    store_url: str = "",
    args: list[str] | None = None,
    slow: float = 0.0,
) -> Gunicorn:
    env = {
        "STORE_APP_DIR": str(directory),
        "STORE_APP_SLOW": str(slow),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_STORE_URL": store_url,  # "": the default (conftest sets memory://)
    }
    return Gunicorn(
        "store_app:app",
        chdir=APPS,
        log_dir=directory,
        workers=workers,
        env=env,
        args=args or [],
    )


def post(port: int, update: dict[str, object]) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        body = json.dumps(update)
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
        connection.request("POST", "/telegram/webhook", body, headers)
        return connection.getresponse().status
    finally:
        connection.close()


def records(directory: Path) -> list[str]:
    path = directory / "record.txt"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.slow
@pytest.mark.parametrize("preload", [False, True], ids=["workers-load-app", "preload"])
def test_forty_copies_of_a_slow_update_run_once(tmp_path: Path, preload: bool) -> None:
    server = start(tmp_path, workers=3, slow=1.0, args=["--preload"] if preload else [])
    try:
        update = make_update(text="slow")
        statuses: list[int] = []
        barrier = threading.Barrier(40)

        def send() -> None:
            barrier.wait(10)
            statuses.append(post(server.port, update))

        threads = [threading.Thread(target=send) for _ in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(statuses) == 40
        assert set(statuses) <= {200, 503} and statuses.count(200) >= 1
        assert statuses.count(503) >= 1  # copies that came while it ran were told to retry
        # Telegram's retries of those copies: acknowledged, not run again.
        wait_until(lambda: post(server.port, update) == 200, timeout=10, what="done mark")
        assert len(records(tmp_path)) == 1
        assert (tmp_path / "instance" / "tgwebhook.sqlite3").is_file()
        assert MEMORY_WARNING not in server.log()
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 3])
def test_memory_store_under_several_workers_warns_once(tmp_path: Path, workers: int) -> None:
    server = start(tmp_path, workers=workers, store_url="memory://")
    try:
        for _ in range(2 * workers):
            assert post(server.port, make_update(text="hi")) == 200
        if workers > 1:
            wait_until(lambda: MEMORY_WARNING in server.log(), timeout=10, what="the warning")
            assert f"gunicorn runs {workers} workers" in server.log()
        assert server.log().count(MEMORY_WARNING) == (workers > 1)
    finally:
        server.stop()
