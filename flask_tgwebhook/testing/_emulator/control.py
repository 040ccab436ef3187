"""The emulator's control endpoints, for another process: send updates, read the calls.

Served under ``/_fake_telegram/``, a path no Bot API request can take (those all start with
``/bot``). Everything is JSON; a bot token, when one is named, travels in the body, never in
the path. See ``python -m flask_tgwebhook.testing --help`` and docs/testing.rst.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from .delivery import Delivery
from .plumbing import Call

if TYPE_CHECKING:
    from ..fake_telegram import FakeTelegram

PREFIX = "/_fake_telegram/"


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _problem(status: int, description: str) -> Response:
    return _json({"ok": False, "description": description}, status)


def call_as_json(call: Call) -> dict[str, Any]:
    """A recorded call as JSON: uploaded files by name with their size in bytes."""
    return {
        "method": call.method,
        "params": call.params,
        "files": {name: len(data) for name, data in call.files.items()},
        "source": call.source,
        "bot_id": call.bot_id,
    }


def delivery_as_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "update_id": delivery.update_id,
        "state": delivery.state,
        "attempts": [
            {"status": a.status, "error": a.error, "retry_after": a.retry_after}
            for a in delivery.attempts
        ],
    }


class ControlEndpoint:
    """Answers ``/_fake_telegram/<action>`` for one emulator.

    ``POST deliver`` ``{"update": {...}, "wait": false, "timeout": 10, "token": null}``
        hands an update to the bot (the default bot unless ``token`` names another); answers
        the delivery's ``update_id``, ``state`` and ``attempts``.
    ``GET calls?since=N``
        the Bot API calls received from the N-th on, and ``next`` to pass next time.
    ``POST webhook_info`` ``{"token": null}``
        what getWebhookInfo answers.
    ``POST wait_idle`` ``{"timeout": 10}``
        returns once no update is waiting or on its way (504 after the timeout).
    """

    prefix = PREFIX

    def __init__(self, telegram: FakeTelegram) -> None:
        self.telegram = telegram

    def respond(self, request: Request) -> Response:
        action = request.path[len(PREFIX) :].strip("/")
        if action == "calls" and request.method == "GET":
            return self._calls(request)
        if request.method != "POST":
            return _problem(405, f"Use POST for {PREFIX}{action}, or GET for {PREFIX}calls.")
        try:
            body = json.loads(request.get_data() or b"{}")
        except ValueError:
            return _problem(400, "The body must be a JSON object.")
        if not isinstance(body, dict):
            return _problem(400, "The body must be a JSON object.")
        handlers = {
            "deliver": self._deliver,
            "webhook_info": self._webhook_info,
            "wait_idle": self._wait_idle,
        }
        handler = handlers.get(action)
        if handler is None:
            known = ", ".join(sorted([*handlers, "calls"]))
            return _problem(404, f"No control action {action!r}; use one of {known}.")
        try:
            return handler(body)
        except ValueError as exc:
            return _problem(400, str(exc))

    def _calls(self, request: Request) -> Response:
        since = request.args.get("since", "0")
        if not since.isdigit():
            return _problem(400, "since must be a call count, e.g. ?since=0.")
        calls = self.telegram.calls
        start = int(since)
        return _json(
            {"ok": True, "calls": [call_as_json(c) for c in calls[start:]], "next": len(calls)}
        )

    def _deliver(self, body: dict[str, Any]) -> Response:
        update = body.get("update")
        if not isinstance(update, dict):
            raise ValueError(
                'Send {"update": {"update_id": 1, "message": {...}}}: the update is missing.'
            )
        timeout = float(body.get("timeout", 10.0))
        try:
            delivery = self.telegram.deliver(
                update, wait=bool(body.get("wait")), timeout=timeout, token=body.get("token")
            )
        except (TimeoutError, RuntimeError) as exc:
            return _problem(504 if isinstance(exc, TimeoutError) else 409, str(exc))
        return _json({"ok": True, "result": delivery_as_json(delivery)})

    def _webhook_info(self, body: dict[str, Any]) -> Response:
        return _json({"ok": True, "result": self.telegram.webhook_info(body.get("token"))})

    def _wait_idle(self, body: dict[str, Any]) -> Response:
        try:
            self.telegram.wait_idle(float(body.get("timeout", 10.0)))
        except TimeoutError as exc:
            return _problem(504, str(exc))
        return _json({"ok": True, "result": True})
