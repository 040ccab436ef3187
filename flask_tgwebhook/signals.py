"""Blinker signals for observability (metrics, tracing, audit logs).

Each is sent with the Flask app as sender; connect with ``signal.connect(fn, app)``. Sending
costs nothing when nobody listens, so the webhook's fast path checks ``receivers`` first.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: An update passed the secret and parse checks. Keyword arguments: ``update``.
update_received = _signals.signal("update-received")

#: A handler ran without raising. Keyword arguments: ``update``, ``result``.
update_handled = _signals.signal("update-handled")

#: No handler matched the update (or its type is unknown). Keyword arguments: ``update``.
update_unhandled = _signals.signal("update-unhandled")

#: A handler raised. Keyword arguments: ``update``, ``exception``, ``handled`` (an error
#: handler took it).
update_failed = _signals.signal("update-failed")

#: Telegram delivered an update again that was already handled or is running.
#: Keyword arguments: ``update_id``, ``running``.
update_duplicate = _signals.signal("update-duplicate")

#: A webhook request was refused. Keyword arguments: ``status`` (403, 400, 413, ...),
#: ``reason``.
request_rejected = _signals.signal("request-rejected")
