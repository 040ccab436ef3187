"""How Telegram's webhook (getWebhookInfo) compares with the one wanted, and the report of
what :func:`~flask_tgwebhook.startup.ensure_webhook` found and did."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .redact import redact
from .update import UPDATE_TYPES

__all__ = ["WebhookReport", "date_from_epoch", "differences"]


@dataclass
class WebhookReport:
    """What :func:`~flask_tgwebhook.startup.ensure_webhook` found and did."""

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
        return date_from_epoch(self.info.get("last_error_date"))


def date_from_epoch(epoch: Any) -> dt.datetime | None:
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
        # An older library may have registered https://host/<token>: these words are logged.
        found.append(f"the URL was {redact(current) or 'not set'}")
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
