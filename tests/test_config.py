"""Settings: defaults, derived values, and errors that say the fix."""

from __future__ import annotations

import re

import pytest

from flask_tgwebhook.config import DEFAULTS, SECRET_TOKEN_RE, Settings, derive_secret

from .conftest import TOKEN


def settings(environ: dict[str, str] | None = None, **config: object) -> Settings:
    return Settings.from_config({**DEFAULTS, **config}, environ or {})


def test_defaults() -> None:
    s = settings(TELEGRAM_BOT_TOKEN=TOKEN)
    assert s.api_url == "https://api.telegram.org"
    assert s.webhook_path == "/telegram/webhook"
    assert s.max_body_size == 1024 * 1024
    assert s.on_error == "ack"
    assert s.bot_id == 123456
    assert s.webhook_url is None


def test_derived_secret_is_stable_and_fits_telegram() -> None:
    secret = derive_secret(TOKEN)
    assert secret == derive_secret(TOKEN)
    assert secret != derive_secret("123456:another-token")
    assert SECRET_TOKEN_RE.fullmatch(secret)
    assert TOKEN.split(":")[1] not in secret
    assert settings(TELEGRAM_BOT_TOKEN=TOKEN).webhook_secret == secret


def test_explicit_secret_wins_and_is_checked() -> None:
    assert (
        settings(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_WEBHOOK_SECRET="my_Secret-1").webhook_secret
        == "my_Secret-1"
    )
    with pytest.raises(RuntimeError, match=re.escape("1-256 characters of A-Z")):
        settings(TELEGRAM_WEBHOOK_SECRET="has space")
    with pytest.raises(RuntimeError, match="1-256"):
        settings(TELEGRAM_WEBHOOK_SECRET="x" * 257)


def test_no_secret_at_all_is_a_problem_unless_opted_out() -> None:
    # The app still starts (issue 14): the webhook answers 503 with this problem logged.
    problem = settings().problem
    assert problem is not None and "TELEGRAM_INSECURE_NO_SECRET = True" in problem
    opted_out = settings(TELEGRAM_INSECURE_NO_SECRET=True)
    assert opted_out.webhook_secret is None and opted_out.problem is None


def test_bad_token_is_a_problem_that_names_its_source_without_echoing_it() -> None:
    from_config = settings(TELEGRAM_BOT_TOKEN="123456 secret-part")
    assert from_config.token is None and from_config.problem is not None
    assert "@BotFather" in from_config.problem and "secret-part" not in from_config.problem
    assert "the app's config (TELEGRAM_BOT_TOKEN)" in from_config.problem
    from_env = settings({"TELEGRAM_BOT_TOKEN": "123456 secret-part"})
    assert from_env.problem is not None and "environment variable" in from_env.problem


def test_token_is_not_in_the_repr() -> None:
    assert TOKEN.split(":")[1] not in repr(settings(TELEGRAM_BOT_TOKEN=TOKEN))


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        (
            {"RAILWAY_PUBLIC_DOMAIN": "bot.up.railway.app"},
            "https://bot.up.railway.app/telegram/webhook",
        ),
        (
            {"RENDER_EXTERNAL_HOSTNAME": "bot.onrender.com"},
            "https://bot.onrender.com/telegram/webhook",
        ),
        ({"FLY_APP_NAME": "mybot"}, "https://mybot.fly.dev/telegram/webhook"),
        ({"TELEGRAM_PUBLIC_HOST": "bot.example.com"}, "https://bot.example.com/telegram/webhook"),
        (
            {"TELEGRAM_WEBHOOK_URL": "https://x.example.com:8443/hook"},
            "https://x.example.com:8443/hook",
        ),
    ],
)
def test_public_url_from_the_platform(environ: dict[str, str], url: str) -> None:
    assert settings(environ, TELEGRAM_BOT_TOKEN=TOKEN).webhook_url == url


def test_public_base_url() -> None:
    s = settings(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_WEBHOOK_URL="https://x.example.com:8443/hook")
    assert s.public_base_url == "https://x.example.com:8443"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("TELEGRAM_WEBHOOK_PATH", "telegram", "must start with '/'"),
        ("TELEGRAM_ON_ERROR", "explode", "must be 'ack'"),
        ("TELEGRAM_MAX_BODY_SIZE", 0, "positive whole number"),
        ("TELEGRAM_DEDUPE_TTL", "1h", "positive whole number"),
        ("TELEGRAM_PROCESSING_TIMEOUT", True, "positive whole number"),
    ],
)
def test_bad_values_say_the_fix(key: str, value: object, message: str) -> None:
    with pytest.raises(RuntimeError, match=re.escape(message)):
        Settings.from_config({**DEFAULTS, "TELEGRAM_BOT_TOKEN": TOKEN, key: value}, {})


def test_new_keys_default_to_off() -> None:
    s = settings(TELEGRAM_BOT_TOKEN=TOKEN)
    assert s.allowed_networks is None
    assert s.dedupe_url is None
    assert s.max_retries == 5


def test_allowed_networks() -> None:
    s = settings(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_ALLOWED_NETWORKS=True)
    assert [str(n) for n in s.allowed_networks or ()] == ["149.154.160.0/20", "91.108.4.0/22"]
    with pytest.raises(RuntimeError, match="TELEGRAM_ALLOWED_NETWORKS must be"):
        settings(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_ALLOWED_NETWORKS="149.154.160.0/33")


def test_dedupe_url_from_config_or_environment_never_echoed() -> None:
    url = "redis://:hunter2@127.0.0.1:6379/0"
    assert settings(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_DEDUPE_URL=url).dedupe_url == url
    assert settings({"TELEGRAM_DEDUPE_URL": url}, TELEGRAM_BOT_TOKEN=TOKEN).dedupe_url == url
    assert "hunter2" not in repr(settings(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_DEDUPE_URL=url))
    for bad in ["http://:hunter2@127.0.0.1/", "hunter2@127.0.0.1:6379"]:
        with pytest.raises(RuntimeError, match="must be a store URL") as info:
            settings(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_DEDUPE_URL=bad)
        assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("value", [-1, True, 1.5, "many"])
def test_max_retries_must_be_a_count(value: object) -> None:
    with pytest.raises(RuntimeError, match="TELEGRAM_MAX_RETRIES must be a whole number"):
        settings(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_MAX_RETRIES=value)


def test_counts_from_the_environment_are_read() -> None:
    s = settings(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_MAX_RETRIES="0", TELEGRAM_TRUSTED_PROXIES="2")
    assert (s.max_retries, s.trusted_proxies) == (0, 2)


def test_every_key_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from flask import Flask

    from flask_tgwebhook import TelegramWebhook

    for key, value in {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": "http://127.0.0.1:8081",
        "TELEGRAM_MAX_BODY_SIZE": "2048",
        "TELEGRAM_READ_TIMEOUT": "2.5",
        "TELEGRAM_TRUSTED_PROXIES": "1",
        "TELEGRAM_ON_ERROR": "retry",
        "TELEGRAM_EXTERNAL_MAX_BODY_SIZE": "512",
    }.items():
        monkeypatch.setenv(key, value)
    app = Flask("from_env")
    app.config["TELEGRAM_ON_ERROR"] = "ack"  # the app's own config wins
    TelegramWebhook(app)
    s = app.extensions["tgwebhook"].settings
    assert s.api_url == "http://127.0.0.1:8081"
    assert s.max_body_size == 2048
    assert s.timeout == (5.0, 2.5)
    assert s.trusted_proxies == 1
    assert s.on_error == "ack"
    assert s.external_max_body_size == 512


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("TELEGRAM_CONNECT_TIMEOUT", "abc", "positive number of seconds, got 'abc'"),
        ("TELEGRAM_READ_TIMEOUT", -1, "positive number of seconds"),
        ("TELEGRAM_READ_TIMEOUT", float("nan"), "positive number of seconds"),
        ("TELEGRAM_TRUSTED_PROXIES", "x", "whole number, 0 or more, got 'x'"),
        ("TELEGRAM_TRUSTED_PROXIES", -1, "whole number, 0 or more"),
        ("TELEGRAM_API_URL", "api.telegram.org", "must start with https:// or http://"),
    ],
)
def test_environment_style_values_are_checked(key: str, value: object, message: str) -> None:
    with pytest.raises(RuntimeError, match=re.escape(message)):
        Settings.from_config({**DEFAULTS, "TELEGRAM_BOT_TOKEN": TOKEN, key: value}, {})


def test_flags_from_the_environment() -> None:
    assert settings(TELEGRAM_INSECURE_NO_SECRET="true").webhook_secret is None
    problem = settings(TELEGRAM_INSECURE_NO_SECRET="false").problem
    assert problem is not None and "needs a secret" in problem
    with pytest.raises(RuntimeError, match="must be true or false, got 'maybe'"):
        settings(TELEGRAM_INSECURE_NO_SECRET="maybe")
    assert settings(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_MAX_BODY_SIZE="4096").max_body_size == 4096


def test_the_token_source_is_recorded() -> None:
    assert (
        settings(TELEGRAM_BOT_TOKEN=TOKEN).token_source == "the app's config (TELEGRAM_BOT_TOKEN)"
    )
    from_env = settings({"TELEGRAM_BOT_TOKEN": TOKEN})
    assert from_env.token == TOKEN
    assert from_env.token_source == "the environment variable TELEGRAM_BOT_TOKEN"


@pytest.mark.parametrize(
    ("config", "path"),
    [
        ({}, "/telegram/webhook"),
        ({"TELEGRAM_WEBHOOK_URL": "https://bot.example.com/hooks/tg"}, "/hooks/tg"),
        (
            {"TELEGRAM_WEBHOOK_URL": "https://bot.example.com/telegram/webhook/"},
            "/telegram/webhook/",
        ),
        ({"TELEGRAM_WEBHOOK_URL": "https://bot.example.com"}, "/"),
        (
            {"TELEGRAM_WEBHOOK_URL": "https://bot.example.com/a", "TELEGRAM_WEBHOOK_PATH": "/b"},
            "/b",
        ),
    ],
)
def test_the_route_follows_the_public_url(config: dict[str, object], path: str) -> None:
    config = {**DEFAULTS, "TELEGRAM_BOT_TOKEN": TOKEN, **config}
    assert Settings.from_config(config, {}).webhook_path == path


def test_a_route_that_differs_from_the_url_is_noticed() -> None:
    differs = settings(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_WEBHOOK_URL="https://bot.example.com/a",
        TELEGRAM_WEBHOOK_PATH="/b",
    )
    assert differs.route_differs_from_url()
    slash = settings(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_WEBHOOK_URL="https://bot.example.com/a/",
        TELEGRAM_WEBHOOK_PATH="/a",
    )
    assert not slash.route_differs_from_url()
