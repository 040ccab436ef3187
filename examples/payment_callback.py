"""A bot that sells a premium plan and hears from the payment provider through a signed link.

``/pay`` sends the user a checkout link. The checkout carries a callback URL made with
``tg.external_url``: signed, bound to this user and this order, valid for a day. When the
user has paid, the provider POSTs a JSON event to that URL; the ``paid`` handler checks the
provider's own signature over the raw body, makes sure each event counts once, and messages
the user who paid.

Run it (``SECRET_KEY`` signs the links; the provider's secret checks its events)::

    export TELEGRAM_BOT_TOKEN=... SECRET_KEY=... PAYMENTS_WEBHOOK_SECRET=...
    export TELEGRAM_WEBHOOK_URL=https://bot.example.com/telegram/webhook
    flask --app examples/payment_callback.py tg set-webhook
    gunicorn 'examples.payment_callback:create_app()'
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, current_app

from flask_tgwebhook import ExternalCall, TelegramWebhook, Update
from flask_tgwebhook.dedupe import Claim
from flask_tgwebhook.external import send_external_link

tg = TelegramWebhook()


@tg.message(commands=["pay"])
def pay(update: Update) -> None:
    if update.user is None or update.chat_id is None:
        return
    order = secrets.token_urlsafe(8)
    # Where the provider reports the payment: only this app can make such a link, and the
    # user id and order in it can't be changed by whoever holds it.
    notify_url = tg.external_url("paid", user_id=update.user.id, expires_in=86400, order=order)
    query = {"amount": "5.00", "currency": "EUR", "order": order, "notify_url": notify_url}
    checkout = f"{current_app.config['PAYMENTS_CHECKOUT_URL']}?{urlencode(query)}"
    # Previews off: Telegram's crawler would otherwise open the checkout before the user.
    send_external_link(tg.bot, update.chat_id, "Premium for 5.00 EUR:", checkout, button="Pay")


def signed_by_provider(call: ExternalCall) -> bool:
    """The provider signs the exact bytes it sent; a parsed and re-encoded body would differ."""
    secret = current_app.config["PAYMENTS_WEBHOOK_SECRET"].encode()
    expected = hmac.new(secret, call.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, call.headers.get("X-Payment-Signature", ""))


@tg.external("paid")
def paid(call: ExternalCall) -> Any:
    if call.method != "POST" or call.user_id is None or not signed_by_provider(call):
        abort(400)
    event = call.content
    if not isinstance(event, dict) or event.get("order") != call.extra["order"]:
        abort(400)  # a genuine event, but for another order than this link's
    if event.get("status") != "paid":
        return "ignored"

    # Providers deliver an event again until they see a 2xx: count each event once.
    state = tg.state()
    key = f"{state.key_prefix}payment:{event['id']}"
    claim = state.dedupe.claim(key)
    if claim is Claim.DONE:
        return "already processed"
    if claim is Claim.RUNNING:
        return Response("being processed", 503, {"Retry-After": "10"})
    try:
        tg.bot.send_message(chat_id=call.user_id, text="Payment received: premium is on. Thanks!")
    except Exception:
        state.dedupe.release(key)  # the provider's next delivery tries again
        raise  # answered 503, and logged
    state.dedupe.finish(key)
    return "ok"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The app; ``config`` (tests, or your own settings) overrides the environment."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ.get("SECRET_KEY"),
        PAYMENTS_WEBHOOK_SECRET=os.environ.get("PAYMENTS_WEBHOOK_SECRET"),
        PAYMENTS_CHECKOUT_URL=os.environ.get(
            "PAYMENTS_CHECKOUT_URL", "https://pay.example.com/checkout"
        ),
    )
    app.config.update(config or {})
    tg.init_app(app)  # TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_URL come from the environment
    return app
