"""What one update goes through on its way to the webhook: its queue, its attempts, its fate.

Each update belongs to a queue (a chat for messages, a user for callback queries, ...); a
queue has at most one update in flight, so a chat's updates arrive in order while other chats
go on in parallel (see :mod:`.scheduler`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .plumbing import Call, parse_body
from .timing import update_type

# WebhookActor::handle: methods Telegram does not run when a webhook answers with them.
_IGNORED_REPLIES = ("deletewebhook", "setwebhook", "close", "logout")


# Client::add_update callers: the queue each update type waits in (webhook_queue_id), as
# (kind, whose id). One update per queue is in flight, so each queue keeps its order.
_QUEUES: dict[str, tuple[str, str]] = {
    "message": ("chat", "chat"),
    "edited_message": ("chat", "chat"),
    "channel_post": ("chat", "chat"),
    "edited_channel_post": ("chat", "chat"),
    "inline_query": ("inline", "from"),
    "chosen_inline_result": ("chosen", "from"),
    "callback_query": ("callback", "from"),
    "shipping_query": ("payment", "from"),
    "pre_checkout_query": ("payment", "from"),
    "my_chat_member": ("my_member", "chat"),
    "chat_member": ("member", "member"),  # the member's queue, not the acting admin's
    "chat_join_request": ("member", "from"),
    "chat_boost": ("boost", "chat"),
    "removed_chat_boost": ("boost", "chat"),
    "message_reaction": ("reaction", "chat"),
    "message_reaction_count": ("reaction_count", "chat"),
    "business_connection": ("business_connection", "user"),
    "business_message": ("business", "chat"),
    "edited_business_message": ("business", "chat"),
    "deleted_business_messages": ("business", "chat"),
    "guest_message": ("guest", "chat"),
    "purchased_paid_media": ("paid_media", "from"),
    "managed_bot": ("managed_bot", "user"),
}


def _owner_id(payload: dict[str, Any], whose: str) -> Any:
    if whose == "member":
        member = payload.get("new_chat_member") or payload.get("old_chat_member") or {}
        owner = member.get("user") if isinstance(member, dict) else None
    else:
        owner = payload.get(whose)
    return owner.get("id") if isinstance(owner, dict) else None


def queue_key(update: dict[str, Any]) -> tuple[str, Any] | None:
    """The queue an update waits in: its chat, its user or its poll, as Telegram groups them.

    None for types delivered without order (each its own queue).
    """
    kind = update_type(update)
    payload = update.get(kind) if kind else None
    if kind is None or not isinstance(payload, dict):
        return None
    if kind == "poll" or kind == "poll_answer":
        poll_id = payload.get("id") if kind == "poll" else payload.get("poll_id")
        return ("poll", poll_id) if poll_id is not None else None
    queue = _QUEUES.get(kind)
    if queue is None:
        return None
    owner = _owner_id(payload, queue[1])
    if not isinstance(owner, int) or isinstance(owner, bool):
        return None
    return (queue[0], owner)


@dataclass(frozen=True)
class Attempt:
    """One POST of an update to the webhook.

    :param status: the HTTP status, or None when there was no answer.
    :param error: what went wrong, in ``last_error_message``'s words; None on success.
    :param retry_after: the ``Retry-After`` the webhook asked for, in seconds.
    """

    status: int | None
    error: str | None
    retry_after: int | None = None


@dataclass(eq=False)
class Delivery:
    """What became of one update handed to :meth:`FakeTelegram.deliver`.

    ``state`` is ``"pending"`` (waiting or being retried), ``"delivered"`` (a 2xx answer),
    ``"dropped"`` (given up after ``max_attempts``, or by ``drop_pending_updates``),
    ``"expired"`` (its lifetime on Telegram ran out: a day for messages, 150 s for callback
    queries, 30 s for inline queries), ``"filtered"`` (not in allowed_updates, so Telegram
    never sends it), or ``"fetched"`` (taken with getUpdates).
    """

    update: dict[str, Any]
    state: str = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    #: The method call the webhook answered with, as recorded (None without one).
    reply: Call | None = None
    #: What the emulator answered to that call (the Bot API JSON).
    reply_result: dict[str, Any] | None = None
    key: Any = None
    #: When it may be sent (time.monotonic()); later after a failure.
    not_before: float = 0.0
    #: The Unix time after which Telegram forgets it.
    expires_at: float = float("inf")
    # WebhookActor's per-update back-off state: the step and the failures so far.
    delay: int = 1
    failures: int = 0
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def ok(self) -> bool:
        """True when the webhook answered 2xx."""
        return self.state == "delivered"

    @property
    def done(self) -> bool:
        """True once it was delivered, dropped, expired, filtered or fetched."""
        return self._done.is_set()

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    @property
    def queue(self) -> Any:
        """Its queue, or the delivery itself when it has none (a queue of one)."""
        return self.key if self.key is not None else id(self)

    def wait(self, timeout: float = 10.0) -> bool:
        """Wait until it was delivered or given up; False if still pending after ``timeout``."""
        return self._done.wait(timeout)

    def finish(self, state: str) -> None:
        self.state = state
        self._done.set()

    def restart(self) -> None:
        """A new webhook loads the update afresh: no back-off left from the old one."""
        self.not_before, self.delay, self.failures = 0.0, 1, 0


def reply_call(content_type: str, body: bytes) -> Call | None:
    """The method a 2xx webhook answer asks Telegram to run, if it would run it.

    WebhookActor::handle: a ``method`` argument, case ignored, but not the webhook methods,
    ``close``, ``logOut`` or any ``get*``.
    """
    if not body:
        return None
    try:
        params, files = parse_body(content_type, body)
    except ValueError:
        return None
    method = str(params.pop("method", "") or "")
    lowered = method.lower()
    if not method or lowered in _IGNORED_REPLIES or lowered.startswith("get"):
        return None
    return Call(method, params, files, source="webhook_reply")
