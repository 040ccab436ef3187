"""The ``TELEGRAM_*`` configuration keys, read once per app into a frozen :class:`Settings`.

Every key comes from the app's config, else from the environment variable of the same name
(platforms configure apps through the environment), else its default; the parsers below are
the only ones. A misconfiguration fails in ``init_app`` with a sentence that says the fix,
not at the first update in production, with two exceptions made on purpose:

- a missing or malformed token never takes the app down (it often serves a website too): the
  settings record the :attr:`Settings.problem`, the webhook answers 503 and logs it once;
- the keys only setting the webhook needs (:class:`DeploySettings`: the public URL, the
  certificate file, ...) are checked where they are used, by ``setup_webhook``, so a bad value
  can't stop every worker from booting.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from .netguard import IPNetwork, parse_networks
from .token_source import token_source
from .tokens import TOKEN_RE as TOKEN_RE  # re-exported: the pattern lives in tokens.py
from .tokens import check_token

#: Telegram's rule for setWebhook's ``secret_token``.
SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
ERROR_POLICIES = ("ack", "retry")

#: Every key with its default; ``init_app`` fills missing ones with ``setdefault``.
DEFAULTS: dict[str, Any] = {
    "TELEGRAM_BOT_TOKEN": None,
    "TELEGRAM_API_URL": "https://api.telegram.org",
    "TELEGRAM_WEBHOOK_PATH": None,
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
    "TELEGRAM_FAST_PATH": False,
    "TELEGRAM_EXECUTOR": "inline",
    "TELEGRAM_EXECUTOR_THREADS": 4,
    "TELEGRAM_EXECUTOR_QUEUE": 100,
    "TELEGRAM_MEDIA_GROUP_WAIT": 1.0,
    # Signed links for other services (flask_tgwebhook.external).
    "TELEGRAM_EXTERNAL_PATH": "/telegram/external",
    "TELEGRAM_EXTERNAL_BASE_URL": None,
    "TELEGRAM_EXTERNAL_MAX_BODY_SIZE": 1024 * 1024,
    "TELEGRAM_EXTERNAL_RATE_LIMIT": None,
    "TELEGRAM_RATELIMIT_STORAGE_URI": "memory://",
}

#: The webhook route when neither TELEGRAM_WEBHOOK_PATH nor TELEGRAM_WEBHOOK_URL says one.
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"

#: How a yes/no key may be spelt in the environment.
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def apply_defaults(
    config: dict[str, Any], defaults: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> None:
    """Fill each missing key from the environment variable of its name, else its default."""
    env = os.environ if environ is None else environ
    for key, default in defaults.items():
        config.setdefault(key, env.get(key, default))


def lookup(config: Mapping[str, Any], env: Mapping[str, str], key: str) -> Any:
    """``config[key]``, else the environment variable ``key``; ``None`` when neither is set
    (an empty string counts as unset)."""
    value = config.get(key)
    if value is None or value == "":
        value = env.get(key)
    return None if value == "" else value


def optional_number(config: Mapping[str, Any], env: Mapping[str, str], key: str) -> int | None:
    """A whole number from the config or the environment, or ``None`` when unset."""
    value = lookup(config, env, key)
    return None if value is None else whole_number({key: value}, key)


def optional_flag(
    config: Mapping[str, Any], env: Mapping[str, str], key: str, default: bool
) -> bool:
    """A yes/no key from the config or the environment, ``default`` when unset."""
    value = lookup(config, env, key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    return flag({key: value}, key)


#: Keys each bot of ``TELEGRAM_BOTS`` sets for itself; the others default to the app's own.
PER_BOT_KEYS = frozenset(
    {
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_WEBHOOK_SECRET",
        "TELEGRAM_WEBHOOK_PATH",
        "TELEGRAM_WEBHOOK_URL",
        "TELEGRAM_BOT_USERNAME",
        "TELEGRAM_INSECURE_NO_SECRET",
        "TELEGRAM_WEBHOOK_CERTIFICATE",
        "TELEGRAM_WEBHOOK_IP_ADDRESS",
        "TELEGRAM_EXTERNAL_PATH",
    }
)
#: What a bot's name may be: it becomes part of its route and its environment variables.
BOT_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")


def check_bot_name(name: str) -> str:
    """``name`` if it can name a bot; else ``ValueError`` saying what can."""
    if not isinstance(name, str) or not BOT_NAME_RE.fullmatch(name):
        raise ValueError(
            f"A bot's name must be 1-32 lowercase letters, digits or '_', starting with a "
            f"letter (it becomes part of its route), got {name!r}."
        )
    return name


def bot_config(
    config: Mapping[str, Any], environ: Mapping[str, str], name: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """The config and the environment the bot ``name`` reads, as if it were alone.

    Its own keys come from ``TELEGRAM_BOTS[name]`` (the usual keys without the ``TELEGRAM_``
    prefix: ``{"BOT_TOKEN": ...}``), else the environment variable ``TELEGRAM_<NAME>_<KEY>``
    (``TELEGRAM_SUPPORT_BOT_TOKEN``). Keys of :data:`PER_BOT_KEYS` stop there; any other key
    falls back to the app's own ``TELEGRAM_*`` value. The route defaults to
    ``/telegram/<name>/webhook``, the signed links' to ``/telegram/<name>/external``.
    """
    own = (config.get("TELEGRAM_BOTS") or {}).get(name) or {}
    if not isinstance(own, Mapping):
        raise RuntimeError(
            f"TELEGRAM_BOTS[{name!r}] must be a dict of keys without the TELEGRAM_ prefix, "
            f"such as {{'BOT_TOKEN': '...'}}, got {type(own).__name__}."
        )
    view = {k: v for k, v in config.items() if k.startswith("TELEGRAM_") and k not in PER_BOT_KEYS}
    for key, value in own.items():
        view[f"TELEGRAM_{str(key).upper().removeprefix('TELEGRAM_')}"] = value
    prefix = f"TELEGRAM_{name.upper()}_"
    env = {k: v for k, v in environ.items() if k.startswith("TELEGRAM_") and k not in PER_BOT_KEYS}
    for key, value in environ.items():
        if key.startswith(prefix):
            env["TELEGRAM_" + key[len(prefix) :]] = value
    if not lookup(view, env, "TELEGRAM_WEBHOOK_PATH") and not lookup(
        view, env, "TELEGRAM_WEBHOOK_URL"
    ):
        view["TELEGRAM_WEBHOOK_PATH"] = f"/telegram/{name}/webhook"
    if not lookup(view, env, "TELEGRAM_EXTERNAL_PATH"):
        view["TELEGRAM_EXTERNAL_PATH"] = f"/telegram/{name}/external"
    return view, env


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


#: Schemes of the Redis URLs ``TELEGRAM_STORE_URL`` accepts (redis-py's).
DEDUPE_URL_SCHEMES = ("redis", "rediss", "unix")
#: Every scheme ``TELEGRAM_STORE_URL`` (and its alias ``TELEGRAM_DEDUPE_URL``) accepts.
STORE_URL_SCHEMES = ("sqlite", "memory", *DEDUPE_URL_SCHEMES)

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


P = ParamSpec("P")
R = TypeVar("R")


def config_errors_without_locals(read: Callable[P, R]) -> Callable[P, R]:
    """Re-raise ``read``'s ``RuntimeError`` as a new one, from a frame with no config in it.

    The frames that read the config hold the whole config and the token in their locals,
    and error trackers (Sentry) record the locals of every frame in a traceback: only the
    message, which never quotes a secret, comes along.
    """

    @functools.wraps(read)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return read(*args, **kwargs)
        except RuntimeError as exc:
            message = str(exc)
        del args, kwargs  # the config and the environment
        raise RuntimeError(message)

    return checked


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
    #: The store's URL, ``TELEGRAM_STORE_URL`` or its alias ``TELEGRAM_DEDUPE_URL``; ``None``:
    #: the default (it may hold a password, so it stays out of ``repr``).
    dedupe_url: str | None = field(default=None, repr=False)
    #: Runs of one update after its first (redeliveries asked for with ``on_error ==
    #: "retry"``, or after its worker died) before it is acknowledged without running.
    max_retries: int = 5
    #: Where the token came from, in words (see :mod:`flask_tgwebhook.token_source`).
    token_source: str = "TELEGRAM_BOT_TOKEN"  # noqa: S105 (a key's name)
    #: ``inline``, ``thread`` or ``celery``: where handlers run (see :mod:`~.executors`).
    executor: str = "inline"
    #: Handler threads per worker process with the ``thread`` executor.
    executor_threads: int = 4
    #: Updates a worker process may hold waiting before it answers 429.
    executor_queue: int = 100
    #: Seconds without a new part before an album goes to its handler.
    media_group_wait: float = 1.0
    #: ``TELEGRAM_EXTERNAL_PATH``: the signed links' route prefix, without a trailing slash.
    external_path: str = "/telegram/external"
    #: ``TELEGRAM_EXTERNAL_BASE_URL``: the origin links are made on (else the webhook's).
    external_base_url: str | None = None
    #: ``TELEGRAM_EXTERNAL_MAX_BODY_SIZE``: larger link bodies get 413.
    external_max_body_size: int = 1024 * 1024
    #: ``TELEGRAM_EXTERNAL_RATE_LIMIT`` in ``limits`` notation, or ``None``.
    external_rate_limit: str | None = None
    #: ``TELEGRAM_RATELIMIT_STORAGE_URI`` (it may hold a password: not in ``repr``).
    ratelimit_storage_uri: str = field(default="memory://", repr=False)
    #: Why the webhook can't serve (no token and no secret, a malformed token), or ``None``.
    #: The app still starts; the webhook answers 503 and logs this once at ERROR.
    problem: str | None = None
    #: Answer the webhook at the WSGI layer, before Flask's routing (:mod:`.fastpath`).
    fast_path: bool = False

    @property
    def store_url(self) -> str | None:
        """``TELEGRAM_STORE_URL`` (or ``TELEGRAM_DEDUPE_URL``); ``None``: the default store."""
        return self.dedupe_url

    @property
    def bot_id(self) -> int | None:
        """The bot's numeric id: the public part of the token."""
        return int(self.token.split(":", 1)[0]) if self.token else None

    def route_differs_from_url(self) -> bool:
        """Whether the webhook route is not the public URL's path (a proxy may rewrite it,
        but usually every delivery then gets 404)."""
        if not self.webhook_url:
            return False
        public = urlsplit(self.webhook_url).path.rstrip("/")
        return public != self.webhook_path.rstrip("/")

    @property
    def public_base_url(self) -> str | None:
        """``https://host`` of the public webhook URL, for links to this app."""
        if not self.webhook_url:
            return None
        scheme, _, rest = self.webhook_url.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"

    @classmethod
    @config_errors_without_locals
    def from_config(
        cls, config: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Check the config and build settings; raises ``RuntimeError`` saying the fix."""
        env = os.environ if environ is None else environ
        token, source, problem = _token(config, env)
        url = configured_webhook_url(config, env, None)
        path = webhook_path(config.get("TELEGRAM_WEBHOOK_PATH"), url)
        secret = _secret(config, token)
        if secret is None and problem is None and not flag(config, "TELEGRAM_INSECURE_NO_SECRET"):
            problem = NO_SECRET
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
            webhook_url=url or configured_webhook_url(config, env, path),
            bot_username=(config.get("TELEGRAM_BOT_USERNAME") or "").lstrip("@") or None,
            webhook_secret=secret,
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
            dedupe_url=_store_url(config, env),
            max_retries=whole_number(config, "TELEGRAM_MAX_RETRIES", minimum=0),
            token_source=source,
            problem=problem,
            fast_path=flag(config, "TELEGRAM_FAST_PATH"),
            executor=_executor(config),
            executor_threads=whole_number(config, "TELEGRAM_EXECUTOR_THREADS"),
            executor_queue=whole_number(config, "TELEGRAM_EXECUTOR_QUEUE"),
            media_group_wait=seconds(config, "TELEGRAM_MEDIA_GROUP_WAIT"),
            **_external(config, path),
        )


def configured_webhook_url(
    config: Mapping[str, Any], env: Mapping[str, str], path: str | None
) -> str | None:
    """``TELEGRAM_WEBHOOK_URL`` (config, then environment), else the public host plus ``path``
    (with ``path=None``, only the explicit URL)."""
    url = lookup(config, env, "TELEGRAM_WEBHOOK_URL")
    if url:
        return str(url)
    host = public_host(config, env) if path is not None else None
    return f"https://{host}{path}" if host else None


def public_webhook_url(
    config: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> str | None:
    """The public https URL Telegram should deliver to, or ``None`` when nothing says.

    ``TELEGRAM_WEBHOOK_URL`` (config, then environment) wins; otherwise the public host
    (``TELEGRAM_PUBLIC_HOST``, or the platform's variable: Railway's ``RAILWAY_PUBLIC_DOMAIN``,
    Render's ``RENDER_EXTERNAL_HOSTNAME``, Fly's ``FLY_APP_NAME`` as ``<name>.fly.dev``)
    plus the webhook path.
    """
    env = os.environ if environ is None else environ
    path = webhook_path(lookup(config, env, "TELEGRAM_WEBHOOK_PATH"), None)
    return configured_webhook_url(config, env, path)


def webhook_path(configured: Any, url: str | None) -> str:
    """The webhook route: ``TELEGRAM_WEBHOOK_PATH``, else the public URL's own path (Telegram
    follows no redirect, so the route must be exactly where it delivers), else the default.
    """
    if configured:
        path = str(configured)
        if not path.startswith("/"):
            raise RuntimeError(f"TELEGRAM_WEBHOOK_PATH must start with '/', got {path!r}.")
        return path
    if url:
        return urlsplit(str(url)).path or "/"
    return DEFAULT_WEBHOOK_PATH


def _token(config: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str | None, str, str | None]:
    """The token, where it came from, and what is wrong with it (``None`` when nothing)."""
    token = config.get("TELEGRAM_BOT_TOKEN") or env.get("TELEGRAM_BOT_TOKEN") or None
    source = token_source(config, env).where
    if token is None:
        return None, source, None
    try:
        return check_token(str(token), source), source, None
    except ValueError as exc:
        return None, source, str(exc)


@dataclass(frozen=True)
class DeploySettings:
    """The keys only setting the webhook needs, read and checked when it is set.

    Each comes from the app's config, else the environment variable of its name.
    """

    #: The public https URL Telegram delivers to (``TELEGRAM_WEBHOOK_URL`` or the platform's).
    url: str | None
    #: ``TELEGRAM_WEBHOOK_CERTIFICATE``: a PEM file to upload (a self-signed certificate).
    certificate: str | None
    #: ``TELEGRAM_WEBHOOK_MAX_CONNECTIONS``: Telegram's parallel deliveries, 1-100.
    max_connections: int | None
    #: ``TELEGRAM_WEBHOOK_IP_ADDRESS``: deliver to this IP instead of the one DNS gives.
    ip_address: str | None
    #: ``TELEGRAM_DROP_PENDING_UPDATES``: drop the updates waiting when the webhook changes.
    drop_pending_updates: bool
    #: ``TELEGRAM_BOT_ENABLED``: off removes this app's webhook instead of setting it.
    enabled: bool

    @classmethod
    @config_errors_without_locals
    def for_bot(
        cls, config: Mapping[str, Any], name: str | None, environ: Mapping[str, str] | None = None
    ) -> DeploySettings:
        """The deploy keys of the bot ``name`` (``None``: the app's unnamed bot)."""
        env = os.environ if environ is None else environ
        if name is None:
            return cls.from_config(config, env)
        return cls.from_config(*bot_config(config, env, name))

    @classmethod
    @config_errors_without_locals
    def from_config(
        cls, config: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> DeploySettings:
        """Read the keys; raises ``RuntimeError`` saying the fix for a malformed one."""
        env = os.environ if environ is None else environ
        certificate = lookup(config, env, "TELEGRAM_WEBHOOK_CERTIFICATE")
        ip_address = lookup(config, env, "TELEGRAM_WEBHOOK_IP_ADDRESS")
        return cls(
            url=public_webhook_url(config, env),
            certificate=str(certificate) if certificate else None,
            max_connections=optional_number(config, env, "TELEGRAM_WEBHOOK_MAX_CONNECTIONS"),
            ip_address=str(ip_address) if ip_address else None,
            drop_pending_updates=optional_flag(config, env, "TELEGRAM_DROP_PENDING_UPDATES", False),
            enabled=optional_flag(config, env, "TELEGRAM_BOT_ENABLED", True),
        )


def _secret(config: Mapping[str, Any], token: str | None) -> str | None:
    secret = config.get("TELEGRAM_WEBHOOK_SECRET")
    if secret:
        if not SECRET_TOKEN_RE.fullmatch(str(secret)):
            raise RuntimeError(
                "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, '_' and "
                "'-': Telegram refuses any other secret_token."
            )
        return str(secret)
    return derive_secret(token) if token else None


#: Why the webhook refuses to serve with neither a token nor a secret.
NO_SECRET = (
    "The webhook route needs a secret to tell Telegram from anyone else. Set "  # noqa: S105
    "TELEGRAM_BOT_TOKEN (the secret is derived from it) or TELEGRAM_WEBHOOK_SECRET; to "
    "accept unauthenticated requests anyway, set TELEGRAM_INSECURE_NO_SECRET = True."
)


def _executor(config: Mapping[str, Any]) -> str:
    kind = str(config["TELEGRAM_EXECUTOR"]).strip().lower()
    if kind not in ("inline", "thread", "celery"):
        raise RuntimeError(
            "TELEGRAM_EXECUTOR must be 'inline' (handle in the request), 'thread' (answer at "
            f"once, handle in a thread pool) or 'celery' (handle in Celery workers), got {kind!r}."
        )
    return kind


def _on_error(config: Mapping[str, Any]) -> str:
    policy = str(config["TELEGRAM_ON_ERROR"])
    if policy not in ERROR_POLICIES:
        raise RuntimeError(
            f"TELEGRAM_ON_ERROR must be 'ack' (answer 200, drop the update) or 'retry' "
            f"(answer 500 so Telegram sends it again), got {policy!r}."
        )
    return policy


def _store_url(config: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """``TELEGRAM_STORE_URL``, else its older name ``TELEGRAM_DEDUPE_URL``; checked.

    The app's config before the environment, as for every key: ``TELEGRAM_STORE_URL`` is
    not in :data:`DEFAULTS`, so a config that names a store under the old key is not
    overruled by the new key in the environment.
    """
    url: Any = None
    for key, source in [
        ("TELEGRAM_STORE_URL", config),
        ("TELEGRAM_DEDUPE_URL", config),
        ("TELEGRAM_DEDUPE_URL", env),
        ("TELEGRAM_STORE_URL", env),
    ]:
        url = source.get(key)
        if url:
            break
    if not url:
        return None
    scheme, found, _ = str(url).partition("://")
    if not found or scheme.lower() not in STORE_URL_SCHEMES:
        # The URL may carry a password: the message never repeats it.
        raise RuntimeError(
            f"{key} must be a store URL: sqlite:///path/to/file.sqlite3 (one machine), "
            "redis://localhost:6379/0 (several machines) or memory:// (one process); "
            "the value set is none of these."
        )
    return str(url)


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_EXTERNAL_KEYS = (
    "TELEGRAM_EXTERNAL_PATH",
    "TELEGRAM_EXTERNAL_BASE_URL",
    "TELEGRAM_EXTERNAL_MAX_BODY_SIZE",
    "TELEGRAM_EXTERNAL_RATE_LIMIT",
    "TELEGRAM_RATELIMIT_STORAGE_URI",
)


def _external(config: Mapping[str, Any], webhook_path: str) -> dict[str, Any]:
    """The ``TELEGRAM_EXTERNAL_*`` keys of signed links, as :class:`Settings` fields."""
    given = {k: config.get(k, DEFAULTS[k]) for k in _EXTERNAL_KEYS}
    path = str(given["TELEGRAM_EXTERNAL_PATH"]).rstrip("/")
    if not path.startswith("/"):
        raise RuntimeError(
            f"TELEGRAM_EXTERNAL_PATH must be a path starting with '/', got {path!r}."
        )
    if path == webhook_path.rstrip("/"):
        raise RuntimeError(
            "TELEGRAM_EXTERNAL_PATH must differ from TELEGRAM_WEBHOOK_PATH; keep the default "
            "'/telegram/external' or pick another path."
        )
    rate_limit = given["TELEGRAM_EXTERNAL_RATE_LIMIT"] or None
    return {
        "external_path": path,
        "external_base_url": _external_base_url(given["TELEGRAM_EXTERNAL_BASE_URL"]),
        "external_max_body_size": whole_number(given, "TELEGRAM_EXTERNAL_MAX_BODY_SIZE"),
        "external_rate_limit": str(rate_limit) if rate_limit else None,
        "ratelimit_storage_uri": str(given["TELEGRAM_RATELIMIT_STORAGE_URI"] or "memory://"),
    }


def _external_base_url(value: Any) -> str | None:
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
