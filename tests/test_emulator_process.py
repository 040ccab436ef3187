"""``python -m flask_tgwebhook.testing``: the emulator as a process, driven from another one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from flask_tgwebhook.testing import DEFAULT_TOKEN, make_update

from .servers import free_port
from .test_fake_telegram import hook_app, ok

CONTROL = "/_fake_telegram"


@pytest.fixture
def emulator() -> Iterator[str]:
    """The emulator in its own process on a free port; its base URL. Stopped by its PID."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flask_tgwebhook.testing",
            "--port",
            str(port),
            "--allow-loopback",
            "--allow-http",
            "--time-scale",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once it listens
        assert line.startswith(f"FakeTelegram listening on http://127.0.0.1:{port} (pid "), line
        assert f"(pid {process.pid})" in line
        yield f"http://127.0.0.1:{port}"
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
        assert process.returncode in (0, -signal.SIGKILL)


@pytest.mark.slow
def test_a_webhook_set_through_the_process_gets_updates_sent_from_here(emulator: str) -> None:
    bot = f"{emulator}/bot{DEFAULT_TOKEN}"
    with hook_app(ok) as hook:
        answer = requests.post(
            f"{bot}/setWebhook", json={"url": hook.url, "secret_token": "s3cret"}, timeout=10
        ).json()
        assert answer == {"ok": True, "result": True, "description": "Webhook was set"}
        update = make_update(text="/start", chat_id=9)
        sent: dict[str, Any] = requests.post(
            f"{emulator}{CONTROL}/deliver", json={"update": update, "wait": True}, timeout=20
        ).json()
    assert sent["ok"] is True
    assert sent["result"]["state"] == "delivered"
    assert sent["result"]["attempts"] == [{"status": 200, "error": None, "retry_after": None}]
    assert hook.seen == [("s3cret", update)]
    calls = requests.get(f"{emulator}{CONTROL}/calls", params={"since": 0}, timeout=10).json()
    assert [c["method"] for c in calls["calls"]] == ["setWebhook"]
    assert calls["calls"][0]["bot_id"] == 123456
    assert calls["next"] == 1
    info = requests.post(f"{emulator}{CONTROL}/webhook_info", json={}, timeout=10).json()
    assert info["result"]["url"] == hook.url


@pytest.mark.slow
def test_updates_wait_for_get_updates_and_the_control_says_what_is_wrong(emulator: str) -> None:
    other = "777000:AAbbCCddEEffGGhhIIjjKKllMMnn_-0"
    update = make_update(text="queued")
    sent = requests.post(
        f"{emulator}{CONTROL}/deliver", json={"update": update, "token": other}, timeout=10
    ).json()
    assert sent["result"]["state"] == "pending"
    got = requests.get(f"{emulator}/bot{other}/getUpdates", timeout=10).json()
    assert got["result"] == [update]
    bad = requests.post(f"{emulator}{CONTROL}/deliver", json={"nope": 1}, timeout=10)
    assert bad.status_code == 400
    assert "the update is missing" in bad.json()["description"]
    unknown = requests.post(f"{emulator}{CONTROL}/nothing", json={}, timeout=10)
    assert unknown.status_code == 404
    assert "use one of calls, deliver, wait_idle, webhook_info" in unknown.json()["description"]
