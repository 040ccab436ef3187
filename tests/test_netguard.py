"""The allowlist of Telegram's networks: parsing, matching, and behind a proxy."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest
import requests
from flask import Flask
from werkzeug.test import TestResponse

from flask_tgwebhook import TelegramWebhook, Update
from flask_tgwebhook.netguard import TELEGRAM_NETWORKS, NetworkAllowlist, parse_networks
from flask_tgwebhook.testing.updates import make_update

from .conftest import SECRET, TOKEN
from .servers import Gunicorn, Nginx

TELEGRAM_ADDRESS = "149.154.167.99"
APPS = Path(__file__).parent / "apps"


def test_off_unless_set() -> None:
    assert parse_networks(None) is None
    assert parse_networks(False) is None
    assert parse_networks("") is None


def test_true_means_telegrams_networks() -> None:
    assert parse_networks(True) == tuple(ipaddress.ip_network(n) for n in TELEGRAM_NETWORKS)


def test_lists_strings_and_the_word_telegram() -> None:
    networks = parse_networks("telegram, 2001:db8::/32 10.1.2.3")
    assert networks is not None
    assert [str(n) for n in networks] == [*TELEGRAM_NETWORKS, "2001:db8::/32", "10.1.2.3/32"]
    assert parse_networks(["10.0.0.0/8", ipaddress.ip_network("::1/128")]) == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )


@pytest.mark.parametrize("value", ["not-a-network", ["10.0.0.0/33"], [], 42, [b"10.0.0.1"]])
def test_bad_values_say_the_fix(value: object) -> None:
    with pytest.raises(RuntimeError, match=re.escape("TELEGRAM_ALLOWED_NETWORKS must be True")):
        parse_networks(value)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("149.154.160.0", True),
        ("149.154.175.255", True),
        ("91.108.4.1", True),
        ("91.108.7.255", True),
        ("::ffff:149.154.167.99", True),  # from a dual-stack socket
        ("2001:db8::5", True),
        ("149.154.176.0", False),
        ("91.108.8.0", False),
        ("127.0.0.1", False),
        ("::1", False),
        ("2001:db9::5", False),
        ("", False),
        (None, False),
        ("garbage", False),
        ("149.154.167.99, 6.6.6.6", False),
        ("149.154.167.99 ", False),
        ("999.154.167.99", False),
        ("149.154.167.99/32", False),
        ("\x00", False),
    ],
)
def test_matching(address: str | None, allowed: bool) -> None:
    allowlist = NetworkAllowlist(parse_networks("telegram 2001:db8::/32") or ())
    assert allowlist.allows(address) is allowed
    assert allowlist.allows(address) is allowed  # the remembered answer is the same


def test_memory_of_answers_is_bounded() -> None:
    allowlist = NetworkAllowlist(parse_networks(True) or ())
    for n in range(5000):
        assert not allowlist.allows(f"garbage-{n}")
    assert len(allowlist._cache) <= 1024
    assert allowlist.allows(TELEGRAM_ADDRESS)


# -- in the app, through the WSGI stack (werkzeug's ProxyFix included) -----------------------


def make_app(**config: object) -> tuple[Flask, list[int]]:
    tg = TelegramWebhook()
    runs: list[int] = []

    @tg.message
    def record(update: Update) -> None:
        runs.append(update.update_id)

    app = Flask("guarded")
    app.config.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_ALLOWED_NETWORKS=True, **config)
    tg.init_app(app)
    return app, runs


def post(app: Flask, remote_addr: str, forwarded: str | None = None) -> TestResponse:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    return app.test_client().post(
        "/telegram/webhook",
        json=make_update(text="x"),
        headers=headers,
        environ_base={"REMOTE_ADDR": remote_addr},
    )


def test_direct_requests() -> None:
    app, runs = make_app()
    assert post(app, TELEGRAM_ADDRESS).status_code == 200
    refused = post(app, "203.0.113.5")
    assert refused.status_code == 403
    assert b"TELEGRAM_ALLOWED_NETWORKS" in refused.data
    assert len(runs) == 1


def test_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    app, runs = make_app()
    assert post(app, "203.0.113.5", forwarded=TELEGRAM_ADDRESS).status_code == 403
    assert runs == []


@pytest.mark.parametrize(
    ("forwarded", "status"),
    [
        (TELEGRAM_ADDRESS, 200),  # nginx wrote the client's address
        (f"{TELEGRAM_ADDRESS}, 6.6.6.6", 403),  # the client forged the left one
        (f"6.6.6.6, {TELEGRAM_ADDRESS}, 6.6.6.6", 403),
        (None, 403),  # no header: the proxy's own address
        ("garbage", 403),
        ("", 403),
        (",,,", 403),
        ("999.999.999.999", 403),
        ("[::1]:80, ", 403),
        (f"{TELEGRAM_ADDRESS}%00", 403),
    ],
)
def test_behind_one_proxy(forwarded: str | None, status: int) -> None:
    app, runs = make_app(TELEGRAM_TRUSTED_PROXIES=1)
    assert post(app, "127.0.0.1", forwarded=forwarded).status_code == status
    assert len(runs) == (status == 200)


def test_behind_two_proxies() -> None:
    app, _ = make_app(TELEGRAM_TRUSTED_PROXIES=2)
    # A load balancer, then nginx: the client's address is the second from the right.
    good = post(app, "127.0.0.1", forwarded=f"6.6.6.6, {TELEGRAM_ADDRESS}, 10.0.0.2")
    forged = post(app, "127.0.0.1", forwarded=f"{TELEGRAM_ADDRESS}, 6.6.6.6, 10.0.0.2")
    assert (good.status_code, forged.status_code) == (200, 403)


def test_address_is_checked_before_the_secret() -> None:
    app, _ = make_app()
    response = app.test_client().post(
        "/telegram/webhook",
        json=make_update(text="x"),
        headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
        environ_base={"REMOTE_ADDR": "203.0.113.5"},
    )
    assert response.status_code == 403
    assert b"TELEGRAM_ALLOWED_NETWORKS" in response.data


@pytest.mark.slow
def test_forged_forwarded_for_through_nginx(tmp_path: Path) -> None:
    """nginx appends the peer's address; a client's own X-Forwarded-For never gets it in."""
    soak_dir = tmp_path / "soak"
    soak_dir.mkdir()
    env = {
        "SOAK_DIR": str(soak_dir),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "SOAK_TELEGRAM_TRUSTED_PROXIES": "1",
        "SOAK_TELEGRAM_ALLOWED_NETWORKS": "true",
    }
    server = Gunicorn("soak_app:app", chdir=APPS, log_dir=soak_dir, workers=1, env=env)
    nginx = None
    try:
        nginx = Nginx([server.port], tmp_path / "nginx")
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "X-Forwarded-For": TELEGRAM_ADDRESS}
        for forwarded in [TELEGRAM_ADDRESS, f"{TELEGRAM_ADDRESS}, {TELEGRAM_ADDRESS}", "garbage"]:
            headers["X-Forwarded-For"] = forwarded
            response = requests.post(
                nginx.url + "/telegram/webhook",
                json=make_update(text="forged"),
                headers=headers,
                timeout=10,
            )
            assert response.status_code == 403
            assert "TELEGRAM_ALLOWED_NETWORKS" in response.text
        assert not (soak_dir / "record.txt").exists()
    finally:
        if nginx is not None:
            nginx.stop()
        server.stop()
