"""The ``TELEGRAM_*`` configuration keys, read once per app into a frozen :class:`Settings`.

Every key comes from the app's config, else from the environment variable of the same name
(platforms configure apps through the environment), else its default. A misconfiguration
fails in ``init_app`` with a sentence that says the fix, not at the first update in
production.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .netguard import IPNetwork, parse_networks
from .tokens import TOKEN_RE

#: Telegram's rule for setWebhook's ``secret_token``.
SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
ERROR_POLICIES = ("ack", "retry")

#: Every key with its default; ``init_app`` fills missing ones with ``setdefault``.
DEFAULTS: dict[str, Any] = {
    "TELEGRAM_BOT_TOKEN": None,
    "TELEGRAM_API_URL": "https://api.telegram.org",
    "TELEGRAM_WEBHOOK_PATH": "/telegram/webhook",
    "TELEGRAM_WEBHOOK_URL": None,
    "TELEGRAM_PUBLIC_HOST": None,
    "TELEGRAM_BOT_USERNAME": None,
    "TELEGRAM_WEBHOOK_SECRET": None,
    "TELEGRAM_INSECURE_NO_SECRET": False,
    "TELEGRAM_MAX_BODY_SIZE": 1024 * 1024,
    "TELEGRAM_ON_ERROR": "ack",
    "TELEGRAM_DEDUPE_TTL": 24 * 3600,
    "TELEGRAM_PROCESSING_TIMEOUT": 60,
    "TELEGRAM_RETRY_AFTER": 5,
    "TELEGRAM_CONNECT_TIMEOUT": 5.0,
    "TELEGRAM_READ_TIMEOUT": 30.0,
    "TELEGRAM_TRUSTED_PROXIES": 0,
    "TELEGRAM_ALLOWED_NETWORKS": None,
    "TELEGRAM_DEDUPE_URL": None,
    "TELEGRAM_MAX_RETRIES": 5,
}

#: How a yes/no key may be spelt in the environment.
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def apply_defaults(
    config: dict[str, Any], defaults: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> None:
    """Fill each missing key from the environment variable of its name, else its default."""
    env = os.environ if environ is None else environ
    for key, default in defaults.items():
        config.setdefault(key, env.get(key, default))


def whole_number(config: Mapping[str, Any], key: str, minimum: int = 1) -> int:
    """``config[key]`` as an int of at least ``minimum`` (digit strings from the environment
    too); otherwise a ``RuntimeError`` that names the key and the rule."""
    value = config[key]
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        rule = "a positive whole number" if minimum == 1 else f"a whole number, {minimum} or more"
        raise RuntimeError(f"{key} must be {rule}, got {value!r}.")
    return value


def seconds(config: Mapping[str, Any], key: str) -> float:
    """``config[key]`` as a positive number of seconds (numeric strings too)."""
    value = config[key]
    try:
        number = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0:  # also refuses NaN
        raise RuntimeError(f"{key} must be a positive number of seconds, got {value!r}.")
    return number


def flag(config: Mapping[str, Any], key: str) -> bool:
    """``config[key]`` as a bool; strings such as ``"true"``/``"0"`` from the environment."""
    value = config.get(key)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered not in _TRUE | _FALSE:
            raise RuntimeError(f"{key} must be true or false, got {value!r}.")
        return lowered in _TRUE
    return bool(value)


#: Schemes of the Redis URLs ``TELEGRAM_DEDUPE_URL`` accepts (redis-py's).
DEDUPE_URL_SCHEMES = ("redis", "rediss", "unix")

#: Platforms that publish the app's public host name in the environment, in the order checked.
PLATFORM_HOST_VARIABLES = (
    ("RAILWAY_PUBLIC_DOMAIN", "{}"),
    ("RENDER_EXTERNAL_HOSTNAME", "{}"),
    ("FLY_APP_NAME", "{}.fly.dev"),
)


def derive_secret(token: str) -> str:
    """The default webhook secret: an HMAC of the token, so every worker and machine agrees.

    43 characters of ``[A-Za-z0-9_-]``, which is what Telegram accepts as ``secret_token``.
    """
    digest = hmac.new(token.encode(), b"flask_tgwebhook webhook secret v1", hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def public_host(config: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """The public host name: ``TELEGRAM_PUBLIC_HOST`` or a platform's variable."""
    explicit = config.get("TELEGRAM_PUBLIC_HOST") or environ.get("TELEGRAM_PUBLIC_HOST")
    if explicit:
        return str(explicit)
    for variable, template in PLATFORM_HOST_VARIABLES:
        value = environ.get(variable)
        if value:
            return template.format(value)
    return None


@dataclass(frozen=True)
class Settings:
    """What the extension needs from the app's config, checked and read once."""

    token: str | None = field(repr=False)
    api_url: str
    webhook_path: str
    webhook_url: str | None
    bot_username: str | None
    webhook_secret: str | None = field(repr=False)
    max_body_size: int
    on_error: str
    dedupe_ttl: int
    processing_timeout: int
    retry_after: int
    timeout: tuple[float, float]
    trusted_proxies: int
    #: Networks the webhook accepts requests from; ``None``: any address.
    allowed_networks: tuple[IPNetwork, ...] | None = None
    #: The shared dedupe store's URL (it may hold a password, so it stays out of ``repr``).
    dedupe_url: str | None = field(default=None, repr=False)
    #: With ``on_error == "retry"``: redeliveries asked for per update before it is dropped.
    max_retries: int = 5

    @property
    def bot_id(self) -> int | None:
        """The bot's numeric id: the public part of the token."""
        return int(self.token.split(":", 1)[0]) if self.token else None

    @property
    def public_base_url(self) -> str | None:
        """``https://host`` of the public webhook URL, for links to this app."""
        if not self.webhook_url:
            return None
        scheme, _, rest = self.webhook_url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Check the config and build settings; raises ``RuntimeError`` saying the fix."""
        env = os.environ if environ is None else environ
        token = config.get("TELEGRAM_BOT_TOKEN") or env.get("TELEGRAM_BOT_TOKEN") or None
        if token is not None and not TOKEN_RE.fullmatch(str(token)):
            raise RuntimeError(
                "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then "
                "letters, digits, '_' or '-'). Copy it again from @BotFather."
            )
        path = str(config["TELEGRAM_WEBHOOK_PATH"])
        if not path.startswith("/"):
            raise RuntimeError(f"TELEGRAM_WEBHOOK_PATH must start with '/', got {path!r}.")
        api_url = str(config["TELEGRAM_API_URL"]).rstrip("/")
        if not api_url.startswith(("https://", "http://")):
            raise RuntimeError(
                f"TELEGRAM_API_URL must start with https:// or http://, got {api_url!r}; "
                "the default is https://api.telegram.org."
            )
        return cls(
            token=token,
            api_url=api_url,
            webhook_path=path,
            webhook_url=configured_webhook_url(config, env, path),
            bot_username=(config.get("TELEGRAM_BOT_USERNAME") or "").lstrip("@") or None,
            webhook_secret=_secret(config, token),
            max_body_size=whole_number(config, "TELEGRAM_MAX_BODY_SIZE"),
            on_error=_on_error(config),
            dedupe_ttl=whole_number(config, "TELEGRAM_DEDUPE_TTL"),
            processing_timeout=whole_number(config, "TELEGRAM_PROCESSING_TIMEOUT"),
            retry_after=whole_number(config, "TELEGRAM_RETRY_AFTER"),
            timeout=(
                seconds(config, "TELEGRAM_CONNECT_TIMEOUT"),
                seconds(config, "TELEGRAM_READ_TIMEOUT"),
            ),
            trusted_proxies=whole_number(config, "TELEGRAM_TRUSTED_PROXIES", minimum=0),
            allowed_networks=parse_networks(config.get("TELEGRAM_ALLOWED_NETWORKS")),
            dedupe_url=_dedupe_url(config, env),
            max_retries=whole_number(config, "TELEGRAM_MAX_RETRIES", minimum=0),
        )


def configured_webhook_url(
    config: Mapping[str, Any], env: Mapping[str, str], path: str
) -> str | None:
    """``TELEGRAM_WEBHOOK_URL`` (config, then environment), else the public host plus ``path``."""
    url = config.get("TELEGRAM_WEBHOOK_URL") or env.get("TELEGRAM_WEBHOOK_URL")
    if url:
        return str(url)
    host = public_host(config, env)
    return f"https://{host}{path}" if host else None


def _secret(config: Mapping[str, Any], token: str | None) -> str | None:
    secret = config.get("TELEGRAM_WEBHOOK_SECRET")
    if secret:
        if not SECRET_TOKEN_RE.fullmatch(str(secret)):
            raise RuntimeError(
                "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, '_' and "
                "'-': Telegram refuses any other secret_token."
            )
        return str(secret)
    if token:
        return derive_secret(token)
    if flag(config, "TELEGRAM_INSECURE_NO_SECRET"):
        return None
    raise RuntimeError(
        "The webhook route needs a secret to tell Telegram from anyone else. Set "
        "TELEGRAM_BOT_TOKEN (the secret is derived from it) or TELEGRAM_WEBHOOK_SECRET; to "
        "accept unauthenticated requests anyway, set TELEGRAM_INSECURE_NO_SECRET = True."
    )


def _on_error(config: Mapping[str, Any]) -> str:
    policy = str(config["TELEGRAM_ON_ERROR"])
    if policy not in ERROR_POLICIES:
        raise RuntimeError(
            f"TELEGRAM_ON_ERROR must be 'ack' (answer 200, drop the update) or 'retry' "
            f"(answer 500 so Telegram sends it again), got {policy!r}."
        )
    return policy


def _dedupe_url(config: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    url = config.get("TELEGRAM_DEDUPE_URL") or env.get("TELEGRAM_DEDUPE_URL")
    if not url:
        return None
    scheme, found, _ = str(url).partition("://")
    if not found or scheme.lower() not in DEDUPE_URL_SCHEMES:
        # The URL may carry a password: the message never repeats it.
        raise RuntimeError(
            "TELEGRAM_DEDUPE_URL must be a Redis URL such as redis://localhost:6379/0 "
            f"(schemes: {', '.join(DEDUPE_URL_SCHEMES)}); the value set is not one."
        )
    return str(url)
