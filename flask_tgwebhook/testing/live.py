"""Serving an app on loopback for end-to-end runs: the emulator posts to a real server.

``LiveServer`` is werkzeug's threaded server on 127.0.0.1 and a free port, optionally over
HTTPS with a self-signed certificate made by :mod:`flask_tgwebhook.certs`;
``connect_webhook`` registers it with the emulator through the app's own Bot API client,
so the same code path as in production (setWebhook with the secret and the certificate)
is what runs.
"""

from __future__ import annotations

import ssl
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from ..certs import SelfSignedCert, generate_self_signed_cert
from ._emulator.plumbing import QuietHandler

if TYPE_CHECKING:
    from .fake_telegram import FakeTelegram


class LiveServer:
    """Serve ``app`` in a background thread until :meth:`stop` (or the ``with`` block ends).

    :param app: the Flask app.
    :param https: serve TLS with a fresh self-signed certificate for ``host``.
    :param host: the loopback address to bind.
    """

    def __init__(self, app: Flask, *, https: bool = False, host: str = "127.0.0.1") -> None:
        self.app = app
        self.host = host
        self.certificate: SelfSignedCert | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.https = https

    def start(self) -> LiveServer:
        context = self._tls_context() if self.https else None
        self._server = make_server(
            self.host, 0, self.app, threaded=True, request_handler=QuietHandler, ssl_context=context
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="flask_tgwebhook-live-server", daemon=True
        )
        self._thread.start()
        return self

    def _tls_context(self) -> ssl.SSLContext:
        self.certificate = generate_self_signed_cert(self.host)
        self._tmp = tempfile.TemporaryDirectory(prefix="tgwebhook-live-")
        cert, key = Path(self._tmp.name, "cert.pem"), Path(self._tmp.name, "key.pem")
        self.certificate.write(cert, key)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        return context

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        if self._tmp is not None:
            self._tmp.cleanup()
        self._server = self._thread = self._tmp = None

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("The server is not running; call start() or use it in a with block.")
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``https://127.0.0.1:54321``."""
        return f"{'https' if self.https else 'http'}://{self.host}:{self.port}"

    @property
    def webhook_url(self) -> str:
        """Where the app's webhook route is served."""
        from ..state import get_state

        path = get_state(self.app).settings.webhook_path
        return self.url + path


def connect_webhook(app: Flask, server: LiveServer, **params: Any) -> dict[str, Any]:
    """Point the emulator's webhook at ``server``: :func:`~flask_tgwebhook.startup.setup_webhook`
    with the server's URL (loopback, so Telegram's URL rules are not applied) and its
    self-signed certificate, if any. ``params`` override setup_webhook's arguments.

    Returns what getWebhookInfo says afterwards.
    """
    from ..startup import setup_webhook

    if server.certificate is not None:
        params.setdefault("certificate", server.certificate.cert_pem)
    report = setup_webhook(
        app, url=server.webhook_url, force=True, check_url=False, environ={}, **params
    )
    return report.info


def telegram_config(telegram: FakeTelegram) -> dict[str, Any]:
    """The config keys that point an app at the emulator ``telegram``."""
    return {
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.api_url,
        "TELEGRAM_BOT_USERNAME": telegram.bot_user["username"],
    }
