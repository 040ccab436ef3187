"""Keep secrets out of text: log lines, exception messages, tracebacks.

Two kinds of secret reach text on their own. The Bot API puts the bot token in its URL path
(``/bot<token>/sendMessage``), which urllib3's log lines and requests' exception messages
repeat. A signed link's token is the last segment of one of our paths, which request logs
(werkzeug's, gunicorn's) and Flask's ``Exception on <path>`` line repeat.

:func:`redact` rewrites both: a bot token becomes ``<bot id>:<redacted>`` (the id says which
bot it was), a link token ``<redacted>``. :func:`install_log_redaction` applies it to every
log record of the loggers that can carry them, *as the record is made*: a filter on a logger
sees only that logger's own records, not its children's, and urllib3 logs from whichever
module notices a problem (``urllib3.connection`` for a malformed header line, for one), so
filters on named loggers always miss one.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "REDACTED",
    "REDACTED_LOGGERS",
    "RedactingFilter",
    "add_link_path",
    "install_log_redaction",
    "redact",
    "redact_record",
]

#: What replaces the secret half of a bot token, or a link's token.
REDACTED = "<redacted>"

# The colon may arrive percent-encoded when the URL was quoted by someone along the way.
_COLON = r"(?::|%3[Aa])"
# In a /bot<token>/ URL path anything after the id is the secret, however short.
_URL_TOKEN = re.compile(r"(/bot)(\d+)" + _COLON + r"[A-Za-z0-9_-]+")
# Elsewhere only something shaped like a real token (a long secret) is taken for one.
_BARE_TOKEN = re.compile(r"(?<!\d)(\d+)" + _COLON + r"[A-Za-z0-9_-]{20,}")

#: Loggers (with all their children) whose records are always redacted: the HTTP stack
#: that repeats Bot API URLs, this package, and the servers that log request paths.
REDACTED_LOGGERS = ("urllib3", "requests", "flask_tgwebhook", "werkzeug", "gunicorn")

_lock = threading.Lock()
_link_paths: set[str] = set()
_link_pattern: re.Pattern[str] | None = None
_names: frozenset[str] = frozenset()
_prefixes: tuple[str, ...] = ()
_installed = False


def redact(text: str, *, token: str | None = None) -> str:
    """Return ``text`` with every bot token and signed-link token replaced.

    Bot tokens keep their bot id: the bare form (``123456:AAH...``) and the URL form
    (``/bot123456:AAH.../getMe``, also with a percent-encoded colon). A link token is the
    segment after a path given to :func:`add_link_path`. Other text comes back unchanged.

    :param token: a bot token whose secret part is also replaced wherever it stands alone
        (``https://host/hook/<secret>``), where no pattern could tell it from other text.
    """
    secret = token.partition(":")[2] if token else ""
    if secret and secret in text:
        text = text.replace(secret, REDACTED)
    pattern = _link_pattern
    if pattern is not None:
        text = pattern.sub(r"\1/" + REDACTED, text)
    if ":" not in text and "%3" not in text:
        return text  # the common case, and cheap
    text = _URL_TOKEN.sub(r"\1\2:" + REDACTED, text)
    return _BARE_TOKEN.sub(r"\1:" + REDACTED, text)


def add_link_path(path: str) -> None:
    """Redact the segment after ``path`` (e.g. ``/telegram/external``) from now on."""
    global _link_pattern
    with _lock:
        _link_paths.add(path.rstrip("/"))
        alternatives = "|".join(re.escape(p) for p in sorted(_link_paths, key=len, reverse=True))
        # A token is URL-safe base64 plus '.', so it ends at anything else.
        _link_pattern = re.compile(f"({alternatives})/[A-Za-z0-9_.%-]+")


def redact_record(record: logging.LogRecord) -> None:
    """Redact a record's message and attached traceback in place.

    The message is rendered and, when it held a secret, stored as ``msg`` with no ``args``.
    A traceback is rendered into ``exc_text``, which formatters reuse instead of rendering
    ``exc_info`` again.
    """
    try:
        message = record.getMessage()
    except Exception:
        return  # a broken format string is the handler's to report, untouched
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """A logging filter that applies :func:`redact_record`; the record is never dropped.

    :func:`install_log_redaction` already covers the loggers that matter; this is for a
    handler of your own that receives records from elsewhere.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install_log_redaction(*names: str) -> None:
    """Redact every record of :data:`REDACTED_LOGGERS`, of ``names`` and of their children.

    It wraps logging's record factory once per process (an app that later replaces the
    factory without calling the one it replaced turns this off). Records are redacted when
    made, so every filter and handler, the root logger's included, sees them redacted;
    only records that are emitted are made, so a disabled level costs nothing. Safe to call
    any number of times.
    """
    global _names, _prefixes, _installed
    with _lock:
        wanted = _names | set(REDACTED_LOGGERS) | {n for n in names if n and n != "root"}
        _names = frozenset(wanted)
        _prefixes = tuple(f"{name}." for name in sorted(wanted))
        if not _installed:
            logging.setLogRecordFactory(_redacting(logging.getLogRecordFactory()))
            _installed = True


def _redacting(make: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        name = record.name
        if name in _names or name.startswith(_prefixes):
            redact_record(record)
        return record

    return make_record
