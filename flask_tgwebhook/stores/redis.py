"""A store in Redis, shared by every worker and machine that serves the bot.

Set ``TELEGRAM_STORE_URL = "redis://host:6379/0"``, or pass ``store=RedisStore(client)``.
"Add if absent" is one atomic ``SET key value NX EX ttl``, so of two copies of an update
that reach two machines at once exactly one runs. The journal and albums are Lua scripts
(see :mod:`~flask_tgwebhook.stores.redis_scripts`), each atomic, on the server's clock so
machines whose clocks disagree still agree on leases. Needs the ``redis`` extra
(``pip install flask_tgwebhook[redis]``), imported only when a Redis store is made.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from . import redis_scripts as scripts
from .base import JOURNAL_SCAN, Accepted, AlbumClaim, Store

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
            "The Redis store needs the redis package: pip install flask_tgwebhook[redis] "
            "(or set TELEGRAM_STORE_URL to sqlite:///... or memory://)."
        ) from None
    return redis


class RedisStore(Store):
    """Marks, journal and album parts in Redis.

    :param client: a ``redis.Redis`` client (its connection pool is per process, so one made
        before gunicorn forks is still safe to use in each worker).
    """

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        # Registering makes no connection: each call sends EVALSHA, and the script once.
        self._scripts = {name: client.register_script(src) for name, src in scripts.ALL.items()}

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

    # -- journal ------------------------------------------------------------------------

    def _run(self, name: str, *args: str | int) -> Any:
        return self._scripts[name](args=list(args))

    def journal_accept(
        self, journal: str, key: str, payload: str, *, chat: str | None = None, order: int = 0
    ) -> bool:
        return bool(self._run("accept", journal, key, payload, _chat(chat), order))

    def journal_take(
        self, journal: str, lease: float, *, chat: str | None = None
    ) -> Accepted | None:
        found = self._run("take", journal, _ms(lease), _chat(chat) if chat else "", JOURNAL_SCAN)
        return _accepted(found) if found else None

    def journal_renew(self, journal: str, entry: Accepted, lease: float) -> bool:
        return bool(self._run("renew", journal, entry.key, entry.attempts, _ms(lease)))

    def journal_done(self, journal: str, key: str) -> None:
        self._run("done", journal, key)

    def journal_expired(self, journal: str, limit: int = 100) -> list[Accepted]:
        found = self._run("expired", journal, JOURNAL_SCAN, limit)
        return [_accepted(entry) for entry in found]

    # -- albums -------------------------------------------------------------------------

    def album_add(self, album: str, order: int, part: str, ttl: float) -> bool:
        return bool(self._run("album_add", album, order, part, _ms(ttl), _waiting(album)))

    def album_parts(self, album: str) -> list[str]:
        return _in_order(self.client.hgetall(album + ":p"))

    def album_claim(self, album: str, quiet: float) -> AlbumClaim:
        found = self._run("album_claim", album, _ms(quiet), _waiting(album))
        status = int(found[0])
        if status == scripts.ALBUM_WON:
            flat = found[1:]
            return AlbumClaim(_in_order(dict(zip(flat[::2], flat[1::2], strict=True))))
        if status == scripts.ALBUM_EARLY:
            return AlbumClaim(None, int(found[1]) / 1000)
        return AlbumClaim(None)

    def albums_due(self, prefix: str, quiet: float, limit: int = 100) -> list[str]:
        found = self._run("albums_due", _waiting(prefix), _ms(quiet), limit)
        names = (a.decode() if isinstance(a, bytes) else str(a) for a in found)
        return [name for name in names if name.startswith(prefix)]

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        # Not the URL: it may hold a password.
        return f"<RedisStore db={self.client.connection_pool.connection_kwargs.get('db', 0)}>"


def _waiting(album: str) -> str:
    """The sorted set of the albums not handed out yet that share ``album``'s prefix: its
    name up to its last ``:`` (an album's id, Telegram's ``media_group_id``, has none; a
    prefix ends with the ``:``)."""
    return album.rpartition(":")[0] + ":~waiting"


def _expiry(ttl: float) -> tuple[int | None, int | None]:
    """``(EX, PX)``: seconds when whole (what the settings give), else milliseconds."""
    if float(ttl).is_integer() and ttl >= 1:
        return int(ttl), None
    return None, max(1, math.ceil(ttl * 1000))


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _chat(chat: str | None) -> str:
    """A chat for the scripts: ``=`` and the chat, or ``""`` for none (which any chat is not)."""
    return "" if chat is None else "=" + chat


def _accepted(found: list[Any]) -> Accepted:
    key, payload, chat, order, attempts = (_text(v) for v in found)
    return Accepted(key, payload, chat[1:] or None if chat else None, int(order), int(attempts))


def _in_order(parts: dict[Any, Any]) -> list[str]:
    return [_text(parts[o]) for o in sorted(parts, key=lambda o: int(_text(o)))]
