"""Several bots in one app: each its own token, route, secret, handlers, state and webhook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_tgwebhook import TelegramWebhook, reply
from flask_tgwebhook.config import derive_secret
from flask_tgwebhook.polling import run_update as run_polled
from flask_tgwebhook.startup import setup_webhooks
from flask_tgwebhook.state import get_state
from flask_tgwebhook.testing import FakeTelegram, make_update

from .conftest import TOKEN, load_example
from .servers import wait_until

SUPPORT_TOKEN = "777000:TEST-the-support-bots-fake-token"
URL = "https://bot.example.com/telegram/webhook"
SUPPORT_URL = "https://bot.example.com/telegram/support/webhook"


@pytest.fixture
def emulator() -> Iterator[FakeTelegram]:
    with FakeTelegram(set_webhook_interval=0) as telegram:  # serves every bot
        yield telegram


def two_bots(
    telegram: FakeTelegram, **config: Any
) -> tuple[Flask, TelegramWebhook, TelegramWebhook]:
    main, support = TelegramWebhook(), TelegramWebhook(name="support")

    @main.message
    def main_echo(update: Any) -> Any:
        return reply("sendMessage", chat_id=update.chat_id, text="main")

    @support.message
    def support_echo(update: Any) -> Any:
        support.bot.send_message(chat_id=update.chat_id, text="support")

    app = Flask("two_bots")
    app.config.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=telegram.api_url,
        TELEGRAM_WEBHOOK_URL=URL,
        TELEGRAM_BOTS={"support": {"BOT_TOKEN": SUPPORT_TOKEN, "WEBHOOK_URL": SUPPORT_URL}},
        **config,
    )
    main.init_app(app)
    support.init_app(app)
    return app, main, support


def post(app: Flask, path: str, token: str, update: dict[str, Any]) -> Any:
    headers = {"X-Telegram-Bot-Api-Secret-Token": derive_secret(token)}
    return app.test_client().post(path, json=update, headers=headers)


def test_each_bot_has_its_route_secret_handlers_and_state(emulator: FakeTelegram) -> None:
    app, main, support = two_bots(emulator)
    answer = post(app, "/telegram/webhook", TOKEN, make_update("message", text="hi"))
    assert answer.status_code == 200 and answer.get_json()["text"] == "main"
    answer = post(app, "/telegram/support/webhook", SUPPORT_TOKEN, make_update(text="help"))
    assert answer.status_code == 200 and answer.data == b""  # replied through its own client
    [sent] = emulator.calls_to("sendMessage")
    assert sent.params["text"] == "support" and sent.bot_id == 777000  # the support bot's token
    # One bot's secret is refused on the other's route.
    assert post(app, "/telegram/support/webhook", TOKEN, make_update(text="x")).status_code == 403
    assert post(app, "/telegram/webhook", SUPPORT_TOKEN, make_update(text="x")).status_code == 403
    assert main.state(app) is app.extensions["tgwebhook"] is get_state(app)
    assert support.state(app) is get_state(app, name="support") is not main.state(app)
    assert support.state(app).settings.token == SUPPORT_TOKEN
    assert support.state(app).key_prefix != main.state(app).key_prefix
    assert app.url_map.bind("x").match("/telegram/support/webhook", "POST")[0] == (
        "tgwebhook_support.webhook"
    )


def test_a_named_bot_reads_the_environment_and_inherits_shared_keys(
    emulator: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_SHOP_BOT_TOKEN", SUPPORT_TOKEN)
    app = Flask("env_bot")
    app.config.update(
        TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=emulator.api_url, TELEGRAM_ON_ERROR="retry"
    )
    TelegramWebhook(app)
    shop = TelegramWebhook(app, name="shop")
    settings = shop.state(app).settings
    assert settings.token == SUPPORT_TOKEN  # from TELEGRAM_SHOP_BOT_TOKEN, not the app's token
    assert settings.webhook_path == "/telegram/shop/webhook"
    assert settings.api_url == emulator.api_url and settings.on_error == "retry"  # shared keys


def test_names_and_double_registration_are_checked() -> None:
    with pytest.raises(ValueError, match="lowercase letters"):
        TelegramWebhook(name="Support Bot")
    app = Flask("twice")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN)
    TelegramWebhook(app, name="support")
    with pytest.raises(RuntimeError, match="for the bot 'support'"):
        TelegramWebhook(app, name="support")
    with app.app_context(), pytest.raises(RuntimeError, match="no bot named 'shop'"):
        get_state(name="shop")


def test_setup_webhooks_sets_every_bots_webhook(emulator: FakeTelegram) -> None:
    app, _, _ = two_bots(emulator)
    reports = setup_webhooks(app, environ={})
    assert set(reports) == {None, "support"} and all(r.changed for r in reports.values())
    by_bot = {call.bot_id: call.params for call in emulator.calls_to("setWebhook")}
    assert by_bot[123456]["url"] == URL
    assert by_bot[777000]["url"] == SUPPORT_URL
    assert by_bot[777000]["secret_token"] == derive_secret(SUPPORT_TOKEN)


def test_cli_bot_option_picks_the_bot(emulator: FakeTelegram) -> None:
    app, _, _ = two_bots(emulator)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["tg", "--bot", "support", "set-webhook"])
    assert result.exit_code == 0, result.output
    [call] = emulator.calls_to("setWebhook")
    assert call.bot_id == 777000 and call.params["url"] == SUPPORT_URL
    result = runner.invoke(args=["tg", "--bot", "nope", "me"])
    assert result.exit_code != 0 and "no bot named 'nope'" in result.output
    for output in (result.output,):
        assert SUPPORT_TOKEN.split(":")[1] not in output and TOKEN.split(":")[1] not in output


def test_the_two_bots_example() -> None:
    path = Path(__file__).parent.parent / "docs" / "examples" / "two_bots.py"
    example = load_example(path, "two_bots_example")
    app = example.create_app(
        TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_BOTS={"support": {"BOT_TOKEN": SUPPORT_TOKEN}}
    )
    shop = post(app, "/telegram/webhook", TOKEN, make_update(text="/start"))
    assert shop.get_json()["text"] == "Welcome to the shop!"
    help_ = post(app, "/telegram/support/webhook", SUPPORT_TOKEN, make_update(text="help!"))
    assert help_.get_json()["text"] == "A human will answer soon."


def test_each_bot_has_its_own_signed_links(emulator: FakeTelegram) -> None:
    app, main, support = two_bots(
        emulator, SECRET_KEY="links-key", TELEGRAM_EXTERNAL_BASE_URL="https://bot.example.com"
    )
    main.external("paid")(lambda call: f"main {call.user_id}")
    support.external("paid")(lambda call: f"support {call.user_id}")
    with app.app_context():
        main_url = main.external_url("paid", user_id=1)
        support_url = support.external_url("paid", user_id=2)
    assert "/telegram/external/" in main_url and "/telegram/support/external/" in support_url
    client = app.test_client()
    main_path = main_url.removeprefix("https://bot.example.com")
    support_path = support_url.removeprefix("https://bot.example.com")
    assert client.get(main_path).data == b"main 1"
    assert client.get(support_path).data == b"support 2"
    # A link is bound to its bot: the main bot's token on the support bot's path is refused.
    token = main_path.rsplit("/", 1)[1]
    assert client.get(f"/telegram/support/external/{token}").status_code == 403


def test_a_named_bots_updates_run_its_handlers_under_the_thread_executor(
    emulator: FakeTelegram,
) -> None:
    app, _, support = two_bots(emulator, TELEGRAM_EXECUTOR="thread", TELEGRAM_STORE_URL="memory://")
    answer = post(app, "/telegram/support/webhook", SUPPORT_TOKEN, make_update(text="help"))
    assert answer.status_code == 200
    wait_until(
        lambda: bool(emulator.calls_to("sendMessage")), timeout=10, what="the support handler"
    )
    [sent] = emulator.calls_to("sendMessage")  # not the main bot's reply ("main")
    assert sent.params["text"] == "support" and sent.bot_id == 777000
    assert support.state(app).stats["handled"] == 1


def test_polling_a_named_bot_runs_its_handlers(emulator: FakeTelegram) -> None:
    app, main, support = two_bots(emulator)
    with app.app_context():
        run_polled(support, app, support.state(app).bot, make_update(text="help"))
    [sent] = emulator.calls_to("sendMessage")
    assert sent.params["text"] == "support" and sent.bot_id == 777000
    assert support.state(app).stats["handled"] == 1 and main.state(app).stats["handled"] == 0
