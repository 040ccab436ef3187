"""The ``TELEGRAM_EXTERNAL_*`` keys, read once per app, and what each app keeps for its links."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..config import config_errors_without_locals, whole_number
from .ratelimit import RateLimiter

if TYPE_CHECKING:
    from ..config import Settings
    from .hooks import ExternalHooks

#: Every key with its default; ``init_app`` fills missing ones with ``setdefault``.
DEFAULTS: dict[str, Any] = {
    "TELEGRAM_EXTERNAL_PATH": "/telegram/external",
    "TELEGRAM_EXTERNAL_BASE_URL": None,
    "TELEGRAM_EXTERNAL_MAX_BODY_SIZE": 1024 * 1024,
    "TELEGRAM_EXTERNAL_RATE_LIMIT": None,
    "TELEGRAM_RATELIMIT_STORAGE_URI": "memory://",
}

#: Where this module keeps an app's :class:`ExternalState`.
EXTENSION_KEY = "tgwebhook_external"

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class ExternalSettings:
    """The checked ``TELEGRAM_EXTERNAL_*`` config of one app."""

    path: str
    base_url: str | None
    max_body_size: int
    rate_limit: str | None
    storage_uri: str

    @classmethod
    @config_errors_without_locals
    def from_config(cls, config: Mapping[str, Any], webhook_path: str) -> ExternalSettings:
        """Check the config; raises ``RuntimeError`` with a sentence saying the fix."""
        path = str(config["TELEGRAM_EXTERNAL_PATH"]).rstrip("/")
        if not path.startswith("/"):
            raise RuntimeError(
                f"TELEGRAM_EXTERNAL_PATH must be a path starting with '/', got {path!r}."
            )
        if path == webhook_path.rstrip("/"):
            raise RuntimeError(
                "TELEGRAM_EXTERNAL_PATH must differ from TELEGRAM_WEBHOOK_PATH; keep the default "
                "'/telegram/external' or pick another path."
            )
        size = whole_number(config, "TELEGRAM_EXTERNAL_MAX_BODY_SIZE")
        rate_limit = config["TELEGRAM_EXTERNAL_RATE_LIMIT"] or None
        return cls(
            path=path,
            base_url=check_base_url(config["TELEGRAM_EXTERNAL_BASE_URL"]),
            max_body_size=size,
            rate_limit=str(rate_limit) if rate_limit else None,
            storage_uri=str(config["TELEGRAM_RATELIMIT_STORAGE_URI"] or "memory://"),
        )


def check_base_url(value: Any) -> str | None:
    """``TELEGRAM_EXTERNAL_BASE_URL`` without its trailing slash, or ``None`` when unset.

    Links must be https, because the token in them is a password; plain http is accepted
    only for loopback addresses, for local tests.
    """
    if not value:
        return None
    url = str(value).rstrip("/")
    parts = urlsplit(url)
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK_NAMES
    )
    if not secure or not parts.hostname or parts.query or parts.fragment:
        raise RuntimeError(
            "TELEGRAM_EXTERNAL_BASE_URL must be the https origin (and optional path prefix) the "
            f"world reaches this app at, like 'https://bot.example.com', got {url!r}."
        )
    return url


@dataclass
class ExternalState:
    """What one app keeps for external links: settings, the limiter, the bot's settings."""

    hooks: ExternalHooks
    settings: ExternalSettings
    bot_settings: Settings
    limiter: RateLimiter | None = field(default=None)
    #: Whether the warning that links take their origin from a request was logged.
    host_warned: bool = False

    @property
    def bot_id(self) -> int | None:
        """The bot every link of this app is bound to."""
        return self.bot_settings.bot_id
