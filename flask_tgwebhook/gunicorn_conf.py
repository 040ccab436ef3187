"""gunicorn settings for a flask_tgwebhook bot; point gunicorn at this module::

    gunicorn -c python:flask_tgwebhook.gunicorn_conf myproject:app

What it sets, and why:

- ``bind``: ``0.0.0.0:$PORT`` when the platform sets ``PORT``, else ``127.0.0.1:8000``
  (behind nginx on the same machine). A ``--bind`` on the command line wins.
- ``workers``: ``$WEB_CONCURRENCY``, else 2; sync workers, since a webhook request is short.
- ``timeout`` 50 s, below the 60 s Telegram waits for an answer: a stuck worker is replaced
  before Telegram gives up on the delivery, and Telegram's retry finds a live one.
- the start-up hook (:func:`flask_tgwebhook.gunicorn.when_ready`): the webhook is set once per
  deploy, in the master. With ``--certfile`` naming a self-signed certificate, that certificate
  is what the hook uploads (unless ``TELEGRAM_WEBHOOK_CERTIFICATE`` says otherwise).
- TLS 1.2 or later when gunicorn serves TLS itself (``--certfile`` and ``--keyfile``).
- logging: the package's lines (refused requests, start-up) go to gunicorn's error log at its
  ``--log-level``, with bot tokens and signed-link tokens redacted.

To change one setting, keep the rest: pass it on the command line (``--workers 4``), or write
your own ``gunicorn.conf.py`` that starts with ``from flask_tgwebhook.gunicorn_conf import *``.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

from flask_tgwebhook.gunicorn import configure_webhook
from flask_tgwebhook.gunicorn_logging import share_gunicorn_log

__all__ = [
    "bind",
    "graceful_timeout",
    "keepalive",
    "post_worker_init",
    "ssl_context",
    "timeout",
    "when_ready",
    "worker_class",
    "workers",
]

bind = [f"0.0.0.0:{os.environ['PORT']}"] if os.environ.get("PORT") else ["127.0.0.1:8000"]
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
worker_class = "sync"
#: Below Telegram's 60 s, so a stuck worker is replaced before the delivery times out.
timeout = 50
#: A HUP or a stop lets running updates finish for this long.
graceful_timeout = 30
#: nginx keeps connections to the app open (``keepalive`` in its upstream).
keepalive = 5


def when_ready(server: Any) -> None:
    """Set the webhook once per deploy; upload gunicorn's own self-signed certificate."""
    certfile = getattr(server.cfg, "certfile", None)
    if certfile and not os.environ.get("TELEGRAM_WEBHOOK_CERTIFICATE"):
        from flask_tgwebhook.certs import load_certificate

        if load_certificate(certfile).self_signed:
            # The hook's child process reads it from the environment.
            os.environ["TELEGRAM_WEBHOOK_CERTIFICATE"] = os.path.abspath(certfile)
    configure_webhook(server)


def ssl_context(config: Any, default_ssl_context_factory: Any) -> ssl.SSLContext:
    """gunicorn's TLS context, refusing anything older than TLS 1.2 (Telegram speaks 1.2+)."""
    context: ssl.SSLContext = default_ssl_context_factory()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def post_worker_init(worker: Any) -> None:
    """Send the package's log lines to gunicorn's error log, redacted."""
    share_gunicorn_log(worker.log)
