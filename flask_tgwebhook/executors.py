"""Where updates run: in the request (``inline``), in a thread pool (``thread``), or in Celery
workers (``celery``); set with ``TELEGRAM_EXECUTOR``.

A background executor answers Telegram only after the update is recorded in the store's
journal (:meth:`~flask_tgwebhook.stores.base.Store.journal_accept`), so a worker that dies
after answering loses nothing: the journal entry's lease runs out and another worker (or the
next start) takes it. Entries of one chat are taken one at a time and in order, across every
worker and machine that shares the store. Each entry runs through the same pipeline as the
webhook (:func:`~flask_tgwebhook.pipeline.feed_update`): dedupe, hooks, error handlers,
signals and counters behave the same, and the update is marked done when handled, not when
queued. A handler's ``reply(...)`` is sent through the Bot API client.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .errors import TelegramError
from .pipeline import Outcome, run_in_app
from .stores.base import DONE, RUNNING, Accepted
from .update import Update

if TYPE_CHECKING:
    from .state import TelegramState

__all__ = ["EXECUTORS", "Acceptance", "BackgroundExecutor", "make_executor"]

logger = logging.getLogger("flask_tgwebhook")

#: The values ``TELEGRAM_EXECUTOR`` accepts.
EXECUTORS = ("inline", "thread", "celery")
#: Seconds between two looks for updates whose worker died (their lease ran out).
SWEEP_INTERVAL = 5.0


class Acceptance(enum.Enum):
    """What a background executor did with an update; the view answers accordingly."""

    ACCEPTED = "accepted"  #: recorded; it will run (200)
    DUPLICATE = "duplicate"  #: recorded or handled before (200)
    BUSY = "busy"  #: this worker's queue is full: 429 with Retry-After
    UNAVAILABLE = "unavailable"  #: the store failed: 503 with Retry-After


class BackgroundExecutor:
    """Records updates in the journal, then runs them off the request (base of thread and
    Celery). One per app; the thread pool and the sweeper are made per process, after fork.
    """

    def __init__(self, state: TelegramState) -> None:
        self.state = state
        settings = state.settings
        self.journal = state.key_prefix + "journal"
        #: An entry's lease: as long as a claim's, so a retaker never meets a live claim.
        self.lease = float(settings.processing_timeout)
        self.threads = settings.executor_threads
        self.queue_limit = settings.executor_queue
        self._pid = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pending = 0
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None

    # -- the request side -----------------------------------------------------------------

    def accept(self, raw: dict[str, Any]) -> Acceptance:
        """Record ``raw`` in the journal and schedule it; never runs the handler here."""
        state = self.state
        update_id = raw["update_id"]
        key = state.update_key(update_id)
        chat = _chat_of(raw)
        self._ensure_started()
        if self._pending >= self.queue_limit:
            logger.warning(
                "The update queue of this worker is full (%d waiting); answering 429 so that "
                "Telegram delivers update %d again later. Raise TELEGRAM_EXECUTOR_QUEUE or "
                "TELEGRAM_EXECUTOR_THREADS, or add workers.",
                self._pending,
                update_id,
            )
            return Acceptance.BUSY
        try:
            if state.store.get(key) == DONE:
                state.stats["duplicates"] += 1
                return Acceptance.DUPLICATE
            recorded = state.store.journal_accept(
                self.journal, key, json.dumps(raw), chat=chat, order=update_id
            )
        except Exception:
            logger.warning(
                "The update store failed to record update %d; answering 503 so that Telegram "
                "keeps it and delivers it again.",
                update_id,
                exc_info=True,
            )
            return Acceptance.UNAVAILABLE
        if not recorded:
            state.stats["duplicates"] += 1
            return Acceptance.DUPLICATE
        state.stats["accepted"] += 1
        self.schedule(chat)
        return Acceptance.ACCEPTED

    def schedule(self, chat: str | None) -> None:
        """Have the journal's next entries of ``chat`` run (in a thread or a Celery task)."""
        self._submit(chat)

    # -- the running side -----------------------------------------------------------------

    def drain(self, chat: str | None) -> int:
        """Run the journal's takeable entries of ``chat`` (any chat for ``None``), in order,
        until none is left or the chat's next one is someone else's; returns how many ran."""
        count = 0
        while True:
            try:
                entry = self.state.store.journal_take(self.journal, self.lease, chat=chat)
            except Exception:
                logger.warning("The update store failed to hand out an update.", exc_info=True)
                return count
            if entry is None:
                return count
            self.run(entry)
            count += 1

    def run(self, entry: Accepted) -> None:
        """Run one journal entry through the pipeline; remove it unless it must come again."""
        state, settings = self.state, self.state.settings
        store = state.store
        if entry.attempts > settings.max_retries + 1:
            # Taken this often, its worker kept dying (SIGKILL, OOM, a timeout): stop.
            logger.error(
                "Update %s was taken %d times without finishing (its worker died each time); "
                "dropping it (TELEGRAM_MAX_RETRIES = %d).",
                entry.order,
                entry.attempts,
                settings.max_retries,
            )
            state.dedupe.finish(entry.key)
            store.journal_done(self.journal, entry.key)
            return
        with self._heartbeat(entry):
            result = run_in_app(state, json.loads(entry.payload))  # this bot's pipeline
        if result.outcome in (Outcome.RUNNING, Outcome.RETRY):
            return  # its lease runs out and it is taken again
        reply = result.reply
        if reply is not None:
            try:
                state.bot.call(reply.method, **reply.params)
            except TelegramError as exc:
                logger.error("Update %s: the reply failed: %s", entry.order, exc)
        store.journal_done(self.journal, entry.key)

    @contextlib.contextmanager
    def _heartbeat(self, entry: Accepted) -> Iterator[None]:
        """Keep the entry's lease and the update's claim alive while its handler runs, so a
        handler slower than the lease is not taken again; a dead worker stops renewing."""
        stop = threading.Event()
        store, claim_key = self.state.store, entry.key

        def renew() -> None:
            while not stop.wait(self.lease / 3):
                try:
                    if not store.journal_renew(self.journal, entry, self.lease):
                        return
                    if store.get(claim_key) == RUNNING:
                        store.set(claim_key, RUNNING, self.lease)
                except Exception:
                    logger.warning("The update store failed to renew a lease.", exc_info=True)

        thread = threading.Thread(target=renew, name="tg-lease", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def sweep(self) -> int:
        """Run what is takeable without a chat filter: entries whose worker died after its
        lease ran out, and any nobody scheduled. Returns how many were scheduled."""
        try:
            expired = self.state.store.journal_expired(self.journal)
        except Exception:
            logger.warning("The update store failed to list leftover updates.", exc_info=True)
            return 0
        for entry in expired:
            self.schedule(entry.chat)
        return len(expired)

    # -- per process ----------------------------------------------------------------------

    def _ensure_started(self) -> None:
        """The pool and the sweeper of this process (a forked worker makes its own)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="tg-update")
            self._pending = 0
            self._sweeper = threading.Thread(
                target=self._sweep_forever, name="tg-sweeper", daemon=True
            )
            self._pid = os.getpid()
            self._sweeper.start()

    def start(self) -> None:
        """Start this process's pool and sweeper, now and in every process forked from it:
        leftovers of a dead worker are picked up at the next start, without waiting for an
        update to arrive. Not in gunicorn's master (``--preload``): its workers start theirs.
        """
        from .stores import in_gunicorn_master

        os.register_at_fork(after_in_child=self._ensure_started)
        if not in_gunicorn_master():
            self._ensure_started()

    def _sweep_forever(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            self.sweep()
            threading.Event().wait(SWEEP_INTERVAL)

    def _submit(self, chat: str | None) -> None:
        self._ensure_started()
        assert self._pool is not None
        with self._lock:
            self._pending += 1
        self._pool.submit(self._drain_in_app, chat)

    def _drain_in_app(self, chat: str | None) -> None:
        try:
            with self.state.app.app_context():
                self.drain(chat)
        except Exception:
            logger.exception("Running queued updates failed.")
        finally:
            with self._lock:
                self._pending -= 1


class CeleryExecutor(BackgroundExecutor):
    """Sends each accepted chat to a Celery task that drains it in a worker process.

    Uses the Celery app of Flask's pattern, ``app.extensions["celery"]``.
    """

    def __init__(self, state: TelegramState) -> None:
        super().__init__(state)
        from .celery_tasks import run_chat_task  # the celery extra, only when chosen

        self.task = run_chat_task(state.app)

    def schedule(self, chat: str | None) -> None:
        self.task.delay(self.state.ext.bot_name, chat)  # the task drains this bot's journal


def make_executor(state: TelegramState) -> BackgroundExecutor | None:
    """The executor ``TELEGRAM_EXECUTOR`` names; ``None`` for ``inline``."""
    kind = state.settings.executor
    if kind == "thread":
        return BackgroundExecutor(state)
    if kind == "celery":
        return CeleryExecutor(state)
    return None


def _chat_of(raw: dict[str, Any]) -> str | None:
    """The chat whose order an update keeps, as a string: its chat (as ``Update`` finds it),
    else ``user:<id>`` of whoever caused it (inline queries and the like), else ``None``."""
    update = Update(raw)
    if update.chat_id is not None:
        return str(update.chat_id)
    user = update.user
    if user is not None and "id" in user.raw:
        return f"user:{user.raw['id']}"
    return None
