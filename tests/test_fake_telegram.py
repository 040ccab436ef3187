"""The emulator as a Bot API server: calls, answers, injected faults."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from flask_tgwebhook.testing import DEFAULT_TOKEN, Call, FakeTelegram


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as telegram:
        yield telegram


def api(telegram: FakeTelegram, method: str) -> str:
    return f"{telegram.api_url}/bot{telegram.token}/{method}"


def test_serves_on_loopback_free_port(telegram: FakeTelegram) -> None:
    assert telegram.api_url == f"http://127.0.0.1:{telegram.port}"
    assert telegram.port > 0
    assert telegram.token == DEFAULT_TOKEN


def test_get_me_answers_the_bot_of_the_token() -> None:
    with FakeTelegram(token="987:abc_DEF-1") as telegram:
        body = requests.get(api(telegram, "getMe"), timeout=5).json()
    assert body["ok"] is True
    assert body["result"]["id"] == 987
    assert body["result"]["is_bot"] is True
    assert body["result"]["username"] == "fake_test_bot"


def test_send_message_answers_a_message_and_is_recorded(telegram: FakeTelegram) -> None:
    first = requests.post(
        api(telegram, "sendMessage"), json={"chat_id": 42, "text": "hi"}, timeout=5
    ).json()["result"]
    second = requests.post(
        api(telegram, "sendMessage"), json={"chat_id": -1001, "text": "yo"}, timeout=5
    ).json()["result"]
    assert first["text"] == "hi"
    assert first["chat"] == {
        "id": 42,
        "first_name": "Test",
        "username": "user42",
        "type": "private",
    }
    assert first["from"]["is_bot"] is True
    assert second["message_id"] == first["message_id"] + 1
    assert second["chat"]["type"] == "group"
    assert telegram.calls == [
        Call("sendMessage", {"chat_id": 42, "text": "hi"}),
        Call("sendMessage", {"chat_id": -1001, "text": "yo"}),
    ]


def test_params_from_query_form_and_multipart(telegram: FakeTelegram) -> None:
    requests.get(api(telegram, "getChat"), params={"chat_id": "7"}, timeout=5)
    requests.post(api(telegram, "sendMessage"), data={"chat_id": "7", "text": "x"}, timeout=5)
    answer = requests.post(
        api(telegram, "sendDocument"),
        data={"chat_id": "7", "caption": "report"},
        files={"document": ("r.txt", b"file body")},
        timeout=5,
    ).json()
    assert answer["result"]["caption"] == "report"
    assert "file_id" in answer["result"]["document"]
    get_chat, send, document = telegram.calls
    assert get_chat.params == {"chat_id": "7"}
    assert send.params == {"chat_id": "7", "text": "x"}
    assert document.params == {"chat_id": "7", "caption": "report"}
    assert document.files == {"document": b"file body"}


def test_method_names_ignore_case_like_telegram(telegram: FakeTelegram) -> None:
    body = requests.post(
        api(telegram, "SENDMESSAGE"), json={"chat_id": 1, "text": "a"}, timeout=5
    ).json()
    assert body["result"]["text"] == "a"
    assert [c.method for c in telegram.calls_to("sendMessage")] == ["SENDMESSAGE"]


def test_other_methods_answer_true_and_are_recorded(telegram: FakeTelegram) -> None:
    body = requests.post(
        api(telegram, "answerCallbackQuery"), json={"callback_query_id": "1"}, timeout=5
    ).json()
    assert body == {"ok": True, "result": True}
    assert telegram.calls_to("answerCallbackQuery")[0].params == {"callback_query_id": "1"}


def test_wrong_token_is_unauthorized_and_nothing_recorded(telegram: FakeTelegram) -> None:
    response = requests.get(f"{telegram.api_url}/bot123456:wrong/getMe", timeout=5)
    assert response.status_code == 401
    assert response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert telegram.calls == []


def test_unknown_path_is_not_found(telegram: FakeTelegram) -> None:
    response = requests.get(f"{telegram.api_url}/getMe", timeout=5)
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


def test_bad_json_body_is_bad_request(telegram: FakeTelegram) -> None:
    response = requests.post(
        api(telegram, "sendMessage"),
        data=b"{nope",
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert response.status_code == 400
    assert response.json()["description"] == "Bad Request: can't parse JSON object"


def test_fail_answers_the_error_given_times(telegram: FakeTelegram) -> None:
    telegram.fail("sendMessage", error_code=429, parameters={"retry_after": 3}, times=2)
    answers = [
        requests.post(api(telegram, "sendMessage"), json={"chat_id": 1, "text": "a"}, timeout=5)
        for _ in range(3)
    ]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].json() == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    assert len(telegram.calls_to("sendMessage")) == 3


def test_fail_with_own_description_until_cleared(telegram: FakeTelegram) -> None:
    telegram.fail("getMe", error_code=403, description="Forbidden: bot was kicked", times=None)
    for _ in range(3):
        assert requests.get(api(telegram, "getMe"), timeout=5).json()["description"] == (
            "Forbidden: bot was kicked"
        )
    telegram.clear()
    assert telegram.calls == []
    assert requests.get(api(telegram, "getMe"), timeout=5).status_code == 200


def test_delay_answers_late(telegram: FakeTelegram) -> None:
    telegram.delay("getMe", 30)
    with pytest.raises(requests.ReadTimeout):
        requests.get(api(telegram, "getMe"), timeout=(5, 0.2))
    # Only the one call was delayed; stop() later cuts the sleeping answer short.
    assert requests.get(api(telegram, "getMe"), timeout=5).status_code == 200


def test_disconnect_records_then_hangs_up(telegram: FakeTelegram) -> None:
    telegram.disconnect("sendMessage")
    with pytest.raises(requests.ConnectionError):
        requests.post(api(telegram, "sendMessage"), json={"chat_id": 1, "text": "a"}, timeout=5)
    assert telegram.calls_to("sendMessage")[0].params == {"chat_id": 1, "text": "a"}
    ok = requests.post(api(telegram, "sendMessage"), json={"chat_id": 1, "text": "b"}, timeout=5)
    assert ok.status_code == 200


def test_get_updates_conflicts_while_webhook_set(telegram: FakeTelegram) -> None:
    assert requests.get(api(telegram, "getUpdates"), timeout=5).json() == {"ok": True, "result": []}
    requests.post(api(telegram, "setWebhook"), json={"url": "https://example.com/hook"}, timeout=5)
    response = requests.get(api(telegram, "getUpdates"), timeout=5)
    assert response.status_code == 409
    assert response.json() == {
        "ok": False,
        "error_code": 409,
        "description": "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first",
    }


def test_wait_for_calls_times_out_with_a_clear_message(telegram: FakeTelegram) -> None:
    with pytest.raises(TimeoutError, match="sendMessage was called 0 time"):
        telegram.wait_for_calls("sendMessage", timeout=0.05)


def test_stop_and_restart() -> None:
    telegram = FakeTelegram().start()
    first = telegram.api_url
    telegram.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = telegram.api_url
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{first}/bot{telegram.token}/getMe", timeout=5)
    with telegram:
        assert requests.get(api(telegram, "getMe"), timeout=5).status_code == 200


def test_bad_token_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="must look like a Bot API token"):
        FakeTelegram(token="nope")
