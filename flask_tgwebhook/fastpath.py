"""``TELEGRAM_FAST_PATH``: the webhook answered at the WSGI layer, before Flask's routing.

A WSGI middleware around ``app.wsgi_app``. A POST to the webhook route goes to the webhook
view's :meth:`~flask_tgwebhook.views.WebhookView.respond` inside an app context only, so
the checks, the update pipeline and the answers are the very same as on the normal path;
Flask's request context, URL matching, ``before_request``/``after_request`` functions and
``request_*`` signals are skipped. Every other request (another path, another method on
this one) goes to the app untouched, so a GET on the webhook still gets Flask's 405.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from .answers import Answer, text_answer
from .views import webhook_paths

if TYPE_CHECKING:
    from flask import Flask

    from .views import WebhookView

__all__ = ["FastPath", "install_fast_path"]

logger = logging.getLogger("flask_tgwebhook")

INTERNAL_ERROR = text_answer(500, "Internal Server Error")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class FastPath:
    """The middleware: the webhook's POSTs to ``view``, everything else to ``wsgi_app``.

    :param app: the Flask app (for its app context).
    :param wsgi_app: what ``app.wsgi_app`` was before; it serves every other request.
    :param view: the app's webhook view (the one its Blueprint routes to).
    """

    def __init__(self, app: Flask, wsgi_app: WSGIApp, view: WebhookView) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self.view = view
        # PATH_INFO is latin-1 decoded bytes in WSGI: compare with the route in that form.
        self.paths = frozenset(
            p.encode().decode("latin-1") for p in webhook_paths(view.state.settings.webhook_path)
        )

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") not in self.paths:
            return self.wsgi_app(environ, start_response)
        app = self.app
        answer: Answer
        try:
            with app.app_context():  # current_app and g for handlers; teardown_appcontext runs
                answer = self.view.respond(environ)
        except Exception:
            if app.testing or app.debug:
                raise  # as Flask does: tests and the debugger see the exception
            logger.exception("The webhook failed on the fast path (TELEGRAM_FAST_PATH).")
            answer = INTERNAL_ERROR
        return answer(environ, start_response)


def install_fast_path(app: Flask, endpoint: str) -> FastPath:
    """Wrap ``app.wsgi_app`` so the webhook at ``endpoint`` is answered before routing."""
    view: WebhookView = app.view_functions[endpoint]  # type: ignore[assignment]
    fast = FastPath(app, app.wsgi_app, view)
    app.wsgi_app = fast  # type: ignore[method-assign]
    return fast
