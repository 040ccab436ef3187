"""``flask tg doctor`` on broken setups, each with its diagnosis, and on a working one (exit 0).

Everything is on loopback: the emulator (conftest's ``telegram``) is the Bot API, and the
webhook is the app itself served over TLS by werkzeug in a thread, with the certificate each
case needs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from flask_tgwebhook import Bot, TelegramWebhook
from flask_tgwebhook.certs import generate_self_signed_cert
from flask_tgwebhook.client import InputFile
from flask_tgwebhook.config import derive_secret
from flask_tgwebhook.delivery_errors import explain_delivery_error
from flask_tgwebhook.doctor import _reserved_address
from flask_tgwebhook.testing import FakeTelegram, make_update

from .servers import free_port

TOKEN = "123456:TEST-fake-token-for-flask-tgwebhook"
OTHER_TOKEN = "123456:TEST-another-token-for-this-bot"
PATH = "/telegram/webhook"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_WEBHOOK_CERTIFICATE"):
        monkeypatch.delenv(key, raising=False)


def make_app(telegram: FakeTelegram, token: str = TOKEN, **config: Any) -> Flask:
    app = Flask("doctor_test")
    app.config.update(TELEGRAM_BOT_TOKEN=token, TELEGRAM_API_URL=telegram.api_url, **config)
    tg = TelegramWebhook()

    @tg.message
    def echo(update: Any) -> None: ...

    tg.init_app(app)
    return app


def pair(tmp_path: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    cert, key = tmp_path / f"{host}-cert.pem", tmp_path / f"{host}-key.pem"
    generate_self_signed_cert(host).write(cert, key)
    return cert, key


def expired_pair(tmp_path: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now - dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "expired-cert.pem", tmp_path / "expired-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class TLSServer:
    """``app`` over TLS on 127.0.0.1 with the given pair, in a thread."""

    def __init__(self, app: Flask, cert: Path, key: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, app, threaded=True, ssl_context=context
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server.server_port}{PATH}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def served(tmp_path: Path, telegram: FakeTelegram) -> Iterator[tuple[Flask, TLSServer, Path]]:
    """The app served with a good pair; its config names the URL and the certificate."""
    cert, key = pair(tmp_path)
    app = make_app(telegram, TELEGRAM_WEBHOOK_CERTIFICATE=str(cert))
    server = TLSServer(app, cert, key)
    app.config["TELEGRAM_WEBHOOK_URL"] = server.url
    yield app, server, cert
    server.stop()


def set_webhook(telegram: FakeTelegram, url: str, cert: Path | None, secret: str) -> None:
    with Bot(TOKEN, api_url=telegram.api_url) as bot:
        bot.call(
            "setWebhook",
            url=url,
            secret_token=secret,
            certificate=InputFile(cert) if cert else None,
        )


def doctor(app: Flask, *args: str) -> Result:
    result = app.test_cli_runner().invoke(args=["tg", "doctor", *args])
    assert TOKEN.split(":")[1] not in result.output
    return result


def problems(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("PROBLEM")]


def test_a_working_setup_exits_0(telegram: FakeTelegram, served: Any) -> None:
    app, server, cert = served
    set_webhook(telegram, server.url, cert, derive_secret(TOKEN))
    result = doctor(app, "--local")
    assert result.exit_code == 0, result.output
    assert problems(result) == []
    assert "No problems found." in result.output
    assert "TLSv1." in result.output  # reachable over TLS 1.2+


def test_an_http_url(telegram: FakeTelegram) -> None:
    app = make_app(telegram, TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{free_port()}{PATH}")
    result = doctor(app, "--local")
    assert result.exit_code == 1
    assert any("is not https" in line and "Fix:" in line for line in problems(result))


def test_port_8080_and_a_loopback_address(telegram: FakeTelegram) -> None:
    app = make_app(telegram, TELEGRAM_WEBHOOK_URL=f"https://127.0.0.1:8080{PATH}")
    found = problems(doctor(app))
    assert any("port 8080" in line and "443, 80, 88 and 8443" in line for line in found)
    assert any("loopback address" in line for line in found)


@pytest.mark.parametrize(
    ("host", "words"),
    [
        ("10.1.2.3", "private or reserved"),
        ("192.168.0.10", "private or reserved"),
        ("::1", "loopback"),
        ("203.0.113.5", "private or reserved"),  # TEST-NET-3
        ("8.8.8.8", None),
    ],
)
def test_reserved_addresses(host: str, words: str | None) -> None:
    found = _reserved_address(host)  # an IP literal: no lookup, no traffic
    assert (found is None) if words is None else (words in str(found))


def doctor_served_with(app: Flask, cert: Path, key: Path) -> list[str]:
    """The doctor's problems with ``app`` served with ``cert`` (also the uploaded one)."""
    server = TLSServer(app, cert, key)
    try:
        app.config.update(TELEGRAM_WEBHOOK_URL=server.url, TELEGRAM_WEBHOOK_CERTIFICATE=str(cert))
        return problems(doctor(app, "--local"))
    finally:
        server.stop()


def test_wrong_host_in_the_certificate(tmp_path: Path, telegram: FakeTelegram, served: Any) -> None:
    found = doctor_served_with(served[0], *pair(tmp_path, "bot.example.com"))
    assert any(
        "certificate" in line and "bot.example.com, not for 127.0.0.1" in line for line in found
    )
    assert any("flask tg gen-cert --host 127.0.0.1" in line for line in found)


def test_an_expired_certificate(tmp_path: Path, telegram: FakeTelegram, served: Any) -> None:
    found = doctor_served_with(served[0], *expired_pair(tmp_path))
    assert any("expired on" in line and "gen-cert --force" in line for line in found)
    assert any(line.startswith("PROBLEM  reachable:") and "expired" in line for line in found)


def test_a_der_certificate(tmp_path: Path, telegram: FakeTelegram, served: Any) -> None:
    app, _, cert = served
    der = tmp_path / "cert.der"
    der.write_bytes(
        x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    )
    app.config["TELEGRAM_WEBHOOK_CERTIFICATE"] = str(der)
    found = problems(doctor(app, "--local"))
    assert any("DER-encoded" in line and "openssl x509 -inform der" in line for line in found)


def test_a_self_signed_certificate_not_uploaded(telegram: FakeTelegram, served: Any) -> None:
    app, _, _ = served
    app.config["TELEGRAM_WEBHOOK_CERTIFICATE"] = None
    found = problems(doctor(app, "--local"))
    assert any("nobody vouches for" in line and "--certificate" in line for line in found)


def test_a_wrong_secret(tmp_path: Path, telegram: FakeTelegram, served: Any) -> None:
    app, _, cert = served
    # The server runs with another token (so another secret) than this config.
    other = make_app(telegram, token=OTHER_TOKEN)
    key = cert.with_name("127.0.0.1-key.pem")
    other_server = TLSServer(other, cert, key)
    try:
        app.config["TELEGRAM_WEBHOOK_URL"] = other_server.url
        found = problems(doctor(app, "--local"))
    finally:
        other_server.stop()
    assert any(
        line.startswith("PROBLEM  secret:") and "refused this app's secret (403)" in line
        for line in found
    )


def test_nginx_down(telegram: FakeTelegram, served: Any) -> None:
    app, _, _ = served
    app.config["TELEGRAM_WEBHOOK_URL"] = f"https://127.0.0.1:{free_port()}{PATH}"
    found = problems(doctor(app, "--local"))
    assert any("Nothing accepts connections at 127.0.0.1:" in line for line in found)
    assert any("nginx" in line for line in found)


def test_a_token_telegram_refuses(telegram: FakeTelegram) -> None:
    app = make_app(telegram, token=OTHER_TOKEN)
    result = doctor(app, "--local")
    assert result.exit_code == 1
    [line] = [line for line in problems(result) if line.startswith("PROBLEM  token:")]
    assert "refused the token of bot 123456 from the app's config (TELEGRAM_BOT_TOKEN)" in line
    assert "401" in line and "@BotFather" in line


def test_telegrams_last_error_in_plain_words(telegram: FakeTelegram, served: Any) -> None:
    app, server, cert = served
    set_webhook(telegram, server.url, cert, "an-old-secret")  # a stale secret at Telegram
    telegram.deliver(make_update(text="hi"), wait=True)
    assert "403" in telegram.webhook_info()["last_error_message"]
    found = problems(doctor(app, "--local"))
    assert any(
        "Wrong response from the webhook: 403" in line and "flask tg set-webhook" in line
        for line in found
    )


def test_another_deployment_took_the_webhook(telegram: FakeTelegram, served: Any) -> None:
    app, _, cert = served
    set_webhook(telegram, "https://127.0.0.2:8443/telegram/webhook", cert, "staging")
    found = problems(doctor(app, "--local"))
    assert any("another deployment" in line for line in found)


def test_the_store_unreachable(telegram: FakeTelegram, tmp_path: Path) -> None:
    app = make_app(telegram, TELEGRAM_DEDUPE_URL=f"redis://127.0.0.1:{free_port()}/0")
    found = problems(doctor(app, "--local"))
    assert any(line.startswith("PROBLEM  store:") and "not reachable" in line for line in found)


def test_signed_links_without_secret_key(telegram: FakeTelegram) -> None:
    app = make_app(telegram)
    tg: TelegramWebhook = app.extensions["tgwebhook"].ext
    tg.add_external("paid", lambda call: None)
    found = problems(doctor(app, "--local"))
    assert any("SECRET_KEY is not set" in line for line in found)


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("Wrong response from the webhook: 502 Bad Gateway", "gunicorn down"),
        ("Wrong response from the webhook: 404 Not Found", "TELEGRAM_WEBHOOK_PATH"),
        ("SSL error {error:0A000086:SSL routines::certificate verify failed}", "--certificate"),
        ("Connection refused", "nothing listens"),
        ("Read timeout expired", "TELEGRAM_EXECUTOR"),
        ("Wrong response from the webhook: 301 Moved Permanently", "no redirect"),
    ],
)
def test_delivery_errors_explained(message: str, words: str) -> None:
    assert words in explain_delivery_error(message)


def test_plain_http_on_the_https_port(telegram: FakeTelegram, served: Any) -> None:
    app, _, _ = served
    plain = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=plain.serve_forever, daemon=True)
    thread.start()
    try:
        app.config["TELEGRAM_WEBHOOK_URL"] = f"https://127.0.0.1:{plain.server_port}{PATH}"
        found = problems(doctor(app, "--local"))
    finally:
        plain.shutdown()
        plain.server_close()
        thread.join(5)
    assert any("No TLS 1.2+ handshake" in line and "plain http" in line for line in found)


def test_a_url_whose_path_the_app_does_not_serve(telegram: FakeTelegram, served: Any) -> None:
    app, server, _ = served
    # The app was set up for /telegram/webhook; the URL (a proxy's) says another path.
    app.config["TELEGRAM_WEBHOOK_URL"] = server.url.replace(PATH, "/bot/hook")
    found = problems(doctor(app, "--local"))
    assert any("Telegram calls /bot/hook, but the app's route is" in line for line in found)
    assert any("answers 404" in line and "TELEGRAM_WEBHOOK_PATH" in line for line in found)
