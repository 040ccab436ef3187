"""The Celery task of ``TELEGRAM_EXECUTOR = "celery"``: drain one chat's accepted updates.

Registered on the Celery app of Flask's pattern, ``app.extensions["celery"]`` (see Flask's
"Background Tasks with Celery"), when ``init_app`` runs, in the web workers and in the Celery
workers alike (both load the Flask app). Needs the ``celery`` extra.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

__all__ = ["run_chat_task", "task_name"]


def task_name(app: Flask) -> str:
    """The task's name for ``app``: the web and the Celery workers both derive it."""
    return f"flask_tgwebhook.run_chat:{app.import_name}"


def run_chat_task(app: Flask) -> Any:
    """The task that runs ``app``'s journal entries of one chat, registered once."""
    celery = app.extensions.get("celery")
    if celery is None:
        raise RuntimeError(
            "TELEGRAM_EXECUTOR = 'celery' needs the Celery app in app.extensions['celery'] "
            "(Flask's pattern: celery_init_app(app) in the Flask docs' 'Background Tasks with "
            "Celery'), set up before tg.init_app(app); or use TELEGRAM_EXECUTOR = 'thread'."
        )
    name = task_name(app)
    registered = celery.tasks.get(name) if celery.finalized else None
    if registered is not None:
        return registered

    def run_chat(bot: str | None, chat: str | None) -> int:
        from .state import get_state

        with app.app_context():
            executor = get_state(app).executor
            assert executor is not None, "the app's TELEGRAM_EXECUTOR is not celery"
            return executor.drain(chat)

    return celery.task(name=name, ignore_result=True)(run_chat)
