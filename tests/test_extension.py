"""init_app, per-app state, factories, several apps, configuration errors."""

from __future__ import annotations

import socket

import pytest
from flask import Flask

from flask_tgwebhook import Router, TelegramWebhook, Update
from flask_tgwebhook.config import derive_secret
from flask_tgwebhook.extension import TelegramState
from flask_tgwebhook.testing import FakeTelegram
from flask_tgwebhook.testing.client import TelegramTestClient
from flask_tgwebhook.testing.updates import make_update

from .conftest import SECRET, TOKEN


def make_app(**config: object) -> Flask:
    app = Flask("factory_app")
    app.config.update(config)
    return app


def test_init_app_keeps_state_in_extensions() -> None:
    tg = TelegramWebhook()
    app = make_app(TELEGRAM_BOT_TOKEN=TOKEN)
    tg.init_app(app)
    state = app.extensions["tgwebhook"]
    assert isinstance(state, TelegramState)
    assert state.ext is tg and state.settings.token == TOKEN
    assert "tgwebhook.webhook" in app.view_functions
    assert app.config["TELEGRAM_WEBHOOK_PATH"] == "/telegram/webhook"
    assert not hasattr(tg, "app")
    with app.app_context():
        assert tg.state() is state


def test_constructor_with_app() -> None:
    app = make_app(TELEGRAM_BOT_TOKEN=TOKEN)
    tg = TelegramWebhook(app)
    assert app.extensions["tgwebhook"].ext is tg


def test_second_registration_is_refused() -> None:
    app = make_app(TELEGRAM_BOT_TOKEN=TOKEN)
    TelegramWebhook(app)
    with pytest.raises(RuntimeError, match="already been registered on this Flask app"):
        TelegramWebhook().init_app(app)


def test_init_app_does_no_network_io(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("init_app opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    app = make_app(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL="http://127.0.0.1:9")
    TelegramWebhook().init_app(app)


def test_several_apps_in_one_process_keep_their_own_settings() -> None:
    tg = TelegramWebhook()
    seen: list[tuple[str, int]] = []

    @tg.message
    def record(update: Update) -> None:
        from flask import current_app

        seen.append((current_app.name, update.update_id))

    other_token = "654321:ANOTHER-fake-token-for-tests"
    first = Flask("first")
    first.config["TELEGRAM_BOT_TOKEN"] = TOKEN
    second = Flask("second")
    second.config.update(TELEGRAM_BOT_TOKEN=other_token, TELEGRAM_WEBHOOK_PATH="/hook/2")
    tg.init_app(first)
    tg.init_app(second)
    update = make_update(text="x")
    header = "X-Telegram-Bot-Api-Secret-Token"
    assert (
        first.test_client()
        .post("/telegram/webhook", json=update, headers={header: SECRET})
        .status_code
        == 200
    )
    assert (
        second.test_client().post("/hook/2", json=update, headers={header: SECRET}).status_code
        == 403
    )
    other_secret = derive_secret(other_token)
    assert (
        second.test_client()
        .post("/hook/2", json=update, headers={header: other_secret})
        .status_code
        == 200
    )
    assert seen == [("first", update["update_id"]), ("second", update["update_id"])]


def test_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    app = make_app()
    TelegramWebhook(app)
    assert app.extensions["tgwebhook"].settings.webhook_secret == SECRET


def test_state_outside_a_set_up_app_says_the_fix() -> None:
    tg = TelegramWebhook()
    with (
        make_app().app_context(),
        pytest.raises(RuntimeError, match=r"Call tg.init_app\(app\) first"),
    ):
        tg.state()


def test_bot_without_token_says_the_fix() -> None:
    app = make_app(TELEGRAM_WEBHOOK_SECRET="s3cret")
    tg = TelegramWebhook(app)
    with app.app_context(), pytest.raises(RuntimeError, match="set TELEGRAM_BOT_TOKEN"):
        tg.bot  # noqa: B018


def test_trusted_proxies_take_the_right_most_untrusted_hop() -> None:
    tg = TelegramWebhook()
    seen: list[str | None] = []

    @tg.message
    def record(update: Update) -> None:
        from flask import request

        seen.append(request.remote_addr)

    app = make_app(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_TRUSTED_PROXIES=1)
    tg.init_app(app)
    app.test_client().post(
        "/telegram/webhook",
        json=make_update(text="x"),
        headers={
            "X-Telegram-Bot-Api-Secret-Token": SECRET,
            "X-Forwarded-For": "6.6.6.6, 149.154.167.1",
        },
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert seen == ["149.154.167.1"]


def test_trusted_proxies_refuse_a_second_proxyfix() -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = make_app(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_TRUSTED_PROXIES=1)
    app.wsgi_app = ProxyFix(app.wsgi_app)  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="already wrapped in ProxyFix"):
        TelegramWebhook(app)


def test_username_is_learned_once_and_a_failed_getme_backs_off(
    telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    tg = TelegramWebhook()
    seen: list[str | None] = []
    tg.message(commands=["start"])(lambda u: seen.append(u.command))
    app = make_app(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.api_url)
    tg.init_app(app)
    client = TelegramTestClient(app)
    telegram.fail("getMe", error_code=500, description="Internal Server Error", times=1)
    for _ in range(3):  # getMe fails: asked once, then not again for a while
        client.message("/start@fake_test_bot", chat_type="group")
    assert len(telegram.calls_to("getMe")) == 1
    assert "asking again in 60 s" in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text

    learned = make_app(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.api_url)
    second = TelegramWebhook()
    second.include_router(tg_router := Router("commands"))
    tg_router.message(commands=["start"])(lambda u: seen.append("second"))
    second.init_app(learned)
    other = TelegramTestClient(learned)
    other.message("/start@fake_test_bot", chat_type="group")
    other.message("/start@some_other_bot", chat_type="group")
    other.message("/start@FAKE_TEST_BOT", chat_type="group")
    assert seen.count("second") == 2
    assert len(telegram.calls_to("getMe")) == 2  # the second app asked once, and kept it
