"""The deploy kit end to end, on loopback: the files our commands make, the servers we document.

- nginx (Debian's) terminating TLS with a certificate from ``flask tg gen-cert`` and the site
  from ``flask tg nginx-config``, in front of gunicorn started with
  ``-c python:flask_tgwebhook.gunicorn_conf``; the emulator delivers over https, verifying
  the uploaded certificate; a signed link goes through the same nginx; ``flask tg doctor``
  finds nothing wrong; a ``kill -HUP`` of gunicorn mid-stream loses nothing.
- gunicorn serving TLS itself with the same kind of pair, no nginx.

The emulator accepts any port (``allow_http``) and loopback (``allow_loopback``), so nothing
binds a privileged port. The start-up hook runs for real with ``TELEGRAM_BOT_ENABLED=false``
(our own URL check would refuse the free port); the test sets the webhook through the
emulator's API, uploading the certificate as ``set-webhook`` would.
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

import flask_tgwebhook.gunicorn_conf
from flask_tgwebhook import Bot, TelegramWebhook
from flask_tgwebhook.client import InputFile
from flask_tgwebhook.config import derive_secret
from flask_tgwebhook.testing import FakeTelegram, make_update

from .servers import Gunicorn, NginxSite, free_port, wait_until

TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"
SECRET_KEY = "deploy-test-secret-key-not-for-production"
APPS = Path(__file__).parent / "apps"
PATH = "/telegram/webhook"
CONF = ["-c", "python:flask_tgwebhook.gunicorn_conf"]


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram(
        token=TOKEN,
        allow_loopback=True,
        allow_http=True,
        set_webhook_interval=0,
        max_attempts=None,  # Telegram keeps trying; the test's waits bound it
        retry_delay=0.02,
        max_retry_delay=0.5,
        webhook_timeout=30,
    ) as telegram:
        yield telegram


def cli_app(telegram: FakeTelegram, url: str, **config: Any) -> Flask:
    """The app as an operator's shell sees it, for ``flask tg ...`` commands."""
    app = Flask("deploy_cli")
    app.config.update(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_API_URL=telegram.api_url,
        TELEGRAM_WEBHOOK_URL=url,
        TELEGRAM_TRUSTED_PROXIES=1,
        SECRET_KEY=SECRET_KEY,
        **config,
    )
    tg = TelegramWebhook()
    tg.add_external("ping", lambda call: None)
    tg.init_app(app)
    return app


def flask_tg(app: Flask, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["tg", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def gen_cert(app: Flask, directory: Path) -> tuple[Path, Path]:
    flask_tg(app, "gen-cert", "--host", "127.0.0.1", "--out-dir", str(directory))
    return directory / "cert.pem", directory / "key.pem"


def server_env(telegram: FakeTelegram, deploy_dir: Path) -> dict[str, str]:
    return {
        "DEPLOY_DIR": str(deploy_dir),
        "SECRET_KEY": SECRET_KEY,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": telegram.api_url,
        "TELEGRAM_BOT_ENABLED": "false",
    }


def set_webhook(telegram: FakeTelegram, url: str, cert: Path) -> None:
    with Bot(TOKEN, api_url=telegram.api_url) as bot:
        bot.call(
            "setWebhook", url=url, secret_token=derive_secret(TOKEN), certificate=InputFile(cert)
        )
    assert telegram.webhook_info()["has_custom_certificate"] is True


def recorded(deploy_dir: Path) -> list[int]:
    path = deploy_dir / "record.txt"
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def deliver_all(
    telegram: FakeTelegram, deploy_dir: Path, count: int, first_id: int, midway: Any = None
) -> None:
    """Deliver ``count`` updates; call ``midway()`` a third of the way in; check each is
    handled exactly once and answered with its webhook reply."""
    updates = [
        make_update(text=f"hi {i}", chat_id=500 + i % 7, update_id=first_id + i)
        for i in range(count)
    ]
    telegram.deliver_many(updates)
    if midway is not None:
        wait_until(
            lambda: len(recorded(deploy_dir)) >= count // 3, timeout=60, what="a third handled"
        )
        midway()
    wanted = {u["update_id"] for u in updates}
    wait_until(lambda: wanted <= set(recorded(deploy_dir)), timeout=90, what="every update handled")
    telegram.wait_idle(timeout=30)
    counts = Counter(recorded(deploy_dir))
    assert {uid: n for uid, n in counts.items() if uid in wanted and n != 1} == {}
    replies = [
        c.params["text"] for c in telegram.calls_to("sendMessage") if c.source == "webhook_reply"
    ]
    assert sorted(replies) == sorted(f"got {uid}" for uid in wanted)
    assert telegram.webhook_info()["pending_update_count"] == 0


@dataclass
class Behind:
    """gunicorn behind nginx, set up with our commands."""

    url: str
    cert: Path
    gunicorn: Gunicorn
    nginx: NginxSite
    cli: Flask
    deploy_dir: Path


@pytest.fixture
def behind_nginx(tmp_path: Path, telegram: FakeTelegram) -> Iterator[Behind]:
    deploy_dir = tmp_path / "deploy"
    deploy_dir.mkdir()
    port = free_port()
    url = f"https://127.0.0.1:{port}{PATH}"
    cli = cli_app(telegram, url)
    cert, _ = gen_cert(cli, tmp_path / "tls")  # nginx-config finds key.pem beside it
    cli.config["TELEGRAM_WEBHOOK_CERTIFICATE"] = str(cert)
    env = {**server_env(telegram, deploy_dir), "TELEGRAM_TRUSTED_PROXIES": "1"}
    gunicorn = Gunicorn("deploy_app:app", chdir=APPS, log_dir=tmp_path / "logs", env=env, args=CONF)
    site = flask_tg(
        cli,
        "nginx-config",
        "--listen", f"127.0.0.1:{port}",
        "--upstream", f"127.0.0.1:{gunicorn.port}",
        "--access-log", str(tmp_path / "nginx" / "access.log"),
    )  # fmt: skip
    nginx = NginxSite(site, port, tmp_path / "nginx")
    try:
        set_webhook(telegram, url, cert)
        yield Behind(url, cert, gunicorn, nginx, cli, deploy_dir)
    finally:
        nginx.stop()
        gunicorn.stop()


@pytest.mark.slow
def test_nginx_from_our_commands_in_front_of_gunicorn(
    behind_nginx: Behind, telegram: FakeTelegram, tmp_path: Path
) -> None:
    setup = behind_nginx
    # The start-up hook ran in the master, once, and said what it did.
    assert "TELEGRAM_BOT_ENABLED is off" in setup.gunicorn.log()
    deliver_all(telegram, setup.deploy_dir, 60, 1000)
    assert telegram.webhook_info().get("last_error_message") is None

    # A signed link through the same nginx, verified against the same certificate.
    with setup.cli.test_request_context():
        tg: TelegramWebhook = setup.cli.extensions["tgwebhook"].ext
        link = tg.external_url("ping", user_id=42)
    assert link.startswith(f"https://127.0.0.1:{setup.nginx.port}/telegram/external/")
    answer = requests.get(link, verify=str(setup.cert), timeout=10)
    assert (answer.status_code, answer.text) == (200, "pong 42")
    token = link.rsplit("/", 1)[1]
    log_file = tmp_path / "nginx" / "access.log"
    # nginx writes the line once the request is finalized, just after the answer.
    wait_until(lambda: "GET /telegram/external/" in log_file.read_text(), timeout=10, what="log")
    access_log = log_file.read_text()
    assert "/telegram/external/<redacted>" in access_log and token not in access_log

    # The doctor, pointed at this deploy, finds nothing wrong.
    result = setup.cli.test_cli_runner().invoke(args=["tg", "doctor", "--local"])
    assert result.exit_code == 0, result.output
    assert "No problems found." in result.output


@pytest.mark.slow
def test_a_hup_mid_stream_loses_nothing(behind_nginx: Behind, telegram: FakeTelegram) -> None:
    setup = behind_nginx
    before = set(setup.gunicorn.worker_pids())
    deliver_all(telegram, setup.deploy_dir, 240, 5000, midway=setup.gunicorn.reload)
    wait_until(
        lambda: not before & set(setup.gunicorn.worker_pids()),
        timeout=30,
        what="the old workers to be replaced",
    )


@pytest.mark.slow
def test_gunicorn_serving_tls_itself(tmp_path: Path, telegram: FakeTelegram) -> None:
    deploy_dir = tmp_path / "deploy"
    deploy_dir.mkdir()
    cli = cli_app(telegram, "https://127.0.0.1/telegram/webhook")
    cert, key = gen_cert(cli, tmp_path / "tls")
    gunicorn = Gunicorn(
        "deploy_app:app",
        chdir=APPS,
        log_dir=tmp_path / "logs",
        env=server_env(telegram, deploy_dir),
        args=[*CONF, "--certfile", str(cert), "--keyfile", str(key), "--access-logfile", "-"],
    )
    try:
        url = f"https://127.0.0.1:{gunicorn.port}{PATH}"
        set_webhook(telegram, url, cert)
        deliver_all(telegram, deploy_dir, 40, 9000)
        served = cli_app(telegram, url)
        with served.test_request_context():
            tg: TelegramWebhook = served.extensions["tgwebhook"].ext
            link = tg.external_url("ping", user_id=7)
        answer = requests.get(link, verify=str(cert), timeout=10)
        assert (answer.status_code, answer.text) == (200, "pong 7")
        wait_until(lambda: "/telegram/external/" in gunicorn.log(), timeout=10, what="access log")
        log = gunicorn.log()
        assert link.rsplit("/", 1)[1] not in log and TOKEN.split(":")[1] not in log
    finally:
        gunicorn.stop()


def test_the_gunicorn_config_honours_port_and_web_concurrency(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORT", "5123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    conf = importlib.reload(flask_tgwebhook.gunicorn_conf)
    try:
        assert conf.bind == ["0.0.0.0:5123"]
        assert conf.workers == 3
        assert conf.timeout < 60  # Telegram waits 60 s for an answer
    finally:
        monkeypatch.delenv("PORT")
        monkeypatch.delenv("WEB_CONCURRENCY")
        conf = importlib.reload(flask_tgwebhook.gunicorn_conf)
    assert conf.bind == ["127.0.0.1:8000"] and conf.workers == 2
    assert os.environ.get("PORT") is None


@pytest.mark.slow
def test_the_hook_uploads_gunicorns_self_signed_certificate(
    tmp_path: Path, telegram: FakeTelegram
) -> None:
    deploy_dir = tmp_path / "deploy"
    deploy_dir.mkdir()
    cli = cli_app(telegram, "https://127.0.0.1:8443/telegram/webhook")
    cert, key = gen_cert(cli, tmp_path / "tls")
    env = {
        **server_env(telegram, deploy_dir),
        "TELEGRAM_BOT_ENABLED": "true",
        # The URL the world would use; gunicorn itself listens on a free port here.
        "TELEGRAM_WEBHOOK_URL": "https://127.0.0.1:8443/telegram/webhook",
    }
    gunicorn = Gunicorn(
        "deploy_app:app",
        chdir=APPS,
        log_dir=tmp_path / "logs",
        env=env,
        args=[*CONF, "--certfile", str(cert), "--keyfile", str(key)],
    )
    try:
        [call] = telegram.calls_to("setWebhook")
        assert call.files["certificate"] == cert.read_bytes()
        assert telegram.webhook_info()["has_custom_certificate"] is True
    finally:
        gunicorn.stop()
