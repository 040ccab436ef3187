"""Silent traps at start-up made loud: the uploaded certificate kept, an IP without one, another
deployment's webhook, signed links without SECRET_KEY, a config token hiding the environment's.

``setup_webhook`` is what the gunicorn hook and ``flask tg set-webhook`` run; here it talks to
the emulator on loopback (conftest's ``telegram``; ``check_url=False``: the emulator accepts
its loopback URLs).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_tgwebhook import Bot, TelegramWebhook
from flask_tgwebhook.certs import generate_self_signed_cert
from flask_tgwebhook.client import InputFile
from flask_tgwebhook.config import derive_secret
from flask_tgwebhook.startup import setup_webhook
from flask_tgwebhook.startup_warnings import CertificateWouldBeDropped
from flask_tgwebhook.testing import FakeTelegram

TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"
URL = "https://127.0.0.1:8443/telegram/webhook"


@pytest.fixture(autouse=True)
def _no_exported_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)


def make_app(telegram: FakeTelegram, **config: Any) -> Flask:
    app = Flask("startup_warnings")
    app.config.update(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": telegram.api_url,
            "TELEGRAM_WEBHOOK_URL": URL,
            **config,
        }
    )
    TelegramWebhook(app)
    return app


@pytest.fixture
def cert(tmp_path: Path) -> Path:
    path = tmp_path / "cert.pem"
    generate_self_signed_cert("127.0.0.1").write(path, tmp_path / "key.pem")
    return path


def upload(telegram: FakeTelegram, url: str, cert: Path) -> None:
    with Bot(TOKEN, api_url=telegram.api_url) as bot:
        bot.call(
            "setWebhook", url=url, secret_token=derive_secret(TOKEN), certificate=InputFile(cert)
        )
    assert telegram.webhook_info()["has_custom_certificate"] is True


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_hook_keeps_the_uploaded_certificate(telegram: FakeTelegram, cert: Path) -> None:
    upload(telegram, URL, cert)
    # The deploy's environment forgot TELEGRAM_WEBHOOK_CERTIFICATE: nothing else differs.
    report = setup_webhook(make_app(telegram), check_url=False)
    assert not report.changed
    assert telegram.webhook_info()["has_custom_certificate"] is True


def test_a_change_that_would_drop_the_certificate_is_refused(
    telegram: FakeTelegram, cert: Path
) -> None:
    upload(telegram, "https://127.0.0.1:8443/old/path", cert)
    with pytest.raises(CertificateWouldBeDropped, match="--no-certificate"):
        setup_webhook(make_app(telegram), check_url=False)
    assert telegram.webhook_info()["has_custom_certificate"] is True
    assert not telegram.calls_to("setWebhook")[1:]  # only the upload above


def test_set_webhook_keeps_it_unless_told(telegram: FakeTelegram, cert: Path) -> None:
    upload(telegram, URL, cert)
    app = make_app(telegram)
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["tg", "set-webhook"])
    assert refused.exit_code == 1
    assert "--certificate cert.pem" in refused.output and "--no-certificate" in refused.output
    assert telegram.webhook_info()["has_custom_certificate"] is True
    kept = runner.invoke(args=["tg", "set-webhook", "--certificate", str(cert)])
    assert kept.exit_code == 0, kept.output
    assert telegram.webhook_info()["has_custom_certificate"] is True
    dropped = runner.invoke(args=["tg", "set-webhook", "--no-certificate"])
    assert dropped.exit_code == 0, dropped.output
    assert telegram.webhook_info()["has_custom_certificate"] is False


def test_an_ip_webhook_without_a_certificate_is_warned_about(
    telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    setup_webhook(make_app(telegram), check_url=False)
    assert any("is an IP address and no certificate" in w for w in warnings(caplog))


def test_another_deployment_took_the_webhook(
    telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    with Bot(TOKEN, api_url=telegram.api_url) as bot:
        bot.call("setWebhook", url="https://127.0.0.2:8443/staging")
    caplog.set_level(logging.INFO)
    setup_webhook(make_app(telegram), check_url=False)
    [line] = [w for w in warnings(caplog) if "another deployment" in w]
    assert "https://127.0.0.2:8443/staging" in line and "TELEGRAM_BOT_ENABLED=false" in line


def test_signed_links_without_secret_key(
    telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(telegram)
    app.extensions["tgwebhook"].ext.add_external("paid", lambda call: None)
    caplog.set_level(logging.INFO)
    setup_webhook(app, check_url=False)
    assert any("SECRET_KEY is not set" in w and "paid" in w for w in warnings(caplog))
    caplog.clear()
    app.config["SECRET_KEY"] = "set"
    setup_webhook(app, check_url=False)
    assert not any("SECRET_KEY" in w for w in warnings(caplog))


def test_a_config_token_hiding_the_environments(
    telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-the-real-token-exported-here")
    caplog.set_level(logging.INFO)
    setup_webhook(make_app(telegram), check_url=False)
    assert any("differs from the environment's" in w for w in warnings(caplog))
    assert not any("the-real-token" in r.getMessage() for r in caplog.records)
