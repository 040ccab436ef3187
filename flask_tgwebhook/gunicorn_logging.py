"""The package's log lines in gunicorn's error log, with secrets redacted.

gunicorn configures its own loggers only; a library's INFO lines go nowhere and its WARNING
lines reach stderr without a timestamp. :func:`share_gunicorn_log` gives the
``flask_tgwebhook`` logger gunicorn's error handlers and level, and puts a
:class:`~flask_tgwebhook.redact.RedactingFilter` on those handlers, so no bot token reaches
the log whoever writes it.
"""

from __future__ import annotations

import logging
from typing import Any

from .redact import RedactingFilter

__all__ = ["share_gunicorn_log"]


def share_gunicorn_log(glogger: Any, name: str = "flask_tgwebhook") -> None:
    """Route logger ``name`` to gunicorn's error log (``worker.log`` or ``server.log``)."""
    error_log: logging.Logger = glogger.error_log
    package = logging.getLogger(name)
    for handler in error_log.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
        if handler not in package.handlers:
            package.addHandler(handler)
    package.setLevel(error_log.level)
    package.propagate = False  # once, in gunicorn's format, not again through the root logger
