"""The emulator's webhook side: setWebhook, deleteWebhook, getWebhookInfo, getUpdates, deliver.

It keeps what the real server keeps per bot: the webhook, the allowed update types (which
outlive the webhook, as Telegram's do), the pending updates and the last delivery error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Response

from ...update import UPDATE_TYPES
from .delivery import Delivery, ReplyRunner, RetryPolicy, queue_key
from .plumbing import Call, error_response, ok_response, retry_after_response
from .scheduler import Scheduler
from .webhook_rules import (
    DEFAULT_ALLOWED_UPDATES,
    WebhookConfig,
    WebhookRefused,
    check_set_webhook,
    clamp_max_connections,
    host_address,
    parse_allowed_updates,
    to_bool,
)

_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_LONG_POLL_MAX_TIMEOUT = 50


def _integer(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return default


class WebhookSide:
    """Webhook state and delivery for one emulated bot."""

    def __init__(
        self,
        *,
        allow_loopback: bool,
        allow_http: bool,
        set_webhook_interval: float,
        policy: RetryPolicy,
        run_reply: ReplyRunner,
    ) -> None:
        self.allow_loopback = allow_loopback
        self.allow_http = allow_http
        self.set_webhook_interval = set_webhook_interval
        self._lock = threading.Lock()
        self._config: WebhookConfig | None = None
        self._allowed = DEFAULT_ALLOWED_UPDATES
        self._next_set_webhook = 0.0
        self.scheduler = Scheduler(policy, run_reply)

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
                self._next_set_webhook = now + self.set_webhook_interval
            allowed = parse_allowed_updates(params.get("allowed_updates"))
            drop = to_bool(params.get("drop_pending_updates", False))
            if not drop and self._unchanged(url, call):
                if allowed is not None:
                    self._allowed = allowed
                return ok_response(
                    True, "Webhook is already set" if url else "Webhook is already deleted"
                )
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
        with self._lock:
            if self._config is not None:
                return error_response(409, _CONFLICT)
            allowed = parse_allowed_updates(params.get("allowed_updates"))
            if allowed is not None:
                self._allowed = allowed
        offset = _integer(params.get("offset", 0), 0)
        limit = max(1, min(100, _integer(params.get("limit", 100), 100)))
        timeout = max(0, min(_LONG_POLL_MAX_TIMEOUT, _integer(params.get("timeout", 0), 0)))
        return ok_response(self.scheduler.poll(offset, limit, timeout))

    def info(self) -> dict[str, Any]:
        """What getWebhookInfo answers, field for field."""
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
            info["allowed_updates"] = [kind for kind in UPDATE_TYPES if kind in allowed]
        return info

    # -- the emulator's own controls -------------------------------------------------------

    def deliver(self, update: dict[str, Any]) -> Delivery:
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            raise ValueError(
                "An update is a dict with an integer 'update_id' and one payload field; "
                "build one with flask_tgwebhook.testing.make_update()."
            )
        delivery = Delivery(update=update, key=queue_key(update))
        kind = next((key for key in update if key != "update_id"), None)
        with self._lock:
            allowed = self._allowed
        if kind in UPDATE_TYPES and kind not in allowed:
            delivery.finish("filtered")  # Telegram never even queues it
        else:
            self.scheduler.add(delivery)
        return delivery

    def wait(self, deliveries: Iterable[Delivery], timeout: float) -> None:
        """Wait until each delivery was delivered or dropped; TimeoutError otherwise."""
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
