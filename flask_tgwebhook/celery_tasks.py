"""The Celery task of ``TELEGRAM_EXECUTOR = "celery"``: drain one chat's accepted updates.

Registered on the Celery app of Flask's pattern, ``app.extensions["celery"]`` (see Flask's
"Background Tasks with Celery"), when ``init_app`` runs, in the web workers and in the Celery
workers alike (both load the Flask app). Needs the ``celery`` extra.
"""

from __future__ import annotations

import weakref
from typing import Any

from flask import Flask

__all__ = ["run_chat_task", "task_name"]


def task_name(app: Flask) -> str:
    """The task's name for ``app``: the web and the Celery workers both derive it."""
    return f"flask_tgwebhook.run_chat:{app.import_name}"


def run_chat_task(app: Flask) -> Any:
    """The task that runs ``app``'s journal entries of one chat, registered once per app and
    shared by its bots: each call names the bot whose journal it drains."""
    celery = app.extensions.get("celery")
    if celery is None:
        raise RuntimeError(
            "TELEGRAM_EXECUTOR = 'celery' needs the Celery app in app.extensions['celery'] "
            "(Flask's pattern: celery_init_app(app) in the Flask docs' 'Background Tasks with "
            "Celery'), set up before tg.init_app(app); or use TELEGRAM_EXECUTOR = 'thread'."
        )
    name = task_name(app)
    # celery.tasks would finalize the Celery app before its own tasks are declared: look up
    # what this module registered instead (the app's second bot finds the first one's task).
    registered = _TASKS.get(app)
    if registered is not None and registered[0] is celery:
        return registered[1]

    def run_chat(bot: str | None, chat: str | None) -> int:
        from .state import get_state

        with app.app_context():
            executor = get_state(app, name=bot).executor
            if executor is None:
                raise RuntimeError(
                    f"The bot {bot!r} of this app does not use TELEGRAM_EXECUTOR = 'celery' in "
                    "this process: start the Celery worker with the web app's configuration."
                )
            return executor.drain(chat)

    # shared=False: the task is this Celery app's, not every Celery app's made later on.
    task = celery.task(name=name, ignore_result=True, shared=False)(run_chat)
    _TASKS[app] = (celery, task)
    return task


#: Each app's Celery app and task, so its bots share the task (registering it again for a
#: second bot would only replace the first).
_TASKS: weakref.WeakKeyDictionary[Flask, tuple[Any, Any]] = weakref.WeakKeyDictionary()
