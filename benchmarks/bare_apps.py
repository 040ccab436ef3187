"""The baselines of ``bench_http.py``: a bare WSGI callable, the same parsing the body in a
Flask app context (the least the fast path must do), and a bare Flask route.

Nothing here imports flask_tgwebhook, so a worker serving these is the memory baseline too.
``gunicorn bare_apps:bare_wsgi`` or ``gunicorn 'bare_apps:make_flask()'`` from this directory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

WEBHOOK_PATH = "/telegram/webhook"


def bare_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The limit for a WSGI app: read the body, answer 200."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]


def make_parse_in_app_context() -> Callable[..., Iterable[bytes]]:
    """The floor of the fast path's contract: a WSGI callable that parses the body as JSON
    inside a Flask app context (what the fast path must do before any update is handled)."""
    import json

    from flask import Flask

    app = Flask("bare_floor")

    def parse_in_app_context(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        with app.app_context():
            json.loads(environ["wsgi.input"].read(length))
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    return parse_in_app_context


def make_flask() -> Flask:
    """A Flask route that only parses the JSON body (flask imported here, not for bare_wsgi)."""
    from flask import Flask, request

    app = Flask("bare_flask")

    @app.post(WEBHOOK_PATH)
    def hook() -> str:
        request.get_json()
        return ""

    return app
