"""Kept for imports written before the stores moved to :mod:`flask_tgwebhook.stores`."""

from __future__ import annotations

from .stores.redis import RedisStore

__all__ = ["RedisStore"]
