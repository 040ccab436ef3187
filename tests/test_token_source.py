"""A refused token's error says where the token came from; the config shadowing the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from flask_tgwebhook import TelegramWebhook
from flask_tgwebhook.gunicorn import EXIT_CONFIG
from flask_tgwebhook.testing import FakeTelegram
from flask_tgwebhook.token_source import token_source

REFUSED = "123456:TEST-a-token-telegram-does-not-know"


def refused_token_error(telegram: FakeTelegram, app: Flask) -> str:
    app.config["TELEGRAM_API_URL"] = telegram.api_url
    TelegramWebhook(app)
    result = app.test_cli_runner().invoke(args=["tg", "me"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output and REFUSED.split(":")[1] not in result.output
    return result.output


def test_a_refused_token_from_the_environment_says_so(
    telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", REFUSED)
    output = refused_token_error(telegram, Flask("env_token"))
    assert "from the environment variable TELEGRAM_BOT_TOKEN" in output


def test_a_refused_token_from_the_config_says_so(
    telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    app = Flask("config_token")
    app.config["TELEGRAM_BOT_TOKEN"] = REFUSED
    output = refused_token_error(telegram, app)
    assert "from the app's config (TELEGRAM_BOT_TOKEN)" in output


def test_the_config_shadowing_the_environment_is_told() -> None:
    env = {"TELEGRAM_BOT_TOKEN": "1:from-env"}
    assert token_source({"TELEGRAM_BOT_TOKEN": "1:from-env"}, env).shadowed is False
    shadow = token_source({"TELEGRAM_BOT_TOKEN": "1:placeholder"}, env)
    assert shadow.shadowed and "config" in shadow.where
    assert "environment" in token_source({}, env).where


def test_the_start_up_hook_names_the_source_of_a_refused_token(
    telegram: FakeTelegram, tmp_path: Path
) -> None:
    # The hook's child process, as gunicorn runs it, with the token exported.
    (tmp_path / "botapp.py").write_text(
        "import os\nfrom flask import Flask\nfrom flask_tgwebhook import TelegramWebhook\n"
        "app = Flask(__name__)\napp.config['TELEGRAM_API_URL'] = os.environ['TEST_API_URL']\n"
        "TelegramWebhook(app)\n"
    )
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": REFUSED,
        "TELEGRAM_WEBHOOK_URL": "https://127.0.0.1:8443/telegram/webhook",
        "TEST_API_URL": telegram.api_url,
        "PYTHONPATH": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "flask_tgwebhook.gunicorn", "botapp:app"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # A refused token is the configuration's to fix: the hook logs it (and serves, unless
    # TELEGRAM_STOP_ON_CONFIG_ERROR), it is not a network failure to retry.
    assert done.returncode == EXIT_CONFIG
    [line] = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
    assert "from the environment variable TELEGRAM_BOT_TOKEN (401" in line
    assert REFUSED.split(":")[1] not in done.stderr
