"""The gunicorn hook under a real gunicorn with several workers, against the emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_tgwebhook.config import derive_secret
from flask_tgwebhook.testing import FakeTelegram

pytestmark = pytest.mark.slow

TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"
URL = "https://127.0.0.1:8443/telegram/webhook"
WORKERS = 2

APP_MODULE = """
import os
import sys
from flask import Flask
from flask_tgwebhook import TelegramWebhook

tg = TelegramWebhook()

@tg.message(commands=["start"])
def start(update):
    return None

app = Flask(__name__)
app.config["TELEGRAM_API_URL"] = os.environ["TEST_API_URL"]
tg.init_app(app)

# One line per process that imported the app: the hook's child process and each worker.
role = "hook" if "flask_tgwebhook" in sys.argv[0] else "worker"
with open(os.environ["TEST_IMPORTS"], "a") as fh:
    fh.write(f"{role} {os.getpid()}\\n")
"""

CONFIG = f"""
from flask_tgwebhook.gunicorn import on_starting, when_ready

bind = "127.0.0.1:0"
workers = {WORKERS}
"""


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(token=TOKEN, allow_loopback=True, allow_http=True) as telegram:
        yield telegram


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "botapp.py").write_text(textwrap.dedent(APP_MODULE))
    (tmp_path / "gunicorn.conf.py").write_text(textwrap.dedent(CONFIG))
    return tmp_path


def run_gunicorn(
    project: Path, telegram: FakeTelegram, **extra_env: str
) -> tuple[str, dict[str, list[int]]]:
    """Start gunicorn, wait until every worker has loaded the app, stop it.

    Returns gunicorn's output and the pids of the processes that imported the app, by role.
    """
    imports = project / "imports.txt"
    imports.write_text("")
    log_path = project / "gunicorn.log"
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_URL": URL,
        "TEST_API_URL": telegram.api_url,
        "TEST_IMPORTS": str(imports),
        **extra_env,
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "botapp:app"],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and process.poll() is None:
                if imports.read_text().count("worker") >= WORKERS:
                    break
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)
    roles: dict[str, list[int]] = {"hook": [], "worker": []}
    for line in imports.read_text().splitlines():
        role, pid = line.split()
        roles[role].append(int(pid))
    assert process.pid not in roles["hook"] + roles["worker"]  # the master never imports it
    return log_path.read_text(), roles


def test_webhook_set_once_per_deploy_not_per_worker(project: Path, telegram: FakeTelegram) -> None:
    output, pids = run_gunicorn(project, telegram)
    assert len(pids["worker"]) == WORKERS, output
    assert len(pids["hook"]) == 1  # on_starting and when_ready both wired: it still runs once
    [call] = telegram.calls_to("setWebhook")
    assert call.params["url"] == URL
    assert call.params["secret_token"] == derive_secret(TOKEN)
    assert call.params["allowed_updates"] == ["message"]
    assert "flask_tgwebhook: Set the webhook to " + URL in output
    assert "pending updates" in output
    assert TOKEN.split(":")[1] not in output

    # The next deploy finds the webhook as wanted and leaves it alone.
    telegram.clear()
    output, pids = run_gunicorn(project, telegram)
    assert len(pids["worker"]) == WORKERS, output
    assert telegram.calls_to("getWebhookInfo")
    assert telegram.calls_to("setWebhook") == []
    assert "already" in output


def test_misconfiguration_is_an_error_line_and_gunicorn_serves(
    project: Path, telegram: FakeTelegram
) -> None:
    output, pids = run_gunicorn(
        project, telegram, TELEGRAM_WEBHOOK_URL="http://127.0.0.1:8080/telegram/webhook"
    )
    assert len(pids["worker"]) == WORKERS, output  # the app (maybe a website too) serves
    assert (
        "[ERROR] flask_tgwebhook: TELEGRAM_WEBHOOK_URL: Telegram delivers webhooks only over HTTPS"
        in output
    )
    assert "serving anyway. Set TELEGRAM_STOP_ON_CONFIG_ERROR=true to stop gunicorn" in output
    assert telegram.calls == []


def test_misconfiguration_stops_gunicorn_when_told(project: Path, telegram: FakeTelegram) -> None:
    output, pids = run_gunicorn(
        project,
        telegram,
        TELEGRAM_WEBHOOK_URL="http://127.0.0.1:8080/telegram/webhook",
        TELEGRAM_STOP_ON_CONFIG_ERROR="true",
    )
    assert pids["worker"] == []  # gunicorn stopped before starting any
    assert "Error: TELEGRAM_WEBHOOK_URL: Telegram delivers webhooks only over HTTPS" in output
    assert telegram.calls == []


def test_no_token_is_an_error_line_with_the_fix(project: Path, telegram: FakeTelegram) -> None:
    output, pids = run_gunicorn(project, telegram, TELEGRAM_BOT_TOKEN="")
    assert len(pids["worker"]) == WORKERS, output
    assert "[ERROR] flask_tgwebhook: No bot token: set TELEGRAM_BOT_TOKEN" in output
    assert "Traceback" not in output
    assert telegram.calls == []


def test_telegram_unreachable_is_retried_then_a_warning(
    project: Path, telegram: FakeTelegram
) -> None:
    from .servers import free_port

    output, pids = run_gunicorn(
        project,
        telegram,
        TEST_API_URL=f"http://127.0.0.1:{free_port()}",  # nothing listens
    )
    assert len(pids["worker"]) == WORKERS, output
    assert output.count("Telegram could not be reached") == 2  # then the third attempt
    assert "[WARNING] flask_tgwebhook: the webhook was not configured" in output


def test_api_failure_is_logged_and_gunicorn_serves(project: Path, telegram: FakeTelegram) -> None:
    telegram.fail("getWebhookInfo", error_code=401)
    output, pids = run_gunicorn(project, telegram)
    assert len(pids["worker"]) == WORKERS, output
    assert "Unauthorized" in output
    assert "serving anyway" in output
    assert TOKEN.split(":")[1] not in output
