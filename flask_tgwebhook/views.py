"""The webhook Blueprint: address, secret, content type, size, parse, dedupe, dispatch, answer.

This is the fast path, so it does only that, in that order, and builds nothing nobody asked
for. Every answer follows DESIGN.md's table "The webhook request"; docs/security.rst says
what each check guarantees.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, request

from . import signals
from .body import UnreadableBody, read_body
from .dispatch import UNHANDLED, Failure
from .netguard import NetworkAllowlist
from .refusals import RefusalLog
from .reply import Reply
from .stores import Claim
from .update import Update

if TYPE_CHECKING:
    from .extension import TelegramState

logger = logging.getLogger("flask_tgwebhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
# The fast path reads the WSGI environ directly: werkzeug's header and stream wrappers cost
# more than everything else this view does.
_SECRET_KEY = "HTTP_" + SECRET_HEADER.upper().replace("-", "_")
#: What Telegram sends; parameters such as ``; charset=utf-8`` are accepted after it.
JSON_TYPE = "application/json"


def make_webhook_blueprint(state: TelegramState, name: str = "tgwebhook") -> Blueprint:
    """A Blueprint with the webhook route at ``state.settings.webhook_path`` (POST only)."""
    blueprint = Blueprint(name, __name__)
    blueprint.add_url_rule(
        state.settings.webhook_path,
        endpoint="webhook",
        view_func=WebhookView(state),
        methods=["POST"],
        provide_automatic_options=False,
    )
    return blueprint


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(text, status, headers, mimetype="text/plain")


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
        self.__name__ = "webhook"

    def __call__(self) -> Response:
        environ = request.environ
        if self.allowlist is not None and not self.allowlist.allows(environ.get("REMOTE_ADDR")):
            return self.reject(
                403, "network", "Forbidden: this address is not in TELEGRAM_ALLOWED_NETWORKS."
            )
        if self.secret is not None and not self.secret_matches(environ):
            return self.reject(403, "secret", "Forbidden: missing or wrong secret token.")
        content_type = environ.get("CONTENT_TYPE")
        if content_type != JSON_TYPE and not _is_json(content_type):
            return self.reject(
                415, "content-type", "Unsupported Media Type: send the update as application/json."
            )
        try:
            body = self.read_body(environ)
        except UnreadableBody as exc:
            return self.reject(400, "body", f"Bad Request: {exc}")
        if body is None:
            return self.reject(413, "size", "Payload Too Large: the update is over the size limit.")
        raw = self.parse(body)
        if raw is None:
            return self.reject(400, "body", "Bad Request: the body must be a JSON update object.")
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

    def handle(self, raw: dict[str, Any]) -> Response:
        state = self.state
        update = Update(raw, state.bot_username)
        state.stats["received"] += 1
        if signals.update_received.receivers:
            signals.update_received.send(state.app, update=update)

        key = state.key_prefix + str(update.update_id)
        claim = state.claim(key)
        if claim is not Claim.NEW:
            return self.duplicate(update, claim)

        result = state.ext.table.dispatch(update)
        if result is UNHANDLED:
            return self.unhandled(update, key)
        if type(result) is Failure:
            return self.failed(update, key, result)
        state.finish(key)
        state.stats["handled"] += 1
        if signals.update_handled.receivers:
            signals.update_handled.send(state.app, update=update, result=result)
        if type(result) is Reply:
            return Response(result.to_json(), 200, mimetype="application/json")
        return Response(status=200)

    def duplicate(self, update: Update, claim: Claim) -> Response:
        running = claim is Claim.RUNNING
        self.state.stats["duplicates"] += 1
        logger.info(
            "Update %d delivered again while %s.",
            update.update_id,
            "still running" if running else "already handled",
        )
        if signals.update_duplicate.receivers:
            signals.update_duplicate.send(
                self.state.app, update_id=update.update_id, running=running
            )
        if running:
            # Telegram will deliver it again; if the first copy dies, that retry handles it.
            retry_after = str(self.state.settings.retry_after)
            return _plain(503, "Still handling this update.", {"Retry-After": retry_after})
        return Response(status=200)

    def unhandled(self, update: Update, key: str) -> Response:
        self.state.finish(key)
        self.state.stats["unhandled"] += 1
        logger.debug("No handler for update %d of type %r.", update.update_id, update.type)
        if signals.update_unhandled.receivers:
            signals.update_unhandled.send(self.state.app, update=update)
        return Response(status=200)

    def failed(self, update: Update, key: str, failure: Failure) -> Response:
        state = self.state
        state.stats["failed"] += 1
        if not failure.handled:
            logger.error(
                "The handler for update %d (%s) raised.",
                update.update_id,
                update.type,
                exc_info=failure.error,
            )
        if signals.update_failed.receivers:
            signals.update_failed.send(
                state.app, update=update, exception=failure.error, handled=failure.handled
            )
        if state.settings.on_error == "retry" and not failure.handled:
            failures = state.count_failure(state.key_prefix + "failures:" + str(update.update_id))
            if failures <= state.settings.max_retries:
                state.release(key)
                return _plain(500, "The handler failed; Telegram will deliver the update again.")
            # A poison update would otherwise hold back its chat's later updates for a day.
            logger.error(
                "Update %d failed %d times; acknowledging it (TELEGRAM_MAX_RETRIES = %d).",
                update.update_id,
                failures,
                state.settings.max_retries,
            )
        state.finish(key)
        if type(failure.value) is Reply:
            return Response(failure.value.to_json(), 200, mimetype="application/json")
        return Response(status=200)

    def reject(self, status: int, kind: str, reason: str) -> Response:
        self.state.stats["rejected"] += 1
        self.refusals.refused(kind, status, reason, request.remote_addr)
        if signals.request_rejected.receivers:
            signals.request_rejected.send(self.state.app, status=status, reason=reason)
        return _plain(status, reason)
