"""The webhook's public URL: where it comes from, and whether Telegram would accept it."""

from __future__ import annotations

from urllib.parse import urlsplit

from .config import public_webhook_url
from .redact import redact

__all__ = ["ALLOWED_PORTS", "WebhookURLError", "public_webhook_url", "validate_webhook_url"]

#: The ports Telegram delivers webhooks to.
ALLOWED_PORTS = (443, 80, 88, 8443)


class WebhookURLError(ValueError):
    """The webhook URL is one Telegram would refuse; the message says what to change."""


def validate_webhook_url(url: str, *, token: str | None = None) -> str:
    """Return ``url`` if Telegram would accept it as a webhook; raise :class:`WebhookURLError`.

    Telegram delivers only over HTTPS, only to ports 443, 80, 88 and 8443. When ``token`` is
    given, a URL that contains it is refused too: URLs end up in logs.
    """
    if token and token.partition(":")[2] in url:  # the secret part is what must not leak
        raise WebhookURLError(
            "The webhook URL contains the bot token; use a path without it (the default "
            "TELEGRAM_WEBHOOK_PATH is fine) and let the secret token authenticate Telegram."
        )
    parts = urlsplit(url)
    shown = repr(redact(url))  # a URL an older library registered may hold the token
    if parts.scheme != "https":
        raise WebhookURLError(
            f"Telegram delivers webhooks only over HTTPS, and {shown} is not an https:// URL. "
            "Serve the app behind TLS (nginx, or your platform's https address) and use that URL."
        )
    if not parts.hostname:
        raise WebhookURLError(f"{shown} has no host name; give the full https://host/path URL.")
    try:
        port = parts.port or 443
    except ValueError:
        raise WebhookURLError(f"{shown} has a port that is not a number.") from None
    if port not in ALLOWED_PORTS:
        raise WebhookURLError(
            f"Telegram delivers webhooks only to ports 443, 80, 88 and 8443, not {port}. "
            "Listen on one of those (or put a proxy there) and change the URL."
        )
    return url
