"""Start-up webhook configuration: setting the webhook only when it differs from the wanted one.

Run once per deploy (the gunicorn hook in :mod:`flask_tgwebhook.gunicorn` does it in the master
process), never once per worker: Telegram answers a burst of ``setWebhook`` calls with 429.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .client import Bot, InputFile
from .config import NO_SECRET, DeploySettings, Settings, optional_flag
from .redact import redact
from .startup_warnings import (
    check_certificate_kept,
    ip_without_certificate,
    links_without_secret_key,
    token_shadowed,
    webhook_taken,
)
from .state import get_state
from .tokens import NO_TOKEN
from .webhook_report import WebhookReport, date_from_epoch, differences
from .webhook_url import (
    ALLOWED_PORTS,
    WebhookURLError,
    public_webhook_url,
    validate_webhook_url,
)

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

#: Longest flood-control wait (seconds) the start-up configuration sits out.
STARTUP_FLOOD_WAIT = 30.0

#: The switch: ``False`` (or "0", "false", "no", "off" in the environment) turns the bot off.
ENABLED_KEY = "TELEGRAM_BOT_ENABLED"

_default_logger = logging.getLogger("flask_tgwebhook.startup")
T = TypeVar("T")


def bot_enabled(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> bool:
    """The ``TELEGRAM_BOT_ENABLED`` switch (config, then environment); on unless turned off."""
    return optional_flag(config, os.environ if environ is None else environ, ENABLED_KEY, True)


def patient_bot(settings: Settings, flood_wait_max: float) -> Bot:
    """A client that waits out flood control and retries 5xx answers to idempotent calls:
    for commands and start-up, where waiting beats failing (never the webhook's own path)."""
    if not settings.token:
        raise RuntimeError(NO_TOKEN)
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
    check_url: bool = True,
    drop_certificate: bool = False,
    logger: logging.Logger | None = None,
) -> WebhookReport:
    """Make Telegram's webhook what is wanted, calling setWebhook only if it is not already.

    Reads getWebhookInfo; when it differs (or ``force``), removes a webhook that points
    elsewhere, calls setWebhook, reads getWebhookInfo again and logs the URL, the pending
    updates and Telegram's last delivery error. ``certificate`` is a PEM file path or its bytes,
    uploaded for a self-signed certificate. A certificate Telegram already has is kept: without
    ``certificate`` nothing that would remove it is sent, unless ``drop_certificate``.

    :raises WebhookURLError: the URL is one Telegram refuses (checked before any call).
    :raises flask_tgwebhook.startup_warnings.CertificateWouldBeDropped: setWebhook is needed,
        Telegram has an uploaded certificate, and neither it nor ``drop_certificate`` is given.
    :raises flask_tgwebhook.errors.TelegramError: the Bot API refused or could not be reached.
    """
    log = logger or _default_logger
    if check_url:
        validate_webhook_url(url)
    info: dict[str, Any] = bot.call("getWebhookInfo")
    # setWebhook without a certificate removes the uploaded one: keep it unless told.
    keep = bool(info.get("has_custom_certificate")) and certificate is None and not drop_certificate
    if certificate is None and not keep:
        advice = ip_without_certificate(url, certificate)
        if advice:
            log.warning("%s", advice)
    reasons = differences(
        info,
        url,
        certificate=certificate is not None or keep,
        allowed_updates=allowed_updates,
        max_connections=max_connections,
        ip_address=ip_address,
    )
    report = WebhookReport(url=url, reasons=reasons, info=info)
    if not reasons and not force:
        log.info("The webhook is already %s; nothing to change.", url)
        _log_status(log, info)
        return report
    check_certificate_kept(info, certificate, drop_certificate=drop_certificate)
    previous = info.get("url") or None
    if previous and previous != url:
        log.warning("%s", webhook_taken(info, url))
        bot.call("deleteWebhook", drop_pending_updates=drop_pending_updates)
        report.previous_url = previous
        # Redacted here too, for a logger of the caller's: older libraries registered
        # https://host/<token>.
        log.info("Removed the previous webhook %s.", redact(previous))
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
        when = date_from_epoch(info.get("last_error_date"))
        stamp = when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else "an unknown time"
        log.warning("Telegram's last delivery error, at %s: %s", stamp, error)


def setup_webhook(
    app: Flask,
    *,
    url: str | None = None,
    certificate: str | os.PathLike[str] | bytes | None = None,
    secret_token: str | None = None,
    allowed_updates: Sequence[str] | None = None,
    max_connections: int | None = None,
    ip_address: str | None = None,
    drop_pending_updates: bool | None = None,
    force: bool = False,
    check_url: bool = True,
    drop_certificate: bool = False,
    environ: Mapping[str, str] | None = None,
    logger: logging.Logger | None = None,
    bot: str | None = None,
) -> WebhookReport:
    """Set ``app``'s webhook: the one function behind ``flask tg set-webhook``, the gunicorn
    start-up hook and the testing helper ``connect_webhook``.

    Every argument left out comes from the app: the public URL and the deploy keys of
    :class:`~flask_tgwebhook.config.DeploySettings` (config, then ``environ``, default
    ``os.environ``), the app's secret, and the update types that have handlers. setWebhook
    is called only when Telegram's webhook differs (or ``force``). With
    ``TELEGRAM_BOT_ENABLED`` off it removes the webhook when it points at this app (so the
    bot stops, and updates wait at Telegram) and sets none.

    :param certificate: a PEM file path or its bytes, uploaded for a self-signed certificate.
    :param check_url: refuse URLs Telegram would refuse (http, other ports) before any call;
        off only for an emulator or a local Bot API server that accepts them.
    :param drop_certificate: let setWebhook without ``certificate`` remove the one Telegram
        has (otherwise it is kept; see :func:`ensure_webhook`).
    :param bot: the name of the bot to set up (``None``: the app's unnamed bot); see
        :func:`setup_webhooks` for all of them.
    :raises RuntimeError: the configuration does not say enough; the message says the fix.
    :raises flask_tgwebhook.errors.TelegramError: the Bot API refused or could not be reached.
    """
    log = logger or _default_logger
    state = get_state(app, name=bot)
    settings = state.settings
    deploy = DeploySettings.for_bot(app.config, state.ext.bot_name, environ)
    url = url or deploy.url
    if not settings.token:
        if not deploy.enabled:
            log.warning("%s is off and there is no token: nothing to do.", ENABLED_KEY)
            return WebhookReport(url=None)
        # A malformed token says where it came from; a missing one, where to put it.
        problem = settings.problem if settings.problem not in (None, NO_SECRET) else NO_TOKEN
        raise RuntimeError(f"{problem} Or turn the bot off with {ENABLED_KEY}=false.")
    # Every configuration problem is found before the first call to Telegram.
    if deploy.enabled:
        _check_url(url, settings.token, check_url)
        certificate = _certificate(certificate if certificate is not None else deploy.certificate)
    # A throwaway client: this may run in a server's master process, and a pooled
    # connection made here must not be inherited by the forked workers.
    client = patient_bot(settings, STARTUP_FLOOD_WAIT)
    try:
        if not deploy.enabled:
            return _disable(client, url, log)
        log.info("Webhook URL: %s", url)
        for advice in (token_shadowed(app.config, environ), links_without_secret_key(app)):
            if advice:
                log.warning("%s", advice)
        return ensure_webhook(
            client,
            str(url),
            secret_token=secret_token or settings.webhook_secret,
            certificate=certificate,
            allowed_updates=_either(allowed_updates, state.ext.allowed_updates),
            max_connections=_either(max_connections, deploy.max_connections),
            ip_address=_either(ip_address, deploy.ip_address),
            drop_pending_updates=(
                deploy.drop_pending_updates
                if drop_pending_updates is None
                else drop_pending_updates
            ),
            force=force,
            check_url=check_url,
            drop_certificate=drop_certificate,
            logger=log,
        )
    finally:
        client.close()


def setup_webhooks(
    app: Flask, *, logger: logging.Logger | None = None, **options: Any
) -> dict[str | None, WebhookReport]:
    """:func:`setup_webhook` for every bot of ``app`` (the unnamed one first), as the gunicorn
    start-up hook runs it; ``options`` go to each call. Returns each bot's report by name."""
    names = sorted(get_state(app).bots, key=lambda name: (name is not None, name or ""))
    return {name: setup_webhook(app, bot=name, logger=logger, **options) for name in names}


def _either(given: T | None, configured: T) -> T:
    """An argument when given, else what the app is configured with."""
    return configured if given is None else given


def _check_url(url: str | None, token: str | None, check: bool) -> None:
    if not url:
        raise RuntimeError(
            "No public URL for the webhook: set TELEGRAM_WEBHOOK_URL to the https address "
            "Telegram should call, or TELEGRAM_PUBLIC_HOST to this app's public host name "
            f"(Railway, Render and Fly set theirs automatically), or {ENABLED_KEY}=false."
        )
    if not check:
        return
    try:
        validate_webhook_url(url, token=token)
    except WebhookURLError as exc:
        raise RuntimeError(f"TELEGRAM_WEBHOOK_URL: {exc}") from None


def _certificate(
    certificate: str | os.PathLike[str] | bytes | None,
) -> str | os.PathLike[str] | bytes | None:
    if certificate is None or isinstance(certificate, bytes) or Path(certificate).is_file():
        return certificate
    raise RuntimeError(
        f"TELEGRAM_WEBHOOK_CERTIFICATE is {str(certificate)!r}, which is not a file; give "
        "the path of the PEM certificate to upload (`flask tg gen-cert` makes one)."
    )


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
            redact(current),
        )
    else:
        log.warning(
            "%s is off: the bot is not started and the webhook (%s) is left alone.",
            ENABLED_KEY,
            redact(current or "none"),
        )
    return report
