"""Telegram's ``last_error_message`` in plain words, with what to do about it.

getWebhookInfo reports why the last delivery failed in Telegram's terse words ("Wrong
response from the webhook: 502 Bad Gateway", "SSL error {...}"). :func:`explain_delivery_error`
turns each into a sentence that names the likely cause in a gunicorn-behind-nginx deploy and
the fix; ``flask tg doctor`` prints it, and docs/troubleshooting.rst lists them all.
"""

from __future__ import annotations

import re

__all__ = ["DELIVERY_ERRORS", "explain_delivery_error"]

#: (pattern of Telegram's message, what it means and what to do), first match wins.
DELIVERY_ERRORS: tuple[tuple[str, str], ...] = (
    (
        r"Wrong response from the webhook: 403",
        "the app refused Telegram's secret token: the secret Telegram has is not the one the "
        "app checks (the token or TELEGRAM_WEBHOOK_SECRET changed, workers disagree, or a proxy "
        "drops the X-Telegram-Bot-Api-Secret-Token header). Run `flask tg set-webhook` with the "
        "app's config, and give every worker the same secret.",
    ),
    (
        r"Wrong response from the webhook: 404",
        "nothing answers the webhook URL's path: the app's route (TELEGRAM_WEBHOOK_PATH) or the "
        "proxy's location differs from the URL Telegram calls. Make the route, nginx's location "
        "(`flask tg nginx-config`) and TELEGRAM_WEBHOOK_URL agree.",
    ),
    (
        r"Wrong response from the webhook: 405",
        "the URL answers, but not to POST: it is not the webhook route. Point "
        "TELEGRAM_WEBHOOK_URL at the route and run `flask tg set-webhook`.",
    ),
    (
        r"Wrong response from the webhook: 3\d\d",
        "the URL redirects (http to https, a missing or extra slash), and Telegram follows no "
        "redirect. Set the exact final URL with `flask tg set-webhook --url ...`.",
    ),
    (
        r"Wrong response from the webhook: 413",
        "an update was larger than the proxy or the app accepts. Raise client_max_body_size in "
        "nginx and TELEGRAM_MAX_BODY_SIZE.",
    ),
    (
        r"Wrong response from the webhook: 50[24]",
        "the proxy answers but the app behind it does not (gunicorn down, the wrong upstream "
        "port, or a handler slower than the proxy's timeout). Start gunicorn, check nginx's "
        "upstream, and move slow work off the request with TELEGRAM_EXECUTOR = 'thread'.",
    ),
    (
        r"Wrong response from the webhook: 503",
        "the app answered 503: it has no usable bot token, or a copy of an update was still "
        "being handled. Check the app's log for an ERROR line; Telegram retries by itself.",
    ),
    (
        r"Wrong response from the webhook: 5\d\d",
        "the app failed while handling an update. Look for the traceback in the app's log; "
        "with TELEGRAM_ON_ERROR = 'retry' Telegram keeps delivering it until "
        "TELEGRAM_MAX_RETRIES.",
    ),
    (
        r"Wrong response from the webhook",
        "the webhook answered something other than 2xx. Run `flask tg doctor` on the server "
        "to see what the route answers.",
    ),
    (
        r"certificate verify failed|self.signed|unable to get local issuer",
        "Telegram does not trust the certificate it was shown: a self-signed certificate that "
        "was not uploaded (or a different one), or a CA certificate without its chain. Upload "
        "the self-signed one with `flask tg set-webhook --certificate cert.pem`, or serve the "
        "full chain (fullchain.pem).",
    ),
    (
        r"SSL error|wrong version number|ssl|tls",
        "the TLS handshake failed: the port may speak plain http, or only TLS older than 1.2. "
        "Serve TLS 1.2 or 1.3 on the webhook's port (nginx's `listen ... ssl`).",
    ),
    (
        r"Connection refused",
        "nothing listens on the webhook's port (nginx or gunicorn is down, or listens "
        "elsewhere). Start it, and check the port in TELEGRAM_WEBHOOK_URL.",
    ),
    (
        r"Connection timed out|Read timeout expired|timeout",
        "Telegram could not connect, or waited too long for an answer: a firewall on the port, "
        "or a handler slower than Telegram's patience. Open the port; move slow work off the "
        "request with TELEGRAM_EXECUTOR = 'thread'.",
    ),
    (
        r"resolve host|Name or service not known",
        "the webhook's host name has no DNS record Telegram can see. Fix the DNS record or use "
        "the public IP address with a certificate for it.",
    ),
    (
        r"connection closed|Connection reset",
        "the connection was closed before an answer: a worker killed mid-request (its timeout), "
        "or a proxy cutting the connection. Check gunicorn's log for WORKER TIMEOUT.",
    ),
)

_COMPILED = tuple((re.compile(p, re.IGNORECASE), text) for p, text in DELIVERY_ERRORS)


def explain_delivery_error(message: str) -> str:
    """What Telegram's ``last_error_message`` means and how to fix it, as one sentence."""
    for pattern, text in _COMPILED:
        if pattern.search(message):
            return text
    return (
        "Telegram could not deliver to the webhook. Run `flask tg doctor` on the server, and "
        "check the proxy's and the app's logs at that time."
    )
