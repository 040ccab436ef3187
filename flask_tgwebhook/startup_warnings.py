"""Start-up warnings in plain words, for what would otherwise fail silently later.

Each function looks at the app or at Telegram's getWebhookInfo and returns an
:class:`Advice` (the problem and its fix), or ``None`` when all is well.
:func:`flask_tgwebhook.startup.setup_webhook` (the start-up hook and ``flask tg set-webhook``)
logs them at WARNING; ``flask tg doctor`` prints the same words.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .redact import redact
from .token_source import token_source

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "Advice",
    "CertificateWouldBeDropped",
    "check_certificate_kept",
    "ip_without_certificate",
    "links_without_secret_key",
    "token_shadowed",
    "webhook_taken",
]


@dataclass(frozen=True)
class Advice:
    """A problem found, and what to do about it."""

    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.problem} {self.fix}"


class CertificateWouldBeDropped(RuntimeError):
    """setWebhook without a certificate would remove the one uploaded to Telegram."""


def check_certificate_kept(
    info: Mapping[str, Any], certificate: object | None, *, drop_certificate: bool
) -> None:
    """Refuse a setWebhook that would silently remove Telegram's uploaded certificate.

    Telegram forgets the uploaded self-signed certificate whenever setWebhook comes without
    one, and every delivery then fails certificate verification.

    :raises CertificateWouldBeDropped: Telegram has one, none is given and dropping it was
        not asked for; the message says both ways out.
    """
    if info.get("has_custom_certificate") and certificate is None and not drop_certificate:
        raise CertificateWouldBeDropped(
            "Telegram has an uploaded self-signed certificate for this webhook, and setting "
            "the webhook without one would remove it (every delivery would then fail). Pass "
            "--certificate cert.pem (or set TELEGRAM_WEBHOOK_CERTIFICATE) to keep it, or run "
            "`flask tg set-webhook --no-certificate` once if the server now has a CA-issued "
            "certificate."
        )


def ip_without_certificate(url: str, certificate: object | None) -> Advice | None:
    """A webhook on a bare IP address needs an uploaded certificate: no CA issues one."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    if certificate is not None:
        return None
    return Advice(
        f"The webhook URL {url} is an IP address and no certificate is uploaded: Telegram "
        "will only deliver if the server's certificate is issued by a CA for that IP.",
        "For a self-signed one, set TELEGRAM_WEBHOOK_CERTIFICATE (or pass --certificate) to "
        "its PEM file (`flask tg gen-cert` makes one).",
    )


def webhook_taken(info: Mapping[str, Any], url: str | None) -> Advice | None:
    """Another deployment (staging, an old server) had set the webhook elsewhere."""
    current = info.get("url") or ""
    if not current or not url or current == url:
        return None
    return Advice(
        f"Telegram's webhook points at {redact(current)}, not at this deployment's {url}: another "
        "deployment sharing the token took it (a staging or review app?), and whichever sets "
        "it last gets every update.",
        "Give that deployment its own bot token, or turn it off there with "
        "TELEGRAM_BOT_ENABLED=false. (If you just moved the bot to this URL, all is well.)",
    )


def links_without_secret_key(app: Flask) -> Advice | None:
    """Signed links are registered, but there is no ``SECRET_KEY`` to sign them with."""
    from .state import EXTENSION_KEY

    state = app.extensions.get(EXTENSION_KEY)
    links = state.links if state is not None else None
    if links is None or not links.registry.hooks or app.config.get("SECRET_KEY"):
        return None
    commands = ", ".join(sorted(links.registry.hooks))
    return Advice(
        f"Signed links are registered ({commands}) but SECRET_KEY is not set, so no link can "
        "be made or checked.",
        "Set SECRET_KEY from the environment, the same value on every worker and machine (a "
        "random key per process breaks links in the other workers).",
    )


def token_shadowed(
    config: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Advice | None:
    """``TELEGRAM_BOT_TOKEN`` in the config hides a different one in the environment."""
    source = token_source(config, environ)
    if not source.shadowed:
        return None
    return Advice(
        "TELEGRAM_BOT_TOKEN in the app's config differs from the environment's, and the "
        "config's is used: exporting a new token does nothing.",
        "Remove it from the app's config to use the environment's.",
    )
