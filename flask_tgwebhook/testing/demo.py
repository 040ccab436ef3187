"""Run a bot end to end with no token and no internet, and show what happened.

The app is served over HTTPS on 127.0.0.1 with a self-signed certificate, registers its
webhook with the emulator (uploading that certificate), and a scripted conversation is
delivered the way Telegram delivers it. With ``--real`` or ``TELEGRAM_BOT_TOKEN`` set, the
same app talks to the real Telegram instead (long polling, so no public URL is needed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from flask import Flask

from .fake_telegram import TEST_OPTIONS, FakeTelegram
from .live import LiveServer, connect_webhook, telegram_config
from .updates import make_update

#: A step of a conversation: text the user sends, ``("button", callback_data)``, or
#: ``("webapp", path)``: the user's Web App POSTs its signed initData to ``path``.
Step = str | tuple[str, str]
AppFactory = Callable[[dict[str, Any]], Flask]

#: The demo's user, who is also the private chat.
USER_ID = 4242


def _update_for(step: Step) -> dict[str, Any]:
    if isinstance(step, tuple):
        kind, data = step
        if kind != "button":
            raise ValueError(f"Unknown step {step!r}; use a text or ('button', data).")
        return make_update("callback_query", data=data, chat_id=USER_ID, user_id=USER_ID)
    return make_update("message", text=step, chat_id=USER_ID, user_id=USER_ID)


def _open_webapp(server: LiveServer, token: str, path: str) -> int:
    """POST signed initData to the app as a Web App page inside Telegram would; the status."""
    from ..webapp import sign_init_data

    user = {"id": USER_ID, "first_name": "Test", "language_code": "en"}
    init_data = sign_init_data({"query_id": "demo-query", "user": user}, token)
    context = ssl.create_default_context()
    if server.certificate is not None:
        context.load_verify_locations(cadata=server.certificate.cert_pem.decode())
    request = urllib.request.Request(  # noqa: S310 (the demo's own https server)
        server.url.rstrip("/") + path,
        data=b"{}",
        method="POST",
        headers={"Authorization": f"tma {init_data}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=15, context=context) as answer:  # noqa: S310
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _describe(method: str, params: dict[str, Any]) -> str:
    text = params.get("text")
    result = params.get("result")
    if text is None and isinstance(result, str | dict):  # answerWebAppQuery's message
        content = (json.loads(result) if isinstance(result, str) else result).get(
            "input_message_content", {}
        )
        text = content.get("message_text")
    shown = f"{method}: {text!r}" if text is not None else method
    if "reply_markup" in params:
        shown += " [with buttons]"
    return shown


def run_offline(create_app: AppFactory, conversation: Sequence[Step], out: Any = None) -> int:
    """Play ``conversation`` through the app against the emulator; 0 when all went through."""
    out = out or sys.stdout
    failures = 0
    with FakeTelegram(**TEST_OPTIONS) as telegram:
        app = create_app(telegram_config(telegram))
        with LiveServer(app, https=True) as server:
            connect_webhook(app, server)
            print(f"Telegram emulator:  {telegram.api_url}", file=out)
            print(f"bot webhook:        {server.webhook_url} (self-signed certificate)", file=out)
            print("", file=out)
            for step in conversation:
                seen = len(telegram.calls)
                if isinstance(step, tuple) and step[0] == "webapp":
                    print("you > [opens the Web App and presses its button]", file=out)
                    status = _open_webapp(server, telegram.token, step[1])
                    if status != 200:
                        failures += 1
                        print(f"      the Web App's request got {status}", file=out)
                else:
                    label = f"[presses {step[1]!r}]" if isinstance(step, tuple) else step
                    print(f"you > {label}", file=out)
                    delivery = telegram.deliver(_update_for(step), wait=True, timeout=15)
                    if not delivery.ok:
                        failures += 1
                        print(f"      delivery failed: {delivery.state}", file=out)
                for call in telegram.calls[seen:]:
                    print(f"bot > {_describe(call.method, call.params)}", file=out)
            info = telegram.webhook_info()
    print("", file=out)
    print(
        f"pending updates: {info.get('pending_update_count', 0)}, "
        f"last delivery error: {info.get('last_error_message') or 'none'}",
        file=out,
    )
    ok = failures == 0 and not info.get("last_error_message")
    print("The conversation went through." if ok else "Some deliveries failed.", file=out)
    if ok:
        print(
            "Next: read example_app.py, run the tests with ./run-tests, or talk to your own bot "
            "with TELEGRAM_BOT_TOKEN=<token from @BotFather> python example_app.py --real",
            file=out,
        )
    return 0 if ok else 1


def run_real(
    create_app: AppFactory, config: dict[str, Any] | None = None, max_updates: int | None = None
) -> int:
    """Run the same app against the real Telegram with long polling (Ctrl+C stops).

    :param config: extra config for the factory (tests point it at the emulator).
    :param max_updates: stop after this many updates (``None``: until interrupted).
    """
    from ..polling import poll_updates
    from ..state import get_state

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_app(config or {})
    state = get_state(app)
    bot = state.bot
    me = bot.get_me()
    print(f"Running as @{me['username']} with long polling; press Ctrl+C to stop.")
    bot.delete_webhook()  # getUpdates answers 409 while a webhook is set
    with app.app_context():
        poll_updates(state.ext, app, bot, max_updates=max_updates)
    return 0


def main(
    create_app: AppFactory, conversation: Sequence[Step], argv: Sequence[str] | None = None
) -> None:
    """The entry point of ``example_app.py``: offline demo, or ``--real``."""
    parser = argparse.ArgumentParser(description="Run the example bot.")
    parser.add_argument(
        "--real",
        action="store_true",
        help="talk to the real Telegram (needs TELEGRAM_BOT_TOKEN; default when it is set)",
    )
    args = parser.parse_args(argv)
    if args.real or os.environ.get("TELEGRAM_BOT_TOKEN"):
        if not os.environ.get("TELEGRAM_BOT_TOKEN"):
            parser.error("--real needs TELEGRAM_BOT_TOKEN in the environment (from @BotFather).")
        sys.exit(run_real(create_app))
    sys.exit(run_offline(create_app, conversation))
