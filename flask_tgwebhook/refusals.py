"""Refused webhook requests, logged so an operator sees them without drowning in them.

A refusal is usually a broken deploy, not an attack: a secret that changed with the token, a
proxy that drops a header, an allowlist that misses the proxy. gunicorn shows WARNING and
above by default, so the first refusal of each kind is logged at WARNING with the fix; after
that at most one line per kind per :data:`INTERVAL` seconds, counting what it left out, so a
scanner hammering the route cannot flood the log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["FIXES", "INTERVAL", "RefusalLog"]

#: Seconds between two lines about the same kind of refusal.
INTERVAL = 60.0

#: What to do about each kind of refusal, in the operator's words.
FIXES: dict[str, str] = {
    "secret": (
        "If Telegram sent it, the secret it has is not this app's: run `flask tg set-webhook` "
        "after changing TELEGRAM_BOT_TOKEN or TELEGRAM_WEBHOOK_SECRET, use the same secret on "
        "every worker and machine, and make sure a proxy in front passes the "
        "X-Telegram-Bot-Api-Secret-Token header."
    ),
    "network": (
        "If Telegram sent it, add its networks to TELEGRAM_ALLOWED_NETWORKS; behind a proxy, "
        "set TELEGRAM_TRUSTED_PROXIES to the number of proxies so the sender's address is seen "
        "instead of the proxy's."
    ),
    "content-type": (
        "Telegram always sends application/json; a proxy in front must pass the Content-Type "
        "header unchanged."
    ),
    "size": (
        "Raise TELEGRAM_MAX_BODY_SIZE (and client_max_body_size in nginx) if Telegram's "
        "updates are this large."
    ),
    "body": "Telegram sends one JSON update object per request; a proxy must not rewrite the body.",
}


class RefusalLog:
    """Logs refusals: the first of each kind at WARNING, then at most once per interval.

    :param logger: where the lines go.
    :param interval: seconds between two lines of the same kind.
    :param clock: monotonic seconds (a parameter so tests can move time).
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval: float = INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._next: dict[str, float] = {}
        self._skipped: dict[str, int] = {}
        self._lock = threading.Lock()

    def refused(self, kind: str, status: int, reason: str, remote_addr: str | None) -> bool:
        """Note one refusal; returns whether a line was logged for it."""
        now = self.clock()
        with self._lock:
            if now < self._next.get(kind, float("-inf")):
                self._skipped[kind] = self._skipped.get(kind, 0) + 1
                return False
            self._next[kind] = now + self.interval
            skipped = self._skipped.pop(kind, 0)
        more = (
            f" ({skipped} more like it since the last line, not logged one by one)"
            if skipped
            else ""
        )
        self.logger.warning(
            "Refused a webhook request from %s with %d: %s%s %s",
            remote_addr or "an unknown address",
            status,
            reason,
            more,
            FIXES.get(kind, ""),
        )
        return True
