"""``flask tg nginx-config``: a site covering the webhook and the signed links, and its checks."""

from __future__ import annotations

import pytest
from flask import Flask

from flask_tgwebhook import TelegramWebhook
from flask_tgwebhook.nginx import NginxSite, nginx_site

TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"


def make_app(**config: object) -> Flask:
    app = Flask("nginx_test")
    app.config.update(
        {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_WEBHOOK_URL": "https://bot.example.com/hooks/tg",
            "TELEGRAM_EXTERNAL_PATH": "/callbacks",
            "TELEGRAM_EXTERNAL_MAX_BODY_SIZE": 5_000_000,
            **config,
        }
    )
    TelegramWebhook(app)
    return app


def test_the_site_covers_both_routes_with_tls_12_and_forwarded_headers() -> None:
    app = make_app(TELEGRAM_TRUSTED_PROXIES=1)
    result = app.test_cli_runner().invoke(args=["tg", "nginx-config"])
    assert result.exit_code == 0, result.output
    site = result.stdout
    assert "location /hooks/tg {" in site  # the URL's own path, with or without a slash
    assert "location /callbacks/ {" in site  # signed links for other services
    assert "ssl_protocols       TLSv1.2 TLSv1.3;" in site
    assert "listen 443 ssl;" in site and "server_name bot.example.com;" in site
    assert "/etc/letsencrypt/live/bot.example.com/fullchain.pem" in site
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in site
    assert "client_max_body_size 5000000;" in site  # the larger of the two limits
    assert "proxy_read_timeout 55s;" in site  # below Telegram's 60 s
    assert "TELEGRAM_TRUSTED_PROXIES = 1" in site
    assert "Warning" not in result.output


def test_a_missing_trusted_proxies_setting_is_pointed_out() -> None:
    result = make_app().test_cli_runner().invoke(args=["tg", "nginx-config"])
    assert result.exit_code == 0
    assert "set TELEGRAM_TRUSTED_PROXIES = 1" in result.stderr


def test_a_self_signed_pair_and_a_port() -> None:
    app = make_app(TELEGRAM_WEBHOOK_URL="https://203.0.113.5:8443/telegram/webhook")
    args = ["tg", "nginx-config", "--certificate", "/etc/bot/cert.pem"]
    site = app.test_cli_runner().invoke(args=args).stdout
    assert "listen 8443 ssl;" in site
    assert "ssl_certificate_key /etc/bot/key.pem;" in site


def test_values_that_would_break_the_config_are_refused() -> None:
    site = NginxSite("bot.example.com; evil", "443", "/c.pem", "/k.pem", "127.0.0.1:8000")
    with pytest.raises(ValueError, match="server name"):
        nginx_site(site)
    result = make_app().test_cli_runner().invoke(args=["tg", "nginx-config", "--upstream", "a b"])
    assert result.exit_code == 2 and "upstream" in result.output
