"""What ``import flask_tgwebhook`` and a serving worker load, checked in fresh interpreters.

A worker that only answers webhooks never calls the Bot API, makes no certificate and runs
no CLI command: requests, urllib3, cryptography, the limits package, redis and our testing
package load on first use, not with the import or the app's set-up.
"""

from __future__ import annotations

import json
import subprocess
import sys

from flask import Flask

#: Loaded on first use only (itsdangerous: beyond what ``import flask`` loads itself).
HEAVY = ("requests", "urllib3", "cryptography", "itsdangerous", "limits", "redis")
OURS = (
    "flask_tgwebhook.testing",
    "flask_tgwebhook.client",
    "flask_tgwebhook._methods",
    "flask_tgwebhook.certs",
    "flask_tgwebhook.cli",
)

# Runs in a fresh interpreter: the modules flask_tgwebhook added to `import flask`'s, after
# the import and after a worker's life (init_app, then webhook updates answered).
_PROBE = """
import json, sys
import flask
base = set(sys.modules)
import flask_tgwebhook
imported = sorted(set(sys.modules) - base)

from flask_tgwebhook.config import derive_secret
token = "123456:TEST-fake-token-for-flask-tgwebhook"
app = flask.Flask("probe")
app.config.update(TELEGRAM_BOT_TOKEN=token, TELEGRAM_BOT_USERNAME="probe_bot")
tg = flask_tgwebhook.TelegramWebhook(app)
say_hi = flask_tgwebhook.reply("sendMessage", chat_id=1, text="hi")
tg.message(commands=["start"])(lambda update: say_hi)
tg.message()(lambda update: None)
client = app.test_client()
statuses = []
for update_id, text in ((1, "/start"), (2, "hello"), (2, "hello")):
    update = {"update_id": update_id, "message": {"message_id": 1, "date": 0,
              "chat": {"id": 1, "type": "private"}, "text": text}}
    answer = client.post("/telegram/webhook", json=update,
                         headers={"X-Telegram-Bot-Api-Secret-Token": derive_secret(token)})
    statuses.append(answer.status_code)
served = sorted(set(sys.modules) - base)
print(json.dumps({"imported": imported, "served": served, "statuses": statuses}))
"""


def _probe() -> dict[str, list[str] | list[int]]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    found: dict[str, list[str] | list[int]] = json.loads(out)
    return found


def _loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == n or m.startswith(n + ".") for n in names)]


def test_import_and_a_serving_worker_load_nothing_heavy() -> None:
    found = _probe()
    assert found["statuses"] == [200, 200, 200]  # the worker did serve (a reply, a duplicate)
    for phase in ("imported", "served"):
        modules = [str(m) for m in found[phase]]
        assert modules, phase  # the probe saw our own modules load
        assert _loaded(modules, HEAVY) == [], phase
        assert _loaded(modules, OURS) == [], phase


def test_bot_loads_the_client_on_first_use() -> None:
    code = (
        "import sys, flask_tgwebhook\n"
        "assert 'requests' not in sys.modules\n"
        "bot = flask_tgwebhook.Bot\n"
        "print(bot.__module__, 'requests' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.split() == ["flask_tgwebhook.client", "True"]


def test_unknown_attribute_is_an_attribute_error() -> None:
    import flask_tgwebhook

    try:
        flask_tgwebhook.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_the_cli_group_loads_when_a_command_runs(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["tg", "--help"])
    assert result.exit_code == 0, result.output
    assert "set-webhook" in result.output
    assert "Manage the Telegram bot" in result.output
