"""A dedupe store in Redis, shared by every worker and machine that serves the bot.

Set ``TELEGRAM_DEDUPE_URL = "redis://host:6379/0"``, or pass ``store=RedisStore(client)``.
"Add if absent" is one atomic ``SET key value NX EX ttl``, so of two copies of an update
that reach two machines at once exactly one runs. Needs the ``redis`` extra
(``pip install flask_tgwebhook[redis]``), imported only when a Redis store is made.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .base import DedupeStore

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStore"]

# The store sits on the webhook's path: when Redis is away, fail fast (the update is then
# handled anyway) rather than hold the request through redis-py's default of ten retries.
CLIENT_DEFAULTS: dict[str, Any] = {
    "socket_connect_timeout": 1.0,
    "socket_timeout": 1.0,
    "health_check_interval": 30,
}


def _import_redis() -> Any:
    try:
        import redis
    except ImportError:
        raise RuntimeError(
            "The Redis dedupe store needs the redis package: pip install "
            "flask_tgwebhook[redis] (or remove TELEGRAM_DEDUPE_URL to keep updates in memory)."
        ) from None
    return redis


class RedisStore(DedupeStore):
    """Dedupe marks in Redis.

    :param client: a ``redis.Redis`` client (its connection pool is per process, so one made
        before gunicorn forks is still safe to use in each worker).
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStore:
        """A store on a new client for ``url`` (``redis://``, ``rediss://`` or ``unix://``).

        No connection is made until the first update. Short timeouts and one retry are the
        defaults (see ``CLIENT_DEFAULTS``); ``options`` and the URL's query override them.
        """
        redis = _import_redis()
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        settings = {**CLIENT_DEFAULTS, "retry": Retry(NoBackoff(), 1), **options}
        return cls(redis.Redis.from_url(url, **settings))

    def add(self, key: str, value: str, ttl: float) -> bool:
        ex, px = _expiry(ttl)
        return bool(self.client.set(key, value, nx=True, ex=ex, px=px))

    def get(self, key: str) -> str | None:
        value = self.client.get(key)
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)

    def set(self, key: str, value: str, ttl: float) -> None:
        ex, px = _expiry(ttl)
        self.client.set(key, value, ex=ex, px=px)

    def delete(self, key: str) -> None:
        self.client.delete(key)

    def incr(self, key: str, ttl: float) -> int:
        """``INCR`` and the expiry in one ``MULTI``: atomic, one round trip."""
        pipe = self.client.pipeline(transaction=True)
        pipe.incr(key)
        pipe.pexpire(key, max(1, math.ceil(ttl * 1000)))
        count, _ = pipe.execute()
        return int(count)

    def __repr__(self) -> str:
        # Not the URL: it may hold a password.
        return f"<RedisStore db={self.client.connection_pool.connection_kwargs.get('db', 0)}>"


def _expiry(ttl: float) -> tuple[int | None, int | None]:
    """``(EX, PX)``: seconds when whole (what the settings give), else milliseconds."""
    if float(ttl).is_integer() and ttl >= 1:
        return int(ttl), None
    return None, max(1, math.ceil(ttl * 1000))
