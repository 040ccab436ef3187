"""Keep bot tokens out of text: log lines, exception messages, tracebacks.

The Bot API puts the token in the URL path (``/bot<token>/sendMessage``), and both
urllib3 (its debug and retry log lines) and requests (its exception messages) repeat
that URL. :func:`redact` rewrites any token to ``<bot id>:<redacted>``, keeping the bot
id so a reader still knows which bot it was.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["REDACTED", "RedactingFilter", "install_log_redaction", "redact"]

#: What replaces the secret half of a token.
REDACTED = "<redacted>"

# The colon may arrive percent-encoded when the URL was quoted by someone along the way.
_COLON = r"(?::|%3[Aa])"
# In a /bot<token>/ URL path anything after the id is the secret, however short.
_URL_TOKEN = re.compile(r"(/bot)(\d+)" + _COLON + r"[A-Za-z0-9_-]+")
# Elsewhere only something shaped like a real token (a long secret) is taken for one.
_BARE_TOKEN = re.compile(r"(?<!\d)(\d+)" + _COLON + r"[A-Za-z0-9_-]{20,}")

#: Loggers that repeat request URLs (and so tokens) in their messages.
REDACTED_LOGGERS = ("urllib3.connectionpool", "urllib3.util.retry", "requests")

_install_lock = threading.Lock()


def redact(text: str) -> str:
    """Return ``text`` with every bot token replaced by ``<bot id>:<redacted>``.

    Both the bare form (``123456:AAH...``) and the URL form (``/bot123456:AAH.../getMe``,
    also with a percent-encoded colon) are rewritten. Text without a token comes back unchanged.
    """
    if ":" not in text and "%3" not in text:
        return text  # the common case, and cheap
    text = _URL_TOKEN.sub(r"\1\2:" + REDACTED, text)
    return _BARE_TOKEN.sub(r"\1:" + REDACTED, text)


class RedactingFilter(logging.Filter):
    """A logging filter that removes bot tokens from a record before any handler sees it.

    It renders the message (``record.getMessage()``), redacts it and stores the result as
    ``record.msg`` with no ``args``; a traceback attached to the record is rendered and
    redacted too. The record is never dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True  # a broken format string is the handler's to report, untouched
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the raw traceback never renders.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction() -> None:
    """Add a :class:`RedactingFilter` to the loggers of urllib3 and requests.

    Safe to call any number of times: each logger gets one filter. Filters on a logger
    apply to the records that logger emits, which is where urllib3 writes request URLs.
    """
    with _install_lock:
        for name in REDACTED_LOGGERS:
            logger = logging.getLogger(name)
            if not any(isinstance(f, RedactingFilter) for f in logger.filters):
                logger.addFilter(RedactingFilter())
