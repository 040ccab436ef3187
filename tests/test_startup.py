"""Start-up configuration: public URL, URL checks, the switch, ensure_webhook on the emulator."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from flask import Flask

from flask_tgwebhook import TelegramWebhook
from flask_tgwebhook.certs import generate_self_signed_cert
from flask_tgwebhook.client import Bot
from flask_tgwebhook.config import derive_secret
from flask_tgwebhook.startup import (
    WebhookURLError,
    bot_enabled,
    ensure_webhook,
    public_webhook_url,
    setup_webhook,
    validate_webhook_url,
)
from flask_tgwebhook.testing import FakeTelegram, make_update
from flask_tgwebhook.webhook_report import differences

TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"
URL = "https://bot.example.com/telegram/webhook"


def methods(telegram: FakeTelegram) -> list[str]:
    return [call.method for call in telegram.calls]


# --- the public URL ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"TELEGRAM_WEBHOOK_URL": "https://env.example/hook"}, "https://env.example/hook"),
        ({"RAILWAY_PUBLIC_DOMAIN": "app.up.railway.app"}, "https://app.up.railway.app/tg"),
        ({"RENDER_EXTERNAL_HOSTNAME": "app.onrender.com"}, "https://app.onrender.com/tg"),
        ({"FLY_APP_NAME": "mybot"}, "https://mybot.fly.dev/tg"),
        ({"TELEGRAM_PUBLIC_HOST": "bot.example.com"}, "https://bot.example.com/tg"),
        ({}, None),
    ],
)
def test_public_webhook_url_from_environment(environ: dict[str, str], expected: str | None) -> None:
    assert public_webhook_url({"TELEGRAM_WEBHOOK_PATH": "/tg"}, environ) == expected


def test_public_webhook_url_config_wins_and_default_path() -> None:
    config = {"TELEGRAM_WEBHOOK_URL": "https://config.example/hook"}
    environ = {"TELEGRAM_WEBHOOK_URL": "https://env.example/hook", "FLY_APP_NAME": "x"}
    assert public_webhook_url(config, environ) == "https://config.example/hook"
    assert public_webhook_url({}, {"FLY_APP_NAME": "x"}) == "https://x.fly.dev/telegram/webhook"


# --- URL checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [URL, "https://1.2.3.4:8443/hook", "https://h.example:88/", "https://h.example:80/x"]
)
def test_validate_accepts_what_telegram_accepts(url: str) -> None:
    assert validate_webhook_url(url) == url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://bot.example.com/hook", "only over HTTPS"),
        ("https://bot.example.com:8080/hook", "not 8080"),
        ("https:///hook", "no host name"),
        ("https://bot.example.com:port/hook", "not a number"),
        ("bot.example.com/hook", "only over HTTPS"),
    ],
)
def test_validate_refuses_with_the_fix(url: str, words: str) -> None:
    with pytest.raises(WebhookURLError, match=words):
        validate_webhook_url(url)


def test_validate_refuses_a_token_in_the_url() -> None:
    with pytest.raises(WebhookURLError) as info:
        validate_webhook_url(f"https://bot.example.com/{TOKEN}", token=TOKEN)
    assert TOKEN not in str(info.value)


# --- the switch --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "environ", "enabled"),
    [
        ({}, {}, True),
        ({"TELEGRAM_BOT_ENABLED": False}, {}, False),
        ({"TELEGRAM_BOT_ENABLED": True}, {"TELEGRAM_BOT_ENABLED": "false"}, True),
        ({}, {"TELEGRAM_BOT_ENABLED": "0"}, False),
        ({}, {"TELEGRAM_BOT_ENABLED": "Off"}, False),
        ({}, {"TELEGRAM_BOT_ENABLED": "yes"}, True),
    ],
)
def test_bot_enabled(config: dict[str, Any], environ: dict[str, str], enabled: bool) -> None:
    assert bot_enabled(config, environ) is enabled


def test_bot_enabled_refuses_nonsense() -> None:
    with pytest.raises(RuntimeError, match="true or false"):
        bot_enabled({}, {"TELEGRAM_BOT_ENABLED": "maybe"})


# --- what counts as a difference ---------------------------------------------------------


def test_differences() -> None:
    info: dict[str, Any] = {
        "url": URL,
        "has_custom_certificate": False,
        "max_connections": 40,
        "allowed_updates": ["message"],
    }

    def diff(
        url: str = URL,
        certificate: bool = False,
        allowed_updates: list[str] | None = None,
        max_connections: int | None = None,
        ip_address: str | None = None,
        **extra: Any,
    ) -> list[str]:
        return differences(
            {**info, **extra},
            url,
            certificate=certificate,
            allowed_updates=allowed_updates,
            max_connections=max_connections,
            ip_address=ip_address,
        )

    assert diff() == []
    assert diff(allowed_updates=["message"], max_connections=40) == []
    assert diff(url="https://other.example/")
    assert diff(certificate=True)
    assert diff(has_custom_certificate=True)
    assert diff(max_connections=10)
    assert diff(ip_address="1.2.3.4")
    assert diff(allowed_updates=["message", "callback_query"])
    [reason] = diff(last_error_message="Wrong response from the webhook: 403 Forbidden")
    assert "secret" in reason


# --- ensure_webhook against the emulator -------------------------------------------------


def test_ensure_sets_then_leaves_alone(
    telegram: FakeTelegram, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "flask_tgwebhook.startup")
    report = ensure_webhook(bot, URL, secret_token="s3cret", allowed_updates=["message"])
    assert report.changed
    assert methods(telegram) == ["getWebhookInfo", "setWebhook", "getWebhookInfo"]
    params = telegram.calls_to("setWebhook")[0].params
    assert params["url"] == URL
    assert params["secret_token"] == "s3cret"
    assert params["allowed_updates"] == ["message"]
    assert "drop_pending_updates" not in params
    assert report.info["url"] == URL
    assert f"Set the webhook to {URL}" in caplog.text
    assert "pending updates" in caplog.text

    telegram.clear()
    again = ensure_webhook(bot, URL, secret_token="s3cret", allowed_updates=["message"])
    assert not again.changed and again.reasons == []
    assert methods(telegram) == ["getWebhookInfo"]
    assert "already" in caplog.text


def test_types_telegram_does_not_know_do_not_reset_the_webhook(
    telegram: FakeTelegram, bot: Bot
) -> None:
    # Telegram drops types it does not know from allowed_updates (a newer type, a typo).
    wanted = ["message", "subscription"]
    assert ensure_webhook(bot, URL, secret_token="s", allowed_updates=wanted).changed
    assert telegram.webhook_info()["allowed_updates"] == ["message"]
    telegram.clear()
    again = ensure_webhook(bot, URL, secret_token="s", allowed_updates=wanted)
    assert not again.changed
    assert methods(telegram) == ["getWebhookInfo"]
    # A type this version knows that Telegram lacks is still a difference.
    changed = ensure_webhook(bot, URL, secret_token="s", allowed_updates=[*wanted, "poll"])
    assert changed.reasons == ["allowed_updates was message"]


def test_ensure_replaces_a_stale_webhook(
    telegram: FakeTelegram, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "flask_tgwebhook.startup")
    bot.call("setWebhook", url="https://old.example.com/hook")
    telegram.clear()
    report = ensure_webhook(bot, URL, secret_token=None, drop_pending_updates=True)
    assert methods(telegram) == ["getWebhookInfo", "deleteWebhook", "setWebhook", "getWebhookInfo"]
    assert telegram.calls_to("deleteWebhook")[0].params == {"drop_pending_updates": True}
    assert telegram.calls_to("setWebhook")[0].params["drop_pending_updates"] is True
    assert report.previous_url == "https://old.example.com/hook"
    assert "Removed the previous webhook https://old.example.com/hook" in caplog.text


def test_ensure_sets_again_when_updates_or_force(telegram: FakeTelegram, bot: Bot) -> None:
    ensure_webhook(bot, URL, secret_token=None, allowed_updates=["message"])
    ensure_webhook(bot, URL, secret_token=None, allowed_updates=["message", "callback_query"])
    assert len(telegram.calls_to("setWebhook")) == 2
    ensure_webhook(bot, URL, secret_token=None, force=True)
    assert len(telegram.calls_to("setWebhook")) == 3
    assert not telegram.calls_to("deleteWebhook")  # same URL: nothing stale to remove


def test_ensure_uploads_a_certificate(telegram: FakeTelegram, bot: Bot, tmp_path: Any) -> None:
    pair = generate_self_signed_cert("203.0.113.5")
    cert_path = tmp_path / "cert.pem"
    pair.write(cert_path, tmp_path / "key.pem")
    report = ensure_webhook(
        bot, "https://203.0.113.5:8443/hook", secret_token=None, certificate=cert_path
    )
    [call] = telegram.calls_to("setWebhook")
    assert call.files["certificate"] == pair.cert_pem
    assert report.info["has_custom_certificate"] is True
    # Once uploaded, the same wish is already satisfied.
    assert not ensure_webhook(
        bot, "https://203.0.113.5:8443/hook", secret_token=None, certificate=pair.cert_pem
    ).changed


def test_ensure_refuses_a_bad_url_before_any_call(telegram: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(WebhookURLError):
        ensure_webhook(bot, "http://bot.example.com/hook", secret_token=None)
    assert telegram.calls == []


# --- setup_webhook: the app-level entry point --------------------------------------------


def make_app(telegram: FakeTelegram, **config: Any) -> tuple[Flask, TelegramWebhook]:
    tg = TelegramWebhook()

    @tg.message(commands=["start"])
    def start(update: Any) -> None: ...

    @tg.callback_query
    def pressed(update: Any) -> None: ...

    app = Flask("startup_test")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.api_url, **config)
    tg.init_app(app)
    return app, tg


def test_setup_webhook_from_config(telegram: FakeTelegram) -> None:
    app, _ = make_app(telegram, TELEGRAM_WEBHOOK_URL=URL, TELEGRAM_WEBHOOK_MAX_CONNECTIONS=10)
    report = setup_webhook(app, environ={})
    assert report.changed
    params = telegram.calls_to("setWebhook")[0].params
    assert params["secret_token"] == derive_secret(TOKEN)
    assert params["allowed_updates"] == ["message", "callback_query"]
    assert params["max_connections"] == 10
    assert not setup_webhook(app, environ={}).changed
    assert len(telegram.calls_to("setWebhook")) == 1


def test_setup_webhook_from_platform_host(telegram: FakeTelegram) -> None:
    app, _ = make_app(telegram)
    setup_webhook(app, environ={"RENDER_EXTERNAL_HOSTNAME": "mybot.onrender.com"})
    url = telegram.calls_to("setWebhook")[0].params["url"]
    assert url == "https://mybot.onrender.com/telegram/webhook"


def test_setup_webhook_refuses_missing_or_bad_url(telegram: FakeTelegram) -> None:
    app, _ = make_app(telegram)
    with pytest.raises(RuntimeError, match="TELEGRAM_WEBHOOK_URL"):
        setup_webhook(app, environ={})
    bad, _ = make_app(telegram, TELEGRAM_WEBHOOK_URL="http://bot.example.com/hook")
    with pytest.raises(RuntimeError, match="HTTPS"):
        setup_webhook(bad, environ={})
    assert telegram.calls == []


def test_setup_webhook_needs_the_extension() -> None:
    with pytest.raises(RuntimeError, match="init_app"):
        setup_webhook(Flask("bare"), environ={})


def test_disabled_bot_removes_only_its_own_webhook(
    telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "flask_tgwebhook.startup")
    app, _ = make_app(telegram, TELEGRAM_WEBHOOK_URL=URL, TELEGRAM_BOT_ENABLED=False)
    with Bot(TOKEN, api_url=telegram.api_url) as bot:
        bot.call("setWebhook", url="https://production.example.com/hook")
        report = setup_webhook(app, environ={})
        assert not report.changed and not telegram.calls_to("deleteWebhook")
        assert telegram.webhook_info()["url"] == "https://production.example.com/hook"
        assert "left alone" in caplog.text

        bot.call("setWebhook", url=URL)
        report = setup_webhook(app, environ={})
    assert report.changed and report.previous_url == URL
    assert telegram.webhook_info()["url"] == ""
    assert len(telegram.calls_to("deleteWebhook")) == 1
    assert len(telegram.calls_to("setWebhook")) == 2  # only the two this test made


def test_setup_webhook_settings_from_environment(telegram: FakeTelegram, tmp_path: Any) -> None:
    pair = generate_self_signed_cert("bot.example.com")
    pair.write(tmp_path / "cert.pem", tmp_path / "key.pem")
    app, _ = make_app(telegram, TELEGRAM_WEBHOOK_URL=URL)
    environ = {
        "TELEGRAM_WEBHOOK_CERTIFICATE": str(tmp_path / "cert.pem"),
        "TELEGRAM_WEBHOOK_MAX_CONNECTIONS": "3",
        "TELEGRAM_WEBHOOK_IP_ADDRESS": "203.0.113.5",
        "TELEGRAM_DROP_PENDING_UPDATES": "yes",
    }
    setup_webhook(app, environ=environ)
    [call] = telegram.calls_to("setWebhook")
    assert call.files["certificate"] == pair.cert_pem
    assert call.params["drop_pending_updates"] == "true"  # a multipart form field
    info = telegram.webhook_info()
    assert info["max_connections"] == 3
    assert info["ip_address"] == "203.0.113.5"
    assert info["has_custom_certificate"] is True


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("TELEGRAM_WEBHOOK_CERTIFICATE", "/nonexistent/cert.pem", "not a file"),
        ("TELEGRAM_WEBHOOK_MAX_CONNECTIONS", "many", "whole number"),
        ("TELEGRAM_DROP_PENDING_UPDATES", "perhaps", "true or false"),
    ],
)
def test_setup_webhook_refuses_bad_settings(
    telegram: FakeTelegram, key: str, value: str, words: str
) -> None:
    app, _ = make_app(telegram, TELEGRAM_WEBHOOK_URL=URL)
    with pytest.raises(RuntimeError, match=words):
        setup_webhook(app, environ={key: value})
    assert telegram.calls_to("setWebhook") == []


def test_ensure_logs_telegrams_last_error(
    telegram: FakeTelegram, bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    loopback = "https://127.0.0.1:8443/telegram/webhook"  # nothing answers there
    ensure_webhook(bot, loopback, secret_token=None)
    telegram.deliver(make_update("message", text="hi"), wait=True)
    caplog.set_level(logging.INFO, "flask_tgwebhook.startup")
    report = ensure_webhook(bot, loopback, secret_token=None)
    assert not report.changed
    message = telegram.webhook_info()["last_error_message"]
    assert report.last_error_message == message
    assert report.last_error_date is not None
    assert report.pending_update_count == 0  # max_attempts=1: dropped after one failure
    stamp = report.last_error_date.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert f"Telegram's last delivery error, at {stamp}: {message}" in caplog.text


def test_disabled_bot_without_a_token_does_nothing(caplog: pytest.LogCaptureFixture) -> None:
    app = Flask("no_token")
    app.config.update(TELEGRAM_BOT_ENABLED=False, TELEGRAM_WEBHOOK_SECRET="staging-secret")
    TelegramWebhook(app)
    report = setup_webhook(app, environ={})
    assert not report.changed and report.url is None
    assert "TELEGRAM_BOT_ENABLED is off and there is no token" in caplog.text


def test_setup_webhook_without_a_token_says_the_fix() -> None:
    app = Flask("no_token")
    app.config.update(TELEGRAM_WEBHOOK_SECRET="s", TELEGRAM_WEBHOOK_URL=URL)
    TelegramWebhook(app)
    with pytest.raises(RuntimeError, match="set TELEGRAM_BOT_TOKEN"):
        setup_webhook(app, environ={})
