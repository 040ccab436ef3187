"""LiveServer, connect_webhook, TelegramTestClient and the offline demo."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_tgwebhook import TelegramWebhook, Update, reply
from flask_tgwebhook.testing import FakeTelegram, make_update
from flask_tgwebhook.testing.client import TelegramTestClient
from flask_tgwebhook.testing.demo import run_offline, run_real
from flask_tgwebhook.testing.live import LiveServer, connect_webhook, telegram_config

from .servers import wait_until

ROOT = Path(__file__).resolve().parents[1]


def echo_app(config: dict[str, Any]) -> Flask:
    tg = TelegramWebhook()

    @tg.message
    def echo(update: Update) -> Any:
        return reply("sendMessage", chat_id=update.chat_id, text=update.text)

    app = Flask("echo")
    app.config.update(config)
    tg.init_app(app)
    return app


@pytest.mark.parametrize("https", [False, True])
def test_live_server_receives_deliveries(fake_telegram: FakeTelegram, https: bool) -> None:
    app = echo_app(telegram_config(fake_telegram))
    with LiveServer(app, https=https) as server:
        info = connect_webhook(app, server)
        assert info["url"] == server.webhook_url
        assert server.webhook_url.startswith("https://" if https else "http://")
        delivery = fake_telegram.deliver(make_update(text="over the wire"), wait=True)
    assert delivery.ok
    assert fake_telegram.calls_to("sendMessage")[0].params["text"] == "over the wire"
    [set_webhook] = fake_telegram.calls_to("setWebhook")
    assert ("certificate" in set_webhook.files) is https
    assert set_webhook.params["allowed_updates"] in (["message"], '["message"]')


def test_wrong_secret_shows_as_a_delivery_error(fake_telegram: FakeTelegram) -> None:
    app = echo_app(telegram_config(fake_telegram))
    with LiveServer(app) as server:
        connect_webhook(app, server, secret_token="not-the-apps-secret")
        delivery = fake_telegram.deliver(make_update(text="x"), wait=True, timeout=15)
    assert not delivery.ok
    assert fake_telegram.webhook_info()["last_error_message"] == (
        "Wrong response from the webhook: 403 FORBIDDEN"
    )
    assert fake_telegram.calls_to("sendMessage") == []


def test_test_client_sends_with_the_right_secret() -> None:
    app = echo_app({"TELEGRAM_BOT_TOKEN": "123456:TEST-fake-token-for-flask-tgwebhook"})
    client = TelegramTestClient(app)
    answer = client.message("hi", chat_id=3)
    assert answer.status == 200
    assert answer.reply == {"method": "sendMessage", "chat_id": 3, "text": "hi"}
    assert client.send(make_update(text="x"), secret="wrong").status == 403
    assert client.press("data").reply is None  # no callback handler: empty 200


def test_test_client_needs_the_extension() -> None:
    with pytest.raises(RuntimeError, match="init_app"):
        TelegramTestClient(Flask("bare"))


def test_demo_plays_the_conversation() -> None:
    out = io.StringIO()
    assert run_offline(echo_app, ["one", "two"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert "you > one" in lines and "bot > sendMessage: 'one'" in lines
    assert "you > two" in lines and "bot > sendMessage: 'two'" in lines
    assert "The conversation went through." in lines
    assert lines[-1].startswith("Next: read example_app.py")


def test_example_app_runs_offline_as_the_readme_says(tmp_path: Path) -> None:
    # A copy, so that its instance folder (the store with its counts) starts empty.
    shutil.copy(ROOT / "example_app.py", tmp_path / "example_app.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    result = subprocess.run(
        [sys.executable, "example_app.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bot > sendMessage: 'Hello, Test! Do you like Flask?' [with buttons]" in result.stdout
    assert "bot > answerCallbackQuery: 'Noted!'" in result.stdout
    assert "bot > answerWebAppQuery: 'Test says hello from the Web App'" in result.stdout
    assert "bot > sendMessage: '/start: 1, /app: 1, Web App answers: 1'" in result.stdout
    assert "The conversation went through." in result.stdout
    assert result.stderr == ""


def test_real_mode_without_a_token_says_where_to_get_one() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    result = subprocess.run(
        [sys.executable, "example_app.py", "--real"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2  # argparse's usage error, before any network call
    assert "--real needs TELEGRAM_BOT_TOKEN in the environment (from @BotFather)" in result.stderr
    assert result.stdout == ""


def test_a_token_in_the_environment_switches_the_example_to_real_mode(
    fake_telegram: FakeTelegram,
) -> None:
    # TELEGRAM_BOT_TOKEN alone means "real": the example long-polls the API it is pointed at
    # (here the emulator, through the same environment variables) instead of the offline demo.
    fake_telegram.deliver(make_update(text="from the environment", chat_id=6))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env.update({key: str(value) for key, value in telegram_config(fake_telegram).items()})
    with subprocess.Popen(
        [sys.executable, "example_app.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        try:
            wait_until(
                lambda: bool(fake_telegram.calls_to("sendMessage")) or process.poll() is not None,
                timeout=60,
                what="the example to answer over long polling",
            )
        finally:
            process.terminate()
            output, _ = process.communicate(timeout=30)
    [sent] = fake_telegram.calls_to("sendMessage")
    assert sent.params == {"chat_id": 6, "text": "from the environment"}
    assert "with long polling" in output
    assert "The conversation went through." not in output  # not the offline demo
    assert fake_telegram.token.split(":", 1)[1] not in output


def test_real_mode_long_polls_the_same_bot(fake_telegram: FakeTelegram) -> None:
    # No webhook: the emulator keeps updates for getUpdates, like Telegram does.
    fake_telegram.deliver(make_update(text="first", chat_id=5))
    fake_telegram.deliver(make_update(text="second", chat_id=5))
    assert run_real(echo_app, telegram_config(fake_telegram), max_updates=2) == 0
    assert [c.params["text"] for c in fake_telegram.calls_to("sendMessage")] == ["first", "second"]
    assert fake_telegram.calls_to("deleteWebhook")


def test_a_later_run_gets_later_update_ids() -> None:
    """Telegram's update ids keep increasing across restarts; an app's store (SQLite by
    default) remembers handled ids, so a second run must not start where the first did."""
    code = "from flask_tgwebhook.testing import make_update; print(make_update()['update_id'])"
    first, second = (
        int(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
            ).stdout
        )
        for _ in range(2)
    )
    assert second > first + 1
