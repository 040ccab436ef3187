"""Where updates are remembered: the store shared by every worker that serves the bot.

:class:`~flask_tgwebhook.stores.base.DedupeStore` is the interface ("add if absent" and
friends); :class:`MemoryStore` keeps one process's marks, :class:`RedisStore` (the ``redis``
extra) shares them between machines.
"""

from __future__ import annotations

from .base import Claim, DedupeStore
from .memory import MemoryStore

__all__ = ["Claim", "DedupeStore", "MemoryStore"]
