"""Kept for imports written before the stores moved to :mod:`flask_tgwebhook.stores`."""

from __future__ import annotations

from .stores.base import DONE, RUNNING, Claim, DedupeStore
from .stores.memory import MemoryStore

__all__ = ["DONE", "RUNNING", "Claim", "DedupeStore", "MemoryStore"]
