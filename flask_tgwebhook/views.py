"""The webhook Blueprint: HTTP in (address, secret, content type, size, parse), the update
pipeline, HTTP out.

This is the fast path, so it does only that, in that order, and builds nothing nobody asked
for. Every answer follows the table in docs/webhook.rst; docs/security.rst says what each
check guarantees. What happens to the update itself is :mod:`flask_tgwebhook.pipeline`'s.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, request

from . import signals
from .answers import JSON_TYPE, OK, Answer, json_answer, text_answer
from .body import UnreadableBody, read_body
from .executors import Acceptance
from .netguard import NetworkAllowlist
from .pipeline import Outcome, Result, run_update
from .refusals import RefusalLog

if TYPE_CHECKING:
    from .state import TelegramState

logger = logging.getLogger("flask_tgwebhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
# The fast path reads the WSGI environ directly: werkzeug's header and stream wrappers cost
# more than everything else this view does.
_SECRET_KEY = "HTTP_" + SECRET_HEADER.upper().replace("-", "_")


def make_webhook_blueprint(state: TelegramState, name: str = "tgwebhook") -> Blueprint:
    """A Blueprint with the webhook route at ``state.settings.webhook_path`` (POST only).

    The path answers with and without a trailing slash: Telegram follows no redirect, and a
    platform's guide may give either spelling of the URL.
    """
    blueprint = Blueprint(name, __name__)
    view = WebhookView(state)
    for rule in webhook_paths(state.settings.webhook_path):
        blueprint.add_url_rule(
            rule,
            endpoint="webhook",
            view_func=view,
            methods=["POST"],
            provide_automatic_options=False,
            strict_slashes=False,
        )
    return blueprint


def webhook_paths(path: str) -> list[str]:
    """The spellings of the webhook route: ``path``, and with the trailing slash toggled."""
    spellings = [path]
    if path != "/":
        spellings.append(path[:-1] if path.endswith("/") else path + "/")
    return spellings


def answer(result: Result, retry_after: int) -> Answer:
    """The HTTP answer to Telegram for what the pipeline did with an update."""
    outcome = result.outcome
    if outcome is Outcome.RUNNING:
        # Telegram will deliver it again; if the first copy dies, that retry handles it.
        return text_answer(503, "Still handling this update.", [("Retry-After", str(retry_after))])
    if outcome is Outcome.RETRY:
        return text_answer(500, "The handler failed; Telegram will deliver the update again.")
    reply = result.reply
    if reply is not None:
        return json_answer(reply.to_json())
    return OK


def acknowledge(acceptance: Acceptance, retry_after: int) -> Answer:
    """The HTTP answer to Telegram for an update handed to a background executor."""
    later = [("Retry-After", str(retry_after))]
    if acceptance is Acceptance.BUSY:
        return text_answer(429, "Too Many Requests: the update queue is full.", later)
    if acceptance is Acceptance.UNAVAILABLE:
        return text_answer(503, "Service Unavailable: the update store failed.", later)
    return OK


def _is_json(content_type: str | None) -> bool:
    """Whether a Content-Type other than exactly ``application/json`` still means JSON."""
    if not content_type:
        return False
    return content_type.partition(";")[0].strip().lower() == JSON_TYPE


class WebhookView:
    """The view function; one per app, holding that app's state."""

    def __init__(self, state: TelegramState) -> None:
        self.state = state
        settings = state.settings
        secret = settings.webhook_secret
        self.secret: bytes | None = secret.encode() if secret is not None else None
        self.max_body_size = settings.max_body_size
        networks = settings.allowed_networks
        self.allowlist = NetworkAllowlist(networks) if networks is not None else None
        #: Refusals are a broken deploy more often than an attack: logged, but not flooded.
        self.refusals = RefusalLog(logger)
        self.problem = settings.problem
        self.problem_logged = False
        self.__name__ = "webhook"

    def __call__(self) -> Response:
        return self.respond(request.environ).response()

    def respond(self, environ: dict[str, Any]) -> Answer:
        """The answer to one webhook POST, from its WSGI environ alone (the fast path,
        :mod:`flask_tgwebhook.fastpath`, calls this without a request context)."""
        if self.problem is not None:
            return self.unavailable()
        if self.allowlist is not None and not self.allowlist.allows(environ.get("REMOTE_ADDR")):
            return self.reject(
                environ,
                403,
                "network",
                "Forbidden: this address is not in TELEGRAM_ALLOWED_NETWORKS.",
            )
        if self.secret is not None and not self.secret_matches(environ):
            return self.reject(environ, 403, "secret", "Forbidden: missing or wrong secret token.")
        try:
            body = self.read_body(environ)
        except UnreadableBody as exc:
            return self.reject(environ, 400, "body", f"Bad Request: {exc}")
        if body is None:
            return self.reject(
                environ, 413, "size", "Payload Too Large: the update is over the size limit."
            )
        raw = self.parse(body)
        if raw is None:  # whatever its Content-Type says: the table's 400 row holds for all
            return self.reject(
                environ, 400, "body", "Bad Request: the body must be a JSON update object."
            )
        content_type = environ.get("CONTENT_TYPE")
        if content_type != JSON_TYPE and not _is_json(content_type):
            # An update, but not sent as Telegram sends it (curl -d, a form): say how.
            return self.reject(
                environ,
                415,
                "content-type",
                "Unsupported Media Type: send the update as application/json.",
            )
        return self.handle(raw)

    def secret_matches(self, environ: dict[str, Any]) -> bool:
        given = environ.get(_SECRET_KEY)
        if given is None or self.secret is None:
            return self.secret is None
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.secret)

    def read_body(self, environ: dict[str, Any]) -> bytes | None:
        """The body, or ``None`` when it is over the limit (checked before reading it).

        A malformed Content-Length reads as an empty body (400 follows).

        :raises UnreadableBody: broken chunked framing, or the client left (400).
        """
        return read_body(environ, self.max_body_size)

    @staticmethod
    def parse(body: bytes) -> dict[str, Any] | None:
        try:
            raw = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            return None
        if type(raw) is not dict or type(raw.get("update_id")) is not int:
            return None
        return raw

    def handle(self, raw: dict[str, Any]) -> Answer:
        """Run the update through the pipeline (or hand it to the background executor) and
        answer Telegram with what became of it."""
        executor = self.state.executor
        if executor is None:
            return answer(run_update(self.state, raw), self.state.settings.retry_after)
        return acknowledge(executor.accept(raw), self.state.settings.retry_after)

    def unavailable(self) -> Answer:
        """The bot is not configured: 503, so Telegram keeps the update and tries again."""
        if not self.problem_logged:  # once per process: the cause does not change
            self.problem_logged = True
            logger.error("The Telegram webhook answers 503 until this is fixed: %s", self.problem)
        return text_answer(
            503, "Service Unavailable: the bot is not configured; see the server log."
        )

    def reject(self, environ: dict[str, Any], status: int, kind: str, reason: str) -> Answer:
        self.state.stats["rejected"] += 1
        self.refusals.refused(kind, status, reason, environ.get("REMOTE_ADDR"))
        if signals.request_rejected.receivers:
            signals.request_rejected.send(self.state.app, status=status, reason=reason)
        return text_answer(status, reason)
