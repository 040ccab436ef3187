"""The Blueprint that answers external links: ``<TELEGRAM_EXTERNAL_PATH>/<token>``.

Checks run cheapest first and nothing is read before it is allowed: method, declared size,
flood limit per client, signature, bot, expiry, command, client address, flood limit per
link; only then is the body read and the handler run.
"""

from __future__ import annotations

import io
import logging
from types import MappingProxyType
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.datastructures import Headers
from werkzeug.exceptions import HTTPException

from ..answers import text_answer
from ..body import UnreadableBody, read_body
from .registry import ExternalCall, ExternalHook, LinkState
from .signing import ExpiredLink, LinkClaims, LinkError, claims_digest, load_token, signing_keys

logger = logging.getLogger("flask_tgwebhook.external")

ALLOWED_METHODS = ("GET", "POST")

# Methods routed to the view only to be answered 405 in our words (HEAD would otherwise run
# the GET handler: link checkers send it, and it must not have effects).
_ROUTED_METHODS = ["GET", "POST", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"]


def make_external_blueprint(state: LinkState, name: str = "tgwebhook_external") -> Blueprint:
    """A Blueprint with the route ``<TELEGRAM_EXTERNAL_PATH>/<token>`` for ``state``'s app."""
    blueprint = Blueprint(name, __name__)
    blueprint.add_url_rule(
        f"{state.settings.external_path}/<token>",
        endpoint="call",
        view_func=ExternalView(state),
        methods=_ROUTED_METHODS,
        provide_automatic_options=False,
    )
    return blueprint


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    return text_answer(status, text, (headers or {}).items()).response()


class ExternalView:
    """The view function; one per app, holding that app's state."""

    def __init__(self, state: LinkState) -> None:
        self.state = state
        self.__name__ = "external_call"

    def __call__(self, token: str) -> Response:
        try:
            return self.answer(token)
        except HTTPException:
            raise
        except Exception:
            # Flask would log this with request.path, which holds the token; log it here
            # without the path instead.
            logger.exception("Answering an external call failed.")
            return _plain(503, "Service unavailable: try again later.")

    def answer(self, token: str) -> Response:
        state = self.state
        if request.method not in ALLOWED_METHODS:
            return _plain(405, "Method not allowed: use GET or POST.", {"Allow": "GET, POST"})
        max_size = state.settings.external_max_body_size
        if request.content_length is not None and request.content_length > max_size:
            return self.reject(413, "Request body too large.")
        ip = request.remote_addr
        retry_after = self.limited("ip", ip or "unknown")
        if retry_after is not None:
            return self.too_many(retry_after)
        try:
            claims = load_token(signing_keys(current_app.config), token)
        except ExpiredLink:
            return self.reject(410, "Gone: this link has expired.")
        except LinkError:
            return self.reject(403, "Forbidden: this link is not valid.")
        if claims.bot_id != state.bot_id:
            return self.reject(403, "Forbidden: this link is not valid.", "made for another bot")
        hook = state.registry.get(claims.command)
        if hook is None:
            return self.reject(404, "Not found: nothing handles this link.", claims.command)
        if not hook.allows(ip):
            return self.reject(403, "Forbidden: not allowed from this address.", claims.command)
        retry_after = self.limited("link", claims_digest(claims))
        if retry_after is not None:
            return self.too_many(retry_after)
        try:
            body = read_body(request.environ, max_size)
        except UnreadableBody as exc:
            return self.reject(400, f"Bad Request: {exc}")
        if body is None:  # a chunked body declares no length: it is counted while read
            return self.reject(413, "Request body too large.")
        _replay(request.environ, body)
        return self.run(hook, claims)

    def run(self, hook: ExternalHook, claims: LinkClaims) -> Response:
        self.state.registry.freeze()
        call = build_call(claims)
        try:
            result = hook.callback(call)
            response = Response(b"", 200) if result is None else current_app.make_response(result)
        except HTTPException:
            raise  # abort(400) in a handler (a provider's bad signature) answers as such
        except Exception:
            # A provider that sees 5xx retries later; it must never see our traceback.
            logger.exception(
                "The external handler %r raised for user %s.", hook.command, claims.user_id
            )
            return _plain(503, "Service unavailable: the handler failed; try again later.")
        # The URL is a password: a page served from it must not pass it on as the Referer of
        # its links and images, nor be kept by a shared cache.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def limited(self, kind: str, identifier: str) -> int | None:
        limiter = self.state.limiter
        return None if limiter is None else limiter.hit(kind, identifier)

    def too_many(self, retry_after: int) -> Response:
        logger.info("External call refused (429): over TELEGRAM_EXTERNAL_RATE_LIMIT.")
        return _plain(429, "Too many requests.", {"Retry-After": str(retry_after)})

    def reject(self, status: int, text: str, detail: str | None = None) -> Response:
        # The token is a password, so neither it nor the path holding it is logged.
        logger.info(
            "External call refused (%d): %s%s client=%s",
            status,
            text,
            f" ({detail})" if detail else "",
            request.remote_addr,
        )
        return _plain(status, text)


def _replay(environ: dict[str, Any], body: bytes) -> None:
    """Put the body read back as the request's stream, for werkzeug's form and JSON parsers."""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["wsgi.input_terminated"] = True  # werkzeug reads it as it is, to its end


def build_call(claims: LinkClaims) -> ExternalCall:
    """The handler's view of the current request (reads the body: the checks are done)."""
    body = request.get_data(cache=True)
    extra = MappingProxyType(dict(claims.extra))
    return ExternalCall(
        user_id=claims.user_id,
        command=claims.command,
        content=_content(),
        url=request.url,
        method=request.method,
        params=MappingProxyType({**request.args.to_dict(), **extra}),
        headers=Headers(request.headers),
        ip=request.remote_addr,
        body=body,
        extra=extra,
    )


def _content() -> Any:
    """The ``content`` parameter, else the JSON body, else the form, else ``None``."""
    if "content" in request.args:
        return request.args["content"]
    form = request.form  # parsed from the cached body, which stays intact
    if "content" in form:
        return form["content"]
    if request.is_json:
        try:
            return request.get_json(silent=True)
        except RecursionError:  # nested past the interpreter's limit: as unreadable as bad JSON
            return None
    return form.to_dict() or None
