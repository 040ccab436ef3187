"""Web App initData: the HMAC check, the third-party Ed25519 check and the view decorator."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask

from flask_tgwebhook import TelegramWebhook
from flask_tgwebhook.webapp import (
    TEST_PUBLIC_KEY,
    ForgedInitData,
    InitDataError,
    MalformedInitData,
    StaleInitData,
    current_init_data,
    init_data_required,
    sign_init_data,
    validate_init_data,
    validate_third_party,
)

from .conftest import TOKEN

OTHER_TOKEN = "654321:TEST-another-bots-token"
USER = {"id": 42, "first_name": "Ada", "language_code": "en"}

# Real initData published with its bot token in the Telegram Mini Apps documentation
# (docs.telegram-mini-apps.com, init-data-golang): the hash is the HMAC of that token, and
# the signature is Telegram's own Ed25519 signature, made with its production key.
PUBLISHED_TOKEN = "7342037359:AAHI25ES9xCOMPokpYoz-p8XVrZUdygo2J4"
PUBLISHED_INIT_DATA = (
    "user=%7B%22id%22%3A279058397%2C%22first_name%22%3A%22Vladislav%20%2B%20-%20%3F%20%5C%2F%22"
    "%2C%22last_name%22%3A%22Kibenko%22%2C%22username%22%3A%22vdkfrost%22%2C%22language_code%22"
    "%3A%22ru%22%2C%22is_premium%22%3Atrue%2C%22allows_write_to_pm%22%3Atrue%2C%22photo_url%22"
    "%3A%22https%3A%5C%2F%5C%2Ft.me%5C%2Fi%5C%2Fuserpic%5C%2F320%5C%2F4FPEE4tmP3ATHa57u6MqTDih1"
    "3LTOiMoKoLDRG4PnSA.svg%22%7D&chat_instance=8134722200314281151&chat_type=private"
    "&auth_date=1733509682&signature=TYJxVcisqbWjtodPepiJ6ghziUL94-KNpG8Pau-X7oNNLNBM72APCpi_RKi"
    "UlBvcqo5L-LAxIc3dnTzcZX_PDg&hash=a433d8f9847bd6addcc563bff7cc82c89e97ea0d90c11fe5729cae6796a"
    "36d73"
)
PUBLISHED_AUTH_DATE = 1733509682


def fresh(**fields: Any) -> str:
    return sign_init_data({"query_id": "AAQ1", "user": USER, **fields}, TOKEN)


def test_accepted_and_parsed() -> None:
    data = validate_init_data(
        fresh(chat={"id": -5, "type": "group", "title": "G"}, start_param="ref7"), TOKEN
    )
    assert data.user == USER
    assert data.user_id == 42
    assert data.query_id == "AAQ1"
    assert data.chat == {"id": -5, "type": "group", "title": "G"}
    assert data.start_param == "ref7"
    assert abs(data.auth_date - time.time()) < 5


def test_published_vector_passes_both_checks() -> None:
    now = PUBLISHED_AUTH_DATE + 10
    data = validate_init_data(PUBLISHED_INIT_DATA, PUBLISHED_TOKEN, now=now)
    assert data.user is not None and data.user["first_name"] == "Vladislav + - ? /"
    assert data.chat_type == "private"
    third = validate_third_party(PUBLISHED_INIT_DATA, 7342037359, now=now)
    assert third.user_id == 279058397
    with pytest.raises(ForgedInitData, match="other environment"):
        validate_third_party(PUBLISHED_INIT_DATA, 7342037359, now=now, test_environment=True)
    with pytest.raises(ForgedInitData):
        validate_third_party(PUBLISHED_INIT_DATA, 7342037358, now=now)  # another bot
    assert len(TEST_PUBLIC_KEY) == 32


@pytest.mark.parametrize(
    "tamper",
    [
        lambda s: s.replace("%22id%22%3A42", "%22id%22%3A43"),  # another user
        lambda s: s.replace("query_id=AAQ1", "query_id=AAQ2"),
        lambda s: s + "&is_admin=1",  # a field added
        lambda s: s.replace("hash=", "hash=0"),
    ],
)
def test_tampered_is_refused(tamper: Any) -> None:
    init_data = fresh()
    changed = tamper(init_data)
    assert changed != init_data
    with pytest.raises(ForgedInitData, match="hash does not match"):
        validate_init_data(changed, TOKEN)


def test_other_bots_token_is_refused() -> None:
    with pytest.raises(ForgedInitData, match="another bot") as info:
        validate_init_data(sign_init_data({"user": USER}, OTHER_TOKEN), TOKEN)
    assert TOKEN not in str(info.value) and OTHER_TOKEN not in str(info.value)


def test_stale_and_future_are_refused() -> None:
    old = sign_init_data({"user": USER}, TOKEN, auth_date=int(time.time()) - 7200)
    with pytest.raises(StaleInitData, match=r"older than max_age=3600 s.*opened again"):
        validate_init_data(old, TOKEN)
    assert validate_init_data(old, TOKEN, max_age=None).user_id == 42
    assert validate_init_data(old, TOKEN, max_age=8000).user_id == 42
    ahead = sign_init_data({"user": USER}, TOKEN, auth_date=int(time.time()) + 600)
    with pytest.raises(StaleInitData, match="clock"):
        validate_init_data(ahead, TOKEN)


@pytest.mark.parametrize(
    ("init_data", "match"),
    [
        ("", "No initData"),
        ("garbage", "not a query string"),
        ("auth_date=1&user=%7B%7D", "no hash"),
        ("a=1&a=2&hash=00", "twice"),
        ("x" * 20_000, "longer"),
    ],
)
def test_malformed_is_refused(init_data: str, match: str) -> None:
    with pytest.raises(MalformedInitData, match=match):
        validate_init_data(init_data, TOKEN)


def test_user_that_is_not_an_object_is_malformed() -> None:
    with pytest.raises(MalformedInitData, match="'user'"):
        validate_init_data(sign_init_data({"user": "[1]"}, TOKEN), TOKEN)


def test_third_party_signature_with_own_keys() -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    bot_id = int(TOKEN.split(":")[0])
    init_data = sign_init_data({"user": USER}, TOKEN, signing_key=key)
    assert validate_third_party(init_data, bot_id, public_key=public).user_id == 42
    raw = public.public_bytes_raw()
    assert validate_third_party(init_data, bot_id, public_key=raw).user_id == 42
    # The hash still covers the signature, so the bot's own check passes too.
    assert validate_init_data(init_data, TOKEN).user_id == 42
    with pytest.raises(ForgedInitData):
        validate_third_party(init_data.replace("%22Ada%22", "%22Eve%22"), bot_id, public_key=raw)
    with pytest.raises(ForgedInitData):
        validate_third_party(init_data, bot_id + 1, public_key=raw)
    with pytest.raises(ForgedInitData):  # Telegram's real key did not sign it
        validate_third_party(init_data, bot_id)
    with pytest.raises(MalformedInitData, match="no signature"):
        validate_third_party(fresh(), bot_id, public_key=raw)
    old = sign_init_data({"user": USER}, TOKEN, signing_key=key, auth_date=1)
    with pytest.raises(StaleInitData):
        validate_third_party(old, bot_id, public_key=raw)


# -- the view decorator -------------------------------------------------------------------


@pytest.fixture
def webapp_app(app: Flask, tg: TelegramWebhook) -> Flask:
    @app.post("/api/me")
    @init_data_required
    def me() -> dict[str, Any]:
        return {"user_id": current_init_data().user_id}

    @app.post("/api/short")
    @init_data_required(max_age=60)
    def short() -> str:
        return "ok"

    return app


def test_view_accepts_valid_init_data(webapp_app: Flask) -> None:
    client = webapp_app.test_client()
    answer = client.post("/api/me", headers={"Authorization": f"tma {fresh()}"})
    assert answer.status_code == 200
    assert answer.json == {"user_id": 42}
    assert client.post("/api/me", data={"initData": fresh()}).json == {"user_id": 42}
    assert client.post("/api/me", json={"initData": fresh()}).json == {"user_id": 42}


@pytest.mark.parametrize(
    ("init_data", "reason"),
    [
        (sign_init_data({"user": USER}, OTHER_TOKEN), "forged"),
        (sign_init_data({"user": USER}, TOKEN, auth_date=int(time.time()) - 7200), "stale"),
        ("", "malformed"),
    ],
)
def test_view_refuses_with_401(webapp_app: Flask, init_data: str, reason: str) -> None:
    answer = webapp_app.test_client().post("/api/me", headers={"Authorization": f"tma {init_data}"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "tma"
    body = answer.json
    assert body is not None and body["ok"] is False and body["error"] == reason
    assert body["description"].endswith(".") or body["description"].endswith(")")
    assert TOKEN not in answer.get_data(as_text=True)


def test_view_max_age_option(webapp_app: Flask) -> None:
    two_minutes = sign_init_data({"user": USER}, TOKEN, auth_date=int(time.time()) - 120)
    client = webapp_app.test_client()
    assert client.post("/api/me", data={"initData": two_minutes}).status_code == 200
    assert client.post("/api/short", data={"initData": two_minutes}).status_code == 401


def test_current_init_data_outside_a_protected_view(webapp_app: Flask) -> None:
    with webapp_app.test_request_context("/"), pytest.raises(RuntimeError, match="decorate"):
        current_init_data()


def test_init_data_error_is_a_value_error() -> None:
    assert issubclass(InitDataError, ValueError)
