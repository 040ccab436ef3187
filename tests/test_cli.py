"""``flask tg``: every command through Flask's CLI runner, against the emulator on loopback."""

from __future__ import annotations

import datetime as dt
import socket
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner

from flask_tgwebhook import TelegramWebhook, reply
from flask_tgwebhook.certs import generate_self_signed_cert, load_certificate
from flask_tgwebhook.config import derive_secret
from flask_tgwebhook.testing import FakeTelegram, make_update

TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"
SECRET_PART = TOKEN.split(":", 1)[1]
URL = "https://127.0.0.1:8443/telegram/webhook"


@pytest.fixture
def tg() -> TelegramWebhook:
    tg = TelegramWebhook()

    @tg.message(commands=["start"])
    def start(update: Any) -> Any:
        return reply("sendMessage", chat_id=update.chat.id, text="hello")

    @tg.callback_query(data="yes")
    def pressed(update: Any) -> None:
        raise RuntimeError("the handler broke")

    @tg.errorhandler(LookupError)
    def missing(exc: BaseException, update: Any) -> None: ...

    return tg


@pytest.fixture
def app(telegram: FakeTelegram, tg: TelegramWebhook) -> Flask:
    app = Flask("cli_test")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram.api_url)
    tg.init_app(app)
    return app


@pytest.fixture
def run(app: Flask) -> Any:
    runner: FlaskCliRunner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None) -> Result:
        result = runner.invoke(args=["tg", *args], input=input)
        # Whatever the command and however it ends, the token's secret part is never shown.
        assert SECRET_PART not in result.output
        assert SECRET_PART not in repr(result.exception)
        return result

    return invoke


def methods(telegram: FakeTelegram) -> list[str]:
    return [call.method for call in telegram.calls]


# --- set-webhook -------------------------------------------------------------------------


def test_set_webhook(run: Any, telegram: FakeTelegram) -> None:
    result = run("set-webhook", "--url", URL, "--max-connections", "5")
    assert result.exit_code == 0, result.output
    [call] = telegram.calls_to("setWebhook")
    assert call.params["url"] == URL
    assert call.params["secret_token"] == derive_secret(TOKEN)
    assert call.params["allowed_updates"] == ["message", "callback_query"]
    assert call.params["max_connections"] == 5
    assert f"Set the webhook to {URL}" in result.output
    assert "0 pending updates" in result.output
    assert "Allowed updates: message, callback_query" in result.output
    assert methods(telegram)[-1] == "getWebhookInfo"  # reads back what Telegram reports


def test_set_webhook_says_which_types_telegram_dropped(run: Any) -> None:
    result = run("set-webhook", "--url", URL, "--allowed-updates", "message,subscription")
    assert result.exit_code == 0, result.output
    assert "Allowed updates: message\n" in result.output
    assert "Telegram does not know, and will not send: subscription" in result.output


def test_set_webhook_url_from_config_and_options(
    app: Flask, run: Any, telegram: FakeTelegram
) -> None:
    app.config["TELEGRAM_WEBHOOK_URL"] = URL
    result = run(
        "set-webhook",
        "--drop-pending-updates",
        "--ip-address",
        "203.0.113.5",
        "--allowed-updates",
        "message, my_chat_member",
    )
    assert result.exit_code == 0, result.output
    params = telegram.calls_to("setWebhook")[0].params
    assert params["url"] == URL
    assert params["drop_pending_updates"] is True
    assert params["ip_address"] == "203.0.113.5"
    assert params["allowed_updates"] == ["message", "my_chat_member"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--url", "http://127.0.0.1/telegram/webhook"], "only over HTTPS"),
        (["--url", "https://127.0.0.1:8080/telegram/webhook"], "not 8080"),
        (["--url", f"https://bot.example.com/{TOKEN}"], "contains the bot token"),
        (["--url", URL, "--ip-address", "not-an-ip"], "not an IP address"),
        (["--url", URL, "--max-connections", "500"], "500"),
        ([], "No webhook URL"),
    ],
)
def test_set_webhook_refuses_before_any_call(
    run: Any, telegram: FakeTelegram, args: list[str], words: str
) -> None:
    result = run("set-webhook", *args)
    assert result.exit_code == 2
    assert words in result.output
    assert telegram.calls == []


def test_set_webhook_uploads_a_certificate(
    run: Any, telegram: FakeTelegram, tmp_path: Path
) -> None:
    pair = generate_self_signed_cert("127.0.0.1")
    pair.write(tmp_path / "cert.pem", tmp_path / "key.pem")
    result = run("set-webhook", "--url", URL, "--certificate", str(tmp_path / "cert.pem"))
    assert result.exit_code == 0, result.output
    [call] = telegram.calls_to("setWebhook")
    assert call.files["certificate"] == pair.cert_pem  # a multipart file part
    assert call.params["url"] == URL
    assert call.params["secret_token"] == derive_secret(TOKEN)
    assert telegram.webhook_info()["has_custom_certificate"] is True


def test_set_webhook_refuses_a_certificate_for_another_host(
    run: Any, telegram: FakeTelegram, tmp_path: Path
) -> None:
    generate_self_signed_cert("203.0.113.5").write(tmp_path / "cert.pem", tmp_path / "key.pem")
    result = run("set-webhook", "--url", URL, "--certificate", str(tmp_path / "cert.pem"))
    assert result.exit_code == 1
    assert "not for 127.0.0.1" in result.output
    assert telegram.calls == []
    result = run("set-webhook", "--url", URL, "--certificate", str(tmp_path / "key.pem"))
    assert result.exit_code == 2 and "not the private key" in result.output


def test_set_webhook_self_signed(run: Any, telegram: FakeTelegram, tmp_path: Path) -> None:
    result = run("set-webhook", "--url", URL, "--self-signed", "--out-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert load_certificate(cert).ip_addresses == ("127.0.0.1",)
    assert telegram.calls_to("setWebhook")[0].files["certificate"] == cert.read_bytes()
    again = run("set-webhook", "--url", URL, "--self-signed", "--out-dir", str(tmp_path))
    assert again.exit_code == 1 and "--force" in again.output
    assert len(telegram.calls_to("setWebhook")) == 1


def test_flood_control_is_waited_out(run: Any, telegram: FakeTelegram) -> None:
    telegram.fail("setWebhook", error_code=429, parameters={"retry_after": 1})
    result = run("set-webhook", "--url", URL)
    assert result.exit_code == 0, result.output
    assert len(telegram.calls_to("setWebhook")) == 2
    assert telegram.webhook_info()["url"] == URL


def test_server_errors_are_retried_for_reads(run: Any, telegram: FakeTelegram) -> None:
    telegram.fail("getWebhookInfo", error_code=502, times=2)
    result = run("webhook-info")
    assert result.exit_code == 0, result.output
    assert len(telegram.calls_to("getWebhookInfo")) == 3


@pytest.mark.parametrize("error_code", [401, 404])
@pytest.mark.parametrize("command", [["me"], ["webhook-info"], ["set-webhook", "--url", URL]])
def test_bad_token_shows_only_the_bot_id(
    run: Any, telegram: FakeTelegram, command: list[str], error_code: int
) -> None:
    telegram.fail("getMe", error_code=error_code)
    telegram.fail("getWebhookInfo", error_code=error_code)
    result = run(*command)
    assert result.exit_code == 1
    assert "does not accept the token of bot 123456" in result.output
    assert f"({error_code} " in result.output and "@BotFather" in result.output
    assert telegram.calls_to("setWebhook") == []


# --- delete-webhook and webhook-info -----------------------------------------------------


def test_delete_webhook(run: Any, telegram: FakeTelegram) -> None:
    assert run("set-webhook", "--url", URL).exit_code == 0
    result = run("delete-webhook", "--drop-pending-updates")
    assert result.exit_code == 0, result.output
    assert f"Removed the webhook {URL}; 0 pending updates dropped." in result.output
    assert telegram.calls_to("deleteWebhook")[0].params == {"drop_pending_updates": True}
    assert telegram.webhook_info()["url"] == ""
    result = run("delete-webhook")
    assert "No webhook was set; 0 pending updates kept at Telegram." in result.output


def test_webhook_info(run: Any, telegram: FakeTelegram) -> None:
    result = run("webhook-info")
    assert result.exit_code == 0
    assert "none (updates wait for getUpdates)" in result.output
    assert run("webhook-info", "--check").exit_code == 1

    assert run("set-webhook", "--url", URL, "--max-connections", "7").exit_code == 0
    result = run("webhook-info", "--check")
    assert result.exit_code == 0, result.output
    lines = dict(line.split(":", 1) for line in result.output.splitlines())
    assert lines["URL"].strip() == URL
    assert lines["Max connections"].strip() == "7"
    assert lines["Allowed updates"].strip() == "message, callback_query"
    assert lines["Last error"].strip() == "none"


# --- gen-cert ----------------------------------------------------------------------------


def test_gen_cert(app: Flask, run: Any, tmp_path: Path) -> None:
    result = run("gen-cert", "--host", "203.0.113.5", "--days", "30", "--out-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    info = load_certificate(cert)
    assert info.ip_addresses == ("203.0.113.5",) and info.common_name == "203.0.113.5"
    assert info.fingerprint_sha256 in result.output
    assert f"flask tg set-webhook --certificate {cert}" in result.output
    old = cert.read_bytes()

    refused = run("gen-cert", "--host", "203.0.113.5", "--out-dir", str(tmp_path))
    assert refused.exit_code == 1 and "--force" in refused.output
    assert cert.read_bytes() == old

    app.config["TELEGRAM_WEBHOOK_URL"] = "https://bot.example.com:8443/hook"
    custom = tmp_path / "custom.crt"
    result = run("gen-cert", "--cert", str(custom), "--key", str(tmp_path / "k"), "--force")
    assert result.exit_code == 0, result.output
    assert load_certificate(custom).dns_names == ("bot.example.com",)


def test_gen_cert_needs_a_host(run: Any) -> None:
    result = run("gen-cert")
    assert result.exit_code == 2 and "--host" in result.output


# --- handlers and me ---------------------------------------------------------------------


def test_handlers(run: Any) -> None:
    result = run("handlers")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "message"
    assert "test_cli:tg.<locals>.start" in lines[1] and "Command(start)" in lines[1]
    assert lines[2] == "callback_query"
    assert "pressed" in lines[3] and "'yes'" in lines[3]
    assert "LookupError" in result.output and "missing" in result.output
    assert lines[-1] == "allowed_updates: message, callback_query"


def test_me(run: Any, telegram: FakeTelegram) -> None:
    result = run("me")
    assert result.exit_code == 0, result.output
    assert "123456" in result.output
    assert "@fake_test_bot" in result.output
    assert methods(telegram) == ["getMe"]


# --- poll --------------------------------------------------------------------------------


def test_poll_asks_before_removing_the_webhook(run: Any, telegram: FakeTelegram) -> None:
    assert run("set-webhook", "--url", URL).exit_code == 0
    result = run("poll", "--once", "--timeout", "0", input="n\n")
    assert result.exit_code == 1
    assert "Remove it?" in result.output
    assert telegram.calls_to("deleteWebhook") == []
    assert telegram.calls_to("getUpdates") == []


def test_poll_removes_the_webhook_when_told(run: Any, telegram: FakeTelegram) -> None:
    assert run("set-webhook", "--url", URL).exit_code == 0
    result = run("poll", "--once", "--timeout", "0", input="y\n")
    assert result.exit_code == 0, result.output
    assert telegram.calls_to("deleteWebhook")
    [call] = telegram.calls_to("getUpdates")
    assert call.params["allowed_updates"] == ["message", "callback_query"]
    assert "Handled 0 updates." in result.output


def test_poll_explains_a_conflict(run: Any, telegram: FakeTelegram) -> None:
    telegram.fail("getUpdates", error_code=409)
    result = run("poll", "--once", "--timeout", "0")
    assert result.exit_code == 1
    assert "409" in result.output and "another" in result.output
    assert "flask tg delete-webhook" in result.output


def test_unreachable_api_is_reported_without_the_token() -> None:
    with socket.socket() as probe:  # a port on loopback that nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = Flask("unreachable")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=f"http://127.0.0.1:{port}")
    TelegramWebhook(app)
    result = app.test_cli_runner().invoke(args=["tg", "me"])
    assert result.exit_code == 1
    assert "could not reach the Bot API" in result.output
    assert "/bot123456:<redacted>/getMe" in result.output  # requests' message, redacted
    assert SECRET_PART not in result.output


def test_webhook_info_shows_a_recent_error_as_a_date(run: Any, telegram: FakeTelegram) -> None:
    # Nothing answers at URL, so Telegram's delivery fails and it keeps the error.
    assert run("set-webhook", "--url", URL).exit_code == 0
    telegram.deliver(make_update("message", text="hi"), wait=True)
    error_date = telegram.webhook_info()["last_error_date"]
    result = run("webhook-info")
    assert result.exit_code == 0
    last = next(line for line in result.output.splitlines() if line.startswith("Last error:"))
    when = dt.datetime.fromtimestamp(error_date, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert when in last and "ago):" in last
    assert telegram.webhook_info()["last_error_message"] in last
    assert str(error_date) not in result.output  # a date, not the epoch number
    checked = run("webhook-info", "--check")
    assert checked.exit_code == 1
    assert "failed to deliver in the last 600 seconds" in checked.output


def test_set_webhook_reports_telegrams_last_error(run: Any, telegram: FakeTelegram) -> None:
    # Nothing answers at URL, so the delivery fails. Setting the same webhook again keeps it
    # (and the error, as on Telegram); the read-back of getWebhookInfo shows the error, so a
    # redeploy does not hide a broken webhook.
    assert run("set-webhook", "--url", URL).exit_code == 0
    telegram.deliver(make_update("message", text="hi"), wait=True)
    message = telegram.webhook_info()["last_error_message"]
    assert message
    result = run("set-webhook", "--url", URL)
    assert result.exit_code == 0, result.output
    assert "Telegram's last delivery error, at " in result.output
    assert message in result.output
    assert methods(telegram)[-1] == "getWebhookInfo"


def test_poll_runs_updates_through_the_handlers(run: Any, telegram: FakeTelegram) -> None:
    telegram.deliver(make_update("message", text="/start", chat_id=42, update_id=10))
    telegram.deliver(make_update("callback_query", data="yes", update_id=11))
    telegram.deliver(make_update("message", text="no handler for this", update_id=12))
    result = run("poll", "--max-updates", "3", "--timeout", "0")
    assert result.exit_code == 0, result.output
    assert "Update 10: handled, replied with sendMessage." in result.output
    assert "Update 11: the handler raised" in result.output
    assert "RuntimeError: the handler broke" in result.output  # the traceback
    assert "Update 12: no handler." in result.output
    assert "Handled 3 updates." in result.output
    [sent] = telegram.calls_to("sendMessage")
    assert sent.params == {"chat_id": 42, "text": "hello"}
    assert telegram.webhook_info()["pending_update_count"] == 0  # confirmed before exiting
    assert telegram.calls_to("deleteWebhook") == []  # none was set, so none was removed
