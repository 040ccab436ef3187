"""Where updates are remembered: the store shared by every worker that serves the bot.

:class:`~flask_tgwebhook.stores.base.Store` is the interface (dedupe marks, the journal of
accepted updates, album parts). :class:`SqliteStore` is the default, a file shared by every
worker of one machine; :class:`RedisStore` (the ``redis`` extra) shares them between
machines; :class:`MemoryStore` keeps one process's. :func:`open_store` makes the one that
``TELEGRAM_STORE_URL`` names.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import Accepted, AlbumClaim, Claim, DedupeStore, Store
from .memory import MemoryStore
from .sqlite import SqliteStore, default_path

if TYPE_CHECKING:
    from flask import Flask

__all__ = [
    "Accepted",
    "AlbumClaim",
    "Claim",
    "DedupeStore",
    "MemoryStore",
    "SqliteStore",
    "Store",
    "open_store",
]

logger = logging.getLogger("flask_tgwebhook")


def open_store(url: str | None, app: Flask) -> Store:
    """The store ``url`` names, for ``app``.

    - ``None`` (nothing configured): an SQLite file in the app's instance folder, shared by
      every worker of the machine; but an app with ``TESTING = True`` gets a
      :class:`MemoryStore` of its own, so tests never see each other's updates.
    - ``sqlite:///file.sqlite3`` (relative to the instance folder) or
      ``sqlite:////absolute/path.sqlite3``.
    - ``redis://``, ``rediss://``, ``unix://``: :class:`RedisStore` (no connection yet).
    - ``memory://``: one process's store (warned about under several gunicorn workers).

    :raises RuntimeError: when the file cannot be made, saying the fix.
    """
    if not url:
        if app.testing:
            return MemoryStore()
        return _sqlite(default_path(app.instance_path), default=True)
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    if scheme == "memory":
        _warn_if_several_workers()
        return MemoryStore()
    if scheme == "sqlite":
        path = Path(rest[1:] if rest.startswith("/") else rest)
        if not rest.strip("/"):
            raise RuntimeError(
                "TELEGRAM_STORE_URL names no file: write sqlite:///name.sqlite3 (in the "
                "instance folder) or sqlite:////absolute/path.sqlite3."
            )
        return _sqlite(path if path.is_absolute() else Path(app.instance_path) / path)
    from .redis import RedisStore  # redis is an optional extra

    return RedisStore.from_url(url)


def _sqlite(path: Path, *, default: bool = False) -> SqliteStore:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteStore(path)
    except (OSError, sqlite3.Error) as exc:
        where = "the app's instance folder " if default else ""
        raise RuntimeError(
            f"The store file can't be made at {path} ({exc}). Make {where}{path.parent} "
            "writable by the user the app runs as (or set the app's instance_path to a "
            "folder it can write), or set TELEGRAM_STORE_URL to sqlite:////a/writable/"
            "file.sqlite3, redis://host:6379/0 or memory:// (one process only)."
        ) from None


def _warn_if_several_workers() -> None:
    """Warn once when a per-process store serves several gunicorn workers."""
    found = _gunicorn()
    if found is None:
        return
    workers, first, _ = found
    if workers > 1 and first:
        logger.warning(
            "TELEGRAM_STORE_URL is memory://, a store per process, but gunicorn runs %d "
            "workers: an update Telegram delivers again can reach another worker and run "
            "twice. Remove TELEGRAM_STORE_URL to share the default SQLite file between the "
            "workers, or set it to redis://... for several machines.",
            workers,
        )


def in_gunicorn_master() -> bool:
    """Whether this code runs in gunicorn's master process (``--preload``), where no thread
    may be started: the workers are forked from it and would not inherit the thread."""
    found = _gunicorn()
    return found is not None and found[2]


def _gunicorn() -> tuple[int, bool, bool] | None:
    """``(workers, first, master)`` when this code runs inside gunicorn, else ``None``.

    gunicorn keeps its settings on its arbiter, which is a local of the frames that load the
    app: in the master (``--preload``) and in each worker it forks (``spawn_worker``). Reading
    them there sees every source (command line, config file, environment). ``first`` is true
    in the master and in the first worker, so the warning is said once per start.
    """
    if "gunicorn.arbiter" not in sys.modules:
        return None
    arbiter_class = sys.modules["gunicorn.arbiter"].Arbiter
    frame: Any = sys._getframe(1)
    while frame is not None:
        arbiter = frame.f_locals.get("self")
        if isinstance(arbiter, arbiter_class):
            worker = frame.f_locals.get("worker")
            first = worker is None or getattr(worker, "age", 1) == 1
            return int(arbiter.cfg.workers), first, worker is None
        frame = frame.f_back
    return None
