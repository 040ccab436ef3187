"""The emulator's update side: setWebhook, deleteWebhook, getWebhookInfo, getUpdates, deliver.

It keeps what the real server keeps per bot: the webhook, the allowed update types (which
outlive the webhook, as Telegram's do), the pending updates, the last delivery error and
the one long poll that may wait at a time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Response

from .delivery import Delivery, queue_key
from .plumbing import Call, error_response, ok_response, retry_after_response
from .scheduler import ReplyRunner, Scheduler
from .timing import CONFLICT_INTERVAL, Timing, update_type
from .webhook_rules import (
    DEFAULT_ALLOWED_UPDATES,
    SERVER_UPDATE_ORDER,
    WebhookConfig,
    WebhookRefused,
    check_set_webhook,
    clamp_max_connections,
    host_address,
    parse_allowed_updates,
    to_bool,
)

# Client::process_get_updates_query and Client::abort_long_poll, word for word.
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
OTHER_GET_UPDATES = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
BY_SET_WEBHOOK = "Conflict: terminated by setWebhook request"
#: Client.h LONG_POLL_MAX_TIMEOUT.
LONG_POLL_MAX_TIMEOUT = 50
# Client::process_get_updates_query: the same offset again within 3 s waits at least 3 s;
# within 0.5 s it gets one update at most.
_REPEAT_MIN_TIMEOUT = 3.0
_REPEAT_ONE_UPDATE = 0.5


def _integer(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return default


class _LongPoll:
    """The getUpdates request waiting for updates; another one ends it with a 409."""

    def __init__(self) -> None:
        self.ended_by: str | None = None


class WebhookSide:
    """Webhook state, getUpdates and delivery for one emulated bot."""

    def __init__(
        self,
        *,
        allow_loopback: bool,
        allow_http: bool,
        timing: Timing,
        run_reply: ReplyRunner,
    ) -> None:
        self.allow_loopback = allow_loopback
        self.allow_http = allow_http
        self.timing = timing
        self._lock = threading.Lock()
        self._config: WebhookConfig | None = None
        self._allowed = DEFAULT_ALLOWED_UPDATES
        self._next_set_webhook = 0.0
        self._next_conflict = 0.0
        self._long_poll: _LongPoll | None = None
        self._previous_offset: int | None = None
        self._previous_poll_start = float("-inf")
        self.scheduler = Scheduler(timing, run_reply)

    @property
    def config(self) -> WebhookConfig | None:
        """The webhook in force, if any."""
        return self._config

    def stop(self) -> None:
        self.scheduler.stop()

    # -- Bot API methods -------------------------------------------------------------------

    def set_webhook(self, name: str, call: Call) -> Response:
        """setWebhook, and deleteWebhook (a setWebhook with no URL, as the real server does)."""
        params = call.params
        url = str(params.get("url") or "") if name == "setwebhook" else ""
        with self._lock:
            now = time.monotonic()
            if url:
                if now < self._next_set_webhook:
                    return retry_after_response(1)
                self._next_set_webhook = now + self.timing.webhook_interval
            allowed = parse_allowed_updates(params.get("allowed_updates"))
            drop = to_bool(params.get("drop_pending_updates", False))
            if not drop and self._unchanged(url, call):
                if allowed is not None:
                    self._allowed = allowed
                return ok_response(
                    True, "Webhook is already set" if url else "Webhook is already deleted"
                )
            if url:
                self._end_long_poll(BY_SET_WEBHOOK)
            # The old webhook goes first; a refused new one leaves none, as on Telegram.
            had_webhook = self._config is not None
            self._set(None)
            if drop:
                self.scheduler.drop_pending()
            if not url:
                return ok_response(
                    True, "Webhook was deleted" if had_webhook else "Webhook is already deleted"
                )
            try:
                config = check_set_webhook(
                    params,
                    call.files,
                    allow_loopback=self.allow_loopback,
                    allow_http=self.allow_http,
                )
            except WebhookRefused as refused:
                return error_response(400, refused.description)
            if allowed is not None:
                self._allowed = allowed
            self._set(config)
        return ok_response(True, "Webhook was set")

    def _unchanged(self, url: str, call: Call) -> bool:
        config, params = self._config, call.params
        if config is None:
            return not url
        new_certificate = "certificate" in call.files or str(
            params.get("certificate") or ""
        ).startswith("attach://")
        return (
            url == config.url
            and config.certificate is None
            and not new_certificate
            and clamp_max_connections(params.get("max_connections")) == config.max_connections
            and str(params.get("secret_token") or "") == config.secret_token
            and str(params.get("ip_address") or "") == config.ip_address
        )

    def _set(self, config: WebhookConfig | None) -> None:
        self._config = config
        self.scheduler.configure(config)

    def get_updates(self, params: dict[str, Any]) -> Response:
        """getUpdates as Client::process_get_updates_query and do_get_updates answer it."""
        with self._lock:
            if self._config is not None:
                return self._conflict(WEBHOOK_ACTIVE)
            allowed = parse_allowed_updates(params.get("allowed_updates"))
            if allowed is not None:
                self._allowed = allowed
            offset = _integer(params.get("offset", 0), 0)
            limit = max(1, min(100, _integer(params.get("limit", 100), 100)))
            # The client's own timeout is real seconds; the server's minimum is Telegram's.
            timeout = float(
                max(0, min(LONG_POLL_MAX_TIMEOUT, _integer(params.get("timeout", 0), 0)))
            )
            now = time.monotonic()
            if offset == self._previous_offset:
                since = now - self._previous_poll_start
                if timeout < _REPEAT_MIN_TIMEOUT and since < self.timing.seconds(
                    _REPEAT_MIN_TIMEOUT
                ):
                    timeout = max(timeout, self.timing.seconds(_REPEAT_MIN_TIMEOUT))
                if since < self.timing.seconds(_REPEAT_ONE_UPDATE):
                    limit = 1
            self._previous_offset, self._previous_poll_start = offset, now
        return self._read(offset, limit, timeout)

    def _read(self, offset: int, limit: int, timeout: float) -> Response:
        scheduler = self.scheduler
        with scheduler.cond:
            if offset < 0:
                scheduler.keep_last(-offset)
            updates = scheduler.read(offset, limit)
        if updates or timeout <= 0:
            return ok_response(updates)
        poll = _LongPoll()
        with self._lock:
            self._end_long_poll(OTHER_GET_UPDATES)
            self._long_poll = poll
        deadline = time.monotonic() + timeout
        with scheduler.cond:
            while poll.ended_by is None and not scheduler.stopping:
                updates = scheduler.read(max(offset, 0), limit)
                left = deadline - time.monotonic()
                if updates or left <= 0 or scheduler.webhook_set:
                    break
                scheduler.cond.wait(min(left, 0.5))
        with self._lock:
            if self._long_poll is poll:
                self._long_poll = None
            if poll.ended_by is not None:
                return self._conflict(poll.ended_by)
        return ok_response(updates)

    def _end_long_poll(self, reason: str) -> None:
        """Client::abort_long_poll: the waiting getUpdates answers 409 (call with the lock)."""
        poll = self._long_poll
        if poll is not None:
            self._long_poll = None
            with self.scheduler.cond:
                poll.ended_by = reason
                self.scheduler.cond.notify_all()

    def _conflict(self, description: str) -> Response:
        """Client::fail_query_conflict: a 409 at most every 3 s, later ones 3 s late."""
        now = time.monotonic()
        interval = self.timing.seconds(CONFLICT_INTERVAL)
        if now < self._next_conflict:
            self._lock.release()
            try:
                time.sleep(interval)
            finally:
                self._lock.acquire()
        else:
            self._next_conflict = now + interval
        return error_response(409, description)

    def info(self) -> dict[str, Any]:
        """What getWebhookInfo answers, field for field (Client::JsonWebhookInfo)."""
        with self._lock:
            config, allowed = self._config, self._allowed
        scheduler = self.scheduler
        info: dict[str, Any] = {
            "url": config.url if config else "",
            "has_custom_certificate": bool(config and config.certificate is not None),
            "pending_update_count": scheduler.pending_count(),
        }
        if scheduler.last_error_date:
            info["last_error_date"] = scheduler.last_error_date
            info["last_error_message"] = scheduler.last_error_message
        if config is not None:
            info["max_connections"] = config.max_connections
            # Telegram shows the address it resolved; the emulator does no DNS lookups.
            address = config.ip_address or host_address(config.parsed.host)
            info["ip_address"] = address or "<unknown>"
        if allowed != DEFAULT_ALLOWED_UPDATES:
            # JsonUpdateTypes: in the server's own order of update types, not the spec's.
            info["allowed_updates"] = [kind for kind in SERVER_UPDATE_ORDER if kind in allowed]
        return info

    # -- the emulator's own controls -------------------------------------------------------

    def deliver(self, update: dict[str, Any]) -> Delivery:
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            raise ValueError(
                "An update is a dict with an integer 'update_id' and one payload field; "
                "build one with flask_tgwebhook.testing.make_update()."
            )
        now = time.time()
        delivery = Delivery(update=update, key=queue_key(update))
        delivery.expires_at = self.timing.expires_at(update, now)
        kind = update_type(update)
        with self._lock:
            allowed = self._allowed
        if kind in SERVER_UPDATE_ORDER and kind not in allowed:
            delivery.finish("filtered")  # Client::add_update_impl skips it
        elif delivery.expires_at <= now:
            delivery.finish("expired")  # TQueue refuses an already expired event
        else:
            self.scheduler.add(delivery)
        return delivery

    def wait(self, deliveries: Iterable[Delivery], timeout: float) -> None:
        """Wait until each delivery was delivered or given up; TimeoutError otherwise."""
        deliveries = [d for d in deliveries if not d.done]
        if deliveries and self._config is None:
            raise RuntimeError(
                "No webhook is set, so the update waits for getUpdates: call setWebhook first "
                "(e.g. `flask tg set-webhook` or ensure_webhook()), or do not wait."
            )
        deadline = time.monotonic() + timeout
        for delivery in deliveries:
            if not delivery.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(
                    f"Update {delivery.update_id} was not delivered within {timeout} s "
                    f"({len(delivery.attempts)} attempt(s)); see webhook_info() for the last "
                    "error, or raise the timeout."
                )
