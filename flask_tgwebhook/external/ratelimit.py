"""Flood protection for external links, on the ``limits`` package (an optional extra).

Counters live in the storage named by ``TELEGRAM_RATELIMIT_STORAGE_URI``: ``memory://`` is
per process; ``redis://host:port`` is shared by every worker and machine.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

logger = logging.getLogger("flask_tgwebhook.external")

#: Namespace of every counter key, so other users of the same Redis never collide.
NAMESPACE = "tgwebhook-external"


class RateLimiter:
    """Fixed-window limits on calls, checked per identifier (a client address, a link).

    :param limit: ``limits`` notation, e.g. ``"60/minute"`` or ``"10/second;500/hour"``.
    :param storage_uri: where counters live, e.g. ``"memory://"`` or ``"redis://127.0.0.1:6379"``.
    :raises RuntimeError: ``limits`` is not installed, or either setting can't be parsed.
    """

    def __init__(self, limit: str, storage_uri: str = "memory://") -> None:
        try:
            from limits import parse_many
            from limits.storage import storage_from_string
            from limits.strategies import FixedWindowRateLimiter
        except ImportError:
            raise RuntimeError(
                "TELEGRAM_EXTERNAL_RATE_LIMIT is set, which needs the 'limits' package: run "
                "pip install flask_tgwebhook[limits], or remove TELEGRAM_EXTERNAL_RATE_LIMIT."
            ) from None
        try:
            self.items: list[Any] = list(parse_many(limit))
        except ValueError:
            raise RuntimeError(
                f"TELEGRAM_EXTERNAL_RATE_LIMIT must look like '60/minute' or "
                f"'10/second;500/hour', got {limit!r}."
            ) from None
        try:
            # Constructing a storage checks the URI without connecting to anything.
            storage = storage_from_string(storage_uri, wrap_exceptions=True)
        except Exception as exc:
            raise RuntimeError(
                f"TELEGRAM_RATELIMIT_STORAGE_URI can't be used ({exc}). Use 'memory://' for "
                "one process or 'redis://host:6379' to share limits between workers."
            ) from None
        self.limiter: Any = FixedWindowRateLimiter(storage)
        self.limit = limit

    def hit(self, *identifiers: str) -> int | None:
        """Count one call for ``identifiers``; the seconds to wait if it is one too many.

        When the storage is unreachable the call is let through (fail open): flood
        protection must not turn a Redis outage into lost payment callbacks.
        """
        key = (NAMESPACE, *identifiers)
        try:
            for item in self.items:
                if not self.limiter.hit(item, *key):
                    reset_time: float = self.limiter.get_window_stats(item, *key).reset_time
                    return max(1, math.ceil(reset_time - time.time()))
        except Exception:
            logger.warning("The rate limit storage failed; letting calls through.", exc_info=True)
        return None
