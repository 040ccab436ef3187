"""Keep external link tokens out of request logs.

Anyone who reads a token from a log line can call the link, so the request lines of the
development server (the ``werkzeug`` logger) and of gunicorn (its debug line and its access
log) get the token segment of our paths replaced. nginx's access log is outside the app: see
the docs for its format.
"""

from __future__ import annotations

import logging
import re
import threading

#: What replaces a token in a log line.
REDACTED = "<redacted>"

#: Loggers that write request paths: the development server's, gunicorn's debug line
#: (``pre_request``) and gunicorn's access log.
REQUEST_LOGGERS = ("werkzeug", "gunicorn.error", "gunicorn.access")

_lock = threading.Lock()


class LinkRedactingFilter(logging.Filter):
    """Replace the segment after any of :attr:`paths` with ``<redacted>`` in a record.

    The record is rendered (``record.getMessage()``) only when it mentions one of the
    paths; it is never dropped.
    """

    def __init__(self) -> None:
        super().__init__()
        self.paths: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add_path(self, path: str) -> None:
        """Also redact tokens under ``path`` (e.g. ``/telegram/external``)."""
        with _lock:
            self.paths.add(path.rstrip("/"))
            alternatives = "|".join(re.escape(p) for p in sorted(self.paths, key=len, reverse=True))
            # A token is URL-safe base64 plus '.', so it ends at anything else.
            self._pattern = re.compile(f"({alternatives})/[A-Za-z0-9_.%-]+")

    def filter(self, record: logging.LogRecord) -> bool:
        pattern = self._pattern
        if pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True  # a broken format string is the handler's to report, untouched
        redacted = pattern.sub(r"\1/" + REDACTED, message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


#: The one filter shared by every app in the process; each app adds its path.
link_filter = LinkRedactingFilter()


def install_link_redaction(path: str) -> None:
    """Redact tokens under ``path`` in the request loggers. Safe to call any number of times."""
    link_filter.add_path(path)
    with _lock:
        for name in REQUEST_LOGGERS:
            logger = logging.getLogger(name)
            if link_filter not in logger.filters:
                logger.addFilter(link_filter)
