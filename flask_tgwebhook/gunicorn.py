"""A gunicorn server hook that configures the webhook once per deploy, in the master process.

In the gunicorn config file (``gunicorn.conf.py``)::

    from flask_tgwebhook.gunicorn import when_ready

``when_ready`` runs in the master after the listening socket is bound and before any worker
starts, so Telegram's first delivery finds a socket (``on_starting`` works too, a moment
earlier). Workers never call setWebhook, so ``--workers 8`` means one call, not eight.

The master does not import the app itself: the work runs in a short-lived child process
(``python -m flask_tgwebhook.gunicorn APP``). Importing the app into the master would hand
its objects (open connections, pools) to every forked worker and would keep ``kill -HUP``
from loading new code. The child's log lines are passed on to gunicorn's error log.

The app is found, in order, from ``TELEGRAM_FLASK_APP``, the app gunicorn was started with
(``gunicorn myproject:app``), or ``FLASK_APP``; the forms are Flask's (``module:app``,
``module:create_app()``).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["APP_VARIABLE", "configure_webhook", "main", "on_starting", "when_ready"]

#: Environment variable naming the Flask app when gunicorn's app is not it (a wrapper).
APP_VARIABLE = "TELEGRAM_FLASK_APP"
#: Seconds the child may take (flood-control waits included) before it is stopped.
TIMEOUT = 120.0
#: The child's exit status for a configuration problem: gunicorn is stopped with the fix.
EXIT_CONFIG = 2

_LINE = re.compile(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL)\t(.*)")
_DONE_ATTRIBUTE = "_flask_tgwebhook_configured"


def when_ready(server: Any) -> None:
    """gunicorn's ``when_ready`` hook: configure the webhook (see :func:`configure_webhook`)."""
    configure_webhook(server)


def on_starting(server: Any) -> None:
    """gunicorn's ``on_starting`` hook: configure the webhook (see :func:`configure_webhook`)."""
    configure_webhook(server)


def configure_webhook(
    server: Any, *, app: str | None = None, timeout: float = TIMEOUT
) -> int | None:
    """Run :func:`flask_tgwebhook.startup.setup_webhook` for the app, in a child process.

    Call it from your own gunicorn hook to add work around it. Runs once per master even when
    wired to two hooks. A configuration problem (no URL, no token, an http:// URL) stops
    gunicorn with the sentence that says the fix; a Bot API or network failure is logged and
    the server starts anyway, because the previous webhook may still work.

    :param server: gunicorn's arbiter, as the hook receives it.
    :param app: the Flask app's import path; default as described in the module.
    :returns: the child's exit status, or ``None`` when there was nothing to do.
    :raises RuntimeError: on a configuration problem (gunicorn prints it and exits).
    """
    log = server.log
    if getattr(server, _DONE_ATTRIBUTE, False):
        return None
    setattr(server, _DONE_ATTRIBUTE, True)
    target = app or _app_path(server)
    if not target:
        raise RuntimeError(
            f"flask_tgwebhook can't tell which Flask app to configure; set {APP_VARIABLE} "
            "(e.g. myproject:app) in gunicorn's environment."
        )
    command = [sys.executable, "-m", "flask_tgwebhook.gunicorn", target]
    log.info("flask_tgwebhook: configuring the webhook of %s", target)
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_child_env(server),
            check=False,
        )
    except subprocess.TimeoutExpired:
        log.error(
            "flask_tgwebhook: configuring the webhook took over %g s and was stopped; "
            "check that the Bot API is reachable, then run `flask tg set-webhook`.",
            timeout,
        )
        return None
    last = _relay(log, done.stderr)
    if done.returncode == EXIT_CONFIG:
        raise RuntimeError(last or "flask_tgwebhook could not configure the webhook.")
    if done.returncode != 0:
        log.error(
            "flask_tgwebhook: the webhook was not configured (see above); serving anyway. "
            "Fix it with `flask tg set-webhook`."
        )
    return done.returncode


def _app_path(server: Any) -> str | None:
    return (
        os.environ.get(APP_VARIABLE)
        or getattr(getattr(server, "app", None), "app_uri", None)
        or os.environ.get("FLASK_APP")
    )


def _child_env(server: Any) -> dict[str, str]:
    """The environment for the child: gunicorn's ``--chdir`` and ``--pythonpath`` included."""
    env = dict(os.environ)
    paths = [os.getcwd()]
    pythonpath = getattr(getattr(server, "cfg", None), "pythonpath", None)
    if pythonpath:
        paths += [os.path.abspath(p) for p in str(pythonpath).split(",") if p]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def _relay(log: Any, output: str) -> str:
    """Pass the child's log lines to gunicorn's logger; returns the last message."""
    level, last = "INFO", ""
    for line in output.splitlines():
        match = _LINE.fullmatch(line)
        if match:
            level, line = match.groups()
            last = line
        if line.strip():
            getattr(log, level.lower(), log.info)("flask_tgwebhook: %s", line)
    return last


# --- the child process ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Load the Flask app named in ``argv`` and configure its webhook; the exit status."""
    from flask.cli import NoAppException, ScriptInfo

    from .errors import NotFound, TelegramError, Unauthorized
    from .redact import RedactingFilter, redact
    from .startup import setup_webhooks
    from .state import get_state
    from .token_source import refused_token

    args = list(sys.argv[1:] if argv is None else argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s\t%(message)s"))
    handler.addFilter(RedactingFilter())
    # The package's root logger, so the client's lines (a flood-control wait) come along.
    log = logging.getLogger("flask_tgwebhook")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    if len(args) != 1:
        log.error("Usage: python -m flask_tgwebhook.gunicorn MODULE:APP")
        return EXIT_CONFIG
    try:
        app = ScriptInfo(app_import_path=args[0], set_debug_flag=False).load_app()
    except NoAppException as exc:
        log.error("%s", f"Could not load the Flask app {args[0]!r}: {exc}")
        return EXIT_CONFIG
    try:
        with app.app_context():
            setup_webhooks(app, logger=logging.getLogger("flask_tgwebhook.startup"))
    except RuntimeError as exc:
        log.error("%s", exc)
        return EXIT_CONFIG
    except (Unauthorized, NotFound) as exc:
        # Say where the refused token came from: a config value may hide the exported one.
        error = f"{exc.error_code} {redact(exc.description)}"
        try:
            bot_id = get_state(app).settings.bot_id
        except RuntimeError:  # several bots and no default one: the generic words
            log.error("%s", redact(str(exc)))
            return 1
        log.error("%s", refused_token(app.config, bot_id, error))
        return 1
    except TelegramError as exc:
        log.error("%s", redact(str(exc)))
        return 1
    except Exception:
        log.exception("Configuring the webhook failed.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
