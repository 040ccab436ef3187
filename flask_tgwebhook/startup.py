"""Start-up webhook configuration: the public URL, and setting the webhook only when needed.

Run once per deploy (the gunicorn hook in :mod:`flask_tgwebhook.gunicorn` does it in the master
process), never once per worker: Telegram answers a burst of ``setWebhook`` calls with 429.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .client import Bot, InputFile
from .config import DEFAULTS, Settings, public_host
from .update import UPDATE_TYPES

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "ALLOWED_PORTS",
    "ENABLED_KEY",
    "WebhookReport",
    "WebhookURLError",
    "bot_enabled",
    "ensure_webhook",
    "public_webhook_url",
    "setup_webhook",
    "validate_webhook_url",
]

#: The ports Telegram delivers webhooks to.
ALLOWED_PORTS = (443, 80, 88, 8443)

#: Longest flood-control wait (seconds) the start-up configuration sits out.
STARTUP_FLOOD_WAIT = 30.0

#: The switch: ``False`` (or "0", "false", "no", "off" in the environment) turns the bot off.
ENABLED_KEY = "TELEGRAM_BOT_ENABLED"

_default_logger = logging.getLogger("flask_tgwebhook.startup")


class WebhookURLError(ValueError):
    """The webhook URL is one Telegram would refuse; the message says what to change."""


def public_webhook_url(
    config: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> str | None:
    """The public https URL Telegram should deliver to, or ``None`` when nothing says.

    ``TELEGRAM_WEBHOOK_URL`` (config, then environment) wins; otherwise the public host
    (``TELEGRAM_PUBLIC_HOST``, or the platform's variable: Railway's ``RAILWAY_PUBLIC_DOMAIN``,
    Render's ``RENDER_EXTERNAL_HOSTNAME``, Fly's ``FLY_APP_NAME`` as ``<name>.fly.dev``)
    plus ``TELEGRAM_WEBHOOK_PATH``.
    """
    env = os.environ if environ is None else environ
    url = config.get("TELEGRAM_WEBHOOK_URL") or env.get("TELEGRAM_WEBHOOK_URL")
    if url:
        return str(url)
    host = public_host(config, env)
    if not host:
        return None
    path = str(config.get("TELEGRAM_WEBHOOK_PATH") or DEFAULTS["TELEGRAM_WEBHOOK_PATH"])
    return f"https://{host}{path}"


def validate_webhook_url(url: str, *, token: str | None = None) -> str:
    """Return ``url`` if Telegram would accept it as a webhook; raise :class:`WebhookURLError`.

    Telegram delivers only over HTTPS, only to ports 443, 80, 88 and 8443. When ``token`` is
    given, a URL that contains it is refused too: URLs end up in logs.
    """
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise WebhookURLError(
            f"Telegram delivers webhooks only over HTTPS, and {url!r} is not an https:// URL. "
            "Serve the app behind TLS (nginx, or your platform's https address) and use that URL."
        )
    if not parts.hostname:
        raise WebhookURLError(f"{url!r} has no host name; give the full https://host/path URL.")
    try:
        port = parts.port or 443
    except ValueError:
        raise WebhookURLError(f"{url!r} has a port that is not a number.") from None
    if port not in ALLOWED_PORTS:
        raise WebhookURLError(
            f"Telegram delivers webhooks only to ports 443, 80, 88 and 8443, not {port}. "
            "Listen on one of those (or put a proxy there) and change the URL."
        )
    if token and token.partition(":")[2] in url:  # the secret part is what must not leak
        raise WebhookURLError(
            "The webhook URL contains the bot token; use a path without it (the default "
            "TELEGRAM_WEBHOOK_PATH is fine) and let the secret token authenticate Telegram."
        )
    return url


def bot_enabled(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> bool:
    """The ``TELEGRAM_BOT_ENABLED`` switch (config, then environment); on unless turned off."""
    return _flag(config, os.environ if environ is None else environ, ENABLED_KEY, True)


def _setting(config: Mapping[str, Any], env: Mapping[str, str], key: str) -> Any:
    value = config.get(key)
    return env.get(key) if value is None else value


def _flag(config: Mapping[str, Any], env: Mapping[str, str], key: str, default: bool) -> bool:
    value = _setting(config, env, key)
    if value is None or isinstance(value, bool):
        return default if value is None else value
    text = str(value).strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise RuntimeError(f"{key} must be true or false (1/0, yes/no, on/off), got {value!r}.")


def _number(config: Mapping[str, Any], env: Mapping[str, str], key: str) -> int | None:
    value = _setting(config, env, key)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RuntimeError(f"{key} must be a whole number, got {value!r}.") from None


@dataclass
class WebhookReport:
    """What :func:`ensure_webhook` found and did."""

    url: str | None
    #: True when setWebhook (or, for a disabled bot, deleteWebhook) was called.
    changed: bool = False
    #: How Telegram's webhook differed from what was wanted (empty when it matched).
    reasons: list[str] = field(default_factory=list)
    #: The webhook URL Telegram had before, when it was another one.
    previous_url: str | None = None
    #: getWebhookInfo's answer after any change.
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def pending_update_count(self) -> int:
        return int(self.info.get("pending_update_count") or 0)

    @property
    def last_error_message(self) -> str | None:
        return self.info.get("last_error_message") or None

    @property
    def last_error_date(self) -> dt.datetime | None:
        return _date(self.info.get("last_error_date"))


def _date(epoch: Any) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(epoch, dt.UTC) if isinstance(epoch, int) and epoch else None


def differences(
    info: Mapping[str, Any],
    url: str,
    *,
    certificate: bool,
    allowed_updates: Sequence[str] | None,
    max_connections: int | None,
    ip_address: str | None,
) -> list[str]:
    """How getWebhookInfo's answer differs from what is wanted, in words; empty if it matches.

    Telegram does not report the secret token or the certificate itself, so a changed secret
    or a new certificate is not seen here; a last error of 403 (our route refusing a stale
    secret) is taken as a difference, and ``ensure_webhook(force=True)`` covers the rest.
    """
    found: list[str] = []
    current = info.get("url") or ""
    if current != url:
        found.append(f"the URL was {current or 'not set'}")
    if certificate and not info.get("has_custom_certificate"):
        found.append("Telegram had no certificate of ours")
    if not certificate and info.get("has_custom_certificate"):
        found.append("Telegram had a self-signed certificate")
    if allowed_updates is not None and not _same_updates(info, allowed_updates):
        have = ", ".join(sorted(info.get("allowed_updates") or ())) or "the default"
        found.append(f"allowed_updates was {have}")
    if max_connections is not None and info.get("max_connections") != max_connections:
        found.append(f"max_connections was {info.get('max_connections')}")
    if ip_address is not None and info.get("ip_address") != ip_address:
        found.append(f"ip_address was {info.get('ip_address')}")
    if current == url and "403" in str(info.get("last_error_message") or ""):
        found.append("the last delivery was refused with 403, so the secret token may have changed")
    return found


def _same_updates(info: Mapping[str, Any], wanted: Sequence[str]) -> bool:
    """Telegram drops the types it does not know from ``allowed_updates``: a handler for a
    type newer than this library's list, or a misspelt one, must not make every deploy set
    the webhook again. Only types this version knows are compared for being missing."""
    have, want = set(info.get("allowed_updates") or ()), set(wanted)
    return have == want or (have <= want and not (want - have) & set(UPDATE_TYPES))


def patient_bot(settings: Settings, flood_wait_max: float) -> Bot:
    """A client that waits out flood control and retries 5xx answers to idempotent calls:
    for commands and start-up, where waiting beats failing (never the webhook's own path)."""
    if not settings.token:
        raise RuntimeError("No bot token: set TELEGRAM_BOT_TOKEN to call the Bot API.")
    return Bot(
        settings.token,
        api_url=settings.api_url,
        timeout=settings.timeout,
        flood_wait_max=flood_wait_max,
        server_error_retries=3,
    )


def ensure_webhook(
    bot: Bot,
    url: str,
    *,
    secret_token: str | None,
    certificate: str | os.PathLike[str] | bytes | None = None,
    allowed_updates: Sequence[str] | None = None,
    max_connections: int | None = None,
    ip_address: str | None = None,
    drop_pending_updates: bool = False,
    force: bool = False,
    logger: logging.Logger | None = None,
) -> WebhookReport:
    """Make Telegram's webhook what is wanted, calling setWebhook only if it is not already.

    Reads getWebhookInfo; when it differs (or ``force``), removes a webhook that points
    elsewhere, calls setWebhook, reads getWebhookInfo again and logs the URL, the pending
    updates and Telegram's last delivery error. ``certificate`` is a PEM file path or its bytes,
    uploaded for a self-signed certificate.

    :raises WebhookURLError: the URL is one Telegram refuses (checked before any call).
    :raises flask_tgwebhook.errors.TelegramError: the Bot API refused or could not be reached.
    """
    log = logger or _default_logger
    validate_webhook_url(url)
    info: dict[str, Any] = bot.call("getWebhookInfo")
    reasons = differences(
        info,
        url,
        certificate=certificate is not None,
        allowed_updates=allowed_updates,
        max_connections=max_connections,
        ip_address=ip_address,
    )
    report = WebhookReport(url=url, reasons=reasons, info=info)
    if not reasons and not force:
        log.info("The webhook is already %s; nothing to change.", url)
        _log_status(log, info)
        return report
    previous = info.get("url") or None
    if previous and previous != url:
        bot.call("deleteWebhook", drop_pending_updates=drop_pending_updates)
        report.previous_url = previous
        log.info("Removed the previous webhook %s.", previous)
    upload: InputFile | None = None
    if isinstance(certificate, bytes):
        upload = InputFile(certificate, filename="certificate.pem")
    elif certificate is not None:
        upload = InputFile(Path(certificate))
    bot.call(
        "setWebhook",
        url=url,
        secret_token=secret_token,
        certificate=upload,
        allowed_updates=list(allowed_updates) if allowed_updates is not None else None,
        max_connections=max_connections,
        ip_address=ip_address,
        drop_pending_updates=drop_pending_updates or None,
    )
    report.changed = True
    if reasons:
        log.info("Set the webhook to %s (before: %s).", url, "; ".join(reasons))
    else:
        log.info("Set the webhook to %s.", url)
    report.info = bot.call("getWebhookInfo")
    _log_status(log, report.info)
    return report


def _log_status(log: logging.Logger, info: Mapping[str, Any]) -> None:
    log.info("Telegram has %d pending updates for this bot.", info.get("pending_update_count", 0))
    error = info.get("last_error_message")
    if error:
        when = _date(info.get("last_error_date"))
        stamp = when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else "an unknown time"
        log.warning("Telegram's last delivery error, at %s: %s", stamp, error)


def setup_webhook(
    app: Flask,
    *,
    environ: Mapping[str, str] | None = None,
    force: bool = False,
    logger: logging.Logger | None = None,
) -> WebhookReport:
    """Configure the webhook for ``app`` from its config: what the start-up hook runs.

    Uses the public URL (:func:`public_webhook_url`), the app's secret, the update types
    that have handlers, and these optional keys (config, then environment):
    ``TELEGRAM_WEBHOOK_CERTIFICATE`` (PEM path to upload), ``TELEGRAM_WEBHOOK_MAX_CONNECTIONS``,
    ``TELEGRAM_WEBHOOK_IP_ADDRESS``, ``TELEGRAM_DROP_PENDING_UPDATES``. With
    ``TELEGRAM_BOT_ENABLED`` off it removes the webhook when it points at this app (so the bot
    stops, and updates wait at Telegram) and sets none.

    :raises RuntimeError: the configuration does not say enough; the message says the fix.
    """
    from .extension import EXTENSION_KEY

    log = logger or _default_logger
    env = os.environ if environ is None else environ
    state = app.extensions.get(EXTENSION_KEY)
    if state is None:
        raise RuntimeError(
            f"flask_tgwebhook is not set up on the app {app.name!r}; call tg.init_app(app) "
            "in the app (or its factory) that the server loads."
        )
    settings, config = state.settings, app.config
    url = public_webhook_url(config, env)
    enabled = bot_enabled(config, env)
    if not settings.token:
        if not enabled:
            log.warning("%s is off and there is no token: nothing to do.", ENABLED_KEY)
            return WebhookReport(url=None)
        raise RuntimeError(
            "No bot token to set the webhook with: set TELEGRAM_BOT_TOKEN in the environment "
            f"or the app's config, or turn the bot off with {ENABLED_KEY}=false."
        )
    # Every configuration problem is found before the first call to Telegram.
    wanted = _wanted_webhook(config, env, url, settings.token) if enabled else {}
    # A throwaway client: this runs in a server's master process, and a pooled
    # connection made here must not be inherited by the forked workers.
    bot = patient_bot(settings, STARTUP_FLOOD_WAIT)
    try:
        if not enabled:
            return _disable(bot, url, log)
        log.info("Webhook URL: %s", url)
        return ensure_webhook(
            bot,
            str(url),
            secret_token=settings.webhook_secret,
            allowed_updates=state.ext.allowed_updates,
            force=force,
            logger=log,
            **wanted,
        )
    finally:
        bot.close()


def _wanted_webhook(
    config: Mapping[str, Any], env: Mapping[str, str], url: str | None, token: str
) -> dict[str, Any]:
    """setWebhook's optional parameters from the config; RuntimeError saying the fix."""
    if not url:
        raise RuntimeError(
            "No public URL for the webhook: set TELEGRAM_WEBHOOK_URL to the https address "
            "Telegram should call, or TELEGRAM_PUBLIC_HOST to this app's public host name "
            f"(Railway, Render and Fly set theirs automatically), or {ENABLED_KEY}=false."
        )
    try:
        validate_webhook_url(url, token=token)
    except WebhookURLError as exc:
        raise RuntimeError(f"TELEGRAM_WEBHOOK_URL: {exc}") from None
    certificate = _setting(config, env, "TELEGRAM_WEBHOOK_CERTIFICATE") or None
    if certificate is not None and not Path(certificate).is_file():
        raise RuntimeError(
            f"TELEGRAM_WEBHOOK_CERTIFICATE is {certificate!r}, which is not a file; give "
            "the path of the PEM certificate to upload (`flask tg gen-cert` makes one)."
        )
    return {
        "certificate": certificate,
        "max_connections": _number(config, env, "TELEGRAM_WEBHOOK_MAX_CONNECTIONS"),
        "ip_address": _setting(config, env, "TELEGRAM_WEBHOOK_IP_ADDRESS") or None,
        "drop_pending_updates": _flag(config, env, "TELEGRAM_DROP_PENDING_UPDATES", False),
    }


def _disable(bot: Bot, url: str | None, log: logging.Logger) -> WebhookReport:
    info: dict[str, Any] = bot.call("getWebhookInfo")
    report = WebhookReport(url=None, info=info)
    current = info.get("url") or None
    if current and current == url:
        bot.call("deleteWebhook")
        report.changed, report.previous_url = True, current
        report.info = bot.call("getWebhookInfo")
        log.warning(
            "%s is off: removed the webhook %s; Telegram keeps the updates until it is back.",
            ENABLED_KEY,
            current,
        )
    else:
        log.warning(
            "%s is off: the bot is not started and the webhook (%s) is left alone.",
            ENABLED_KEY,
            current or "none",
        )
    return report
