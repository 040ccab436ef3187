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
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["APP_VARIABLE", "configure_webhook", "main", "on_starting", "when_ready"]

#: Environment variable naming the Flask app when gunicorn's app is not it (a wrapper).
APP_VARIABLE = "TELEGRAM_FLASK_APP"
#: Seconds the child may take (flood-control waits included) before it is stopped.
TIMEOUT = 120.0
#: The child's exit status for a configuration problem (no token, a refused token, an
#: http:// URL): logged at ERROR with the fix, and gunicorn serves (the app may serve a
#: website too); with ``TELEGRAM_STOP_ON_CONFIG_ERROR`` set, gunicorn stops instead.
EXIT_CONFIG = 2
#: The switch for bot-only deployments: a configuration problem stops gunicorn.
STOP_VARIABLE = "TELEGRAM_STOP_ON_CONFIG_ERROR"
#: Attempts, and seconds between them, when the Bot API can't be reached at start-up.
NETWORK_ATTEMPTS, NETWORK_PAUSE = 3, 2.0

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
    wired to two hooks. A configuration problem (no URL, no token, a refused token, an
    http:// URL) is logged at ERROR in one sentence with the fix, and gunicorn serves: the
    same app often serves a website too, and the webhook answers 503 until it is fixed. Set
    ``TELEGRAM_STOP_ON_CONFIG_ERROR=true`` in gunicorn's environment to stop gunicorn instead
    (bot-only deployments). Telegram unreachable is retried a few times, then a warning: the
    previous webhook may still work.

    :param server: gunicorn's arbiter, as the hook receives it.
    :param app: the Flask app's import path; default as described in the module.
    :returns: the child's exit status, or ``None`` when there was nothing to do.
    :raises RuntimeError: on a configuration problem with ``TELEGRAM_STOP_ON_CONFIG_ERROR``
        set (gunicorn prints it and exits).
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
        if _stop_on_config_error():
            raise RuntimeError(last or "flask_tgwebhook could not configure the webhook.")
        log.error(
            "flask_tgwebhook: the bot's configuration needs the fix above; serving anyway. "
            "Set %s=true to stop gunicorn instead.",
            STOP_VARIABLE,
        )
    elif done.returncode != 0:
        log.warning(
            "flask_tgwebhook: the webhook was not configured (see above); serving anyway, "
            "Telegram keeps delivering to the webhook it has. Fix it with "
            "`flask tg set-webhook` once the Bot API can be reached."
        )
    return done.returncode


def _stop_on_config_error() -> bool:
    from .config import optional_flag

    return optional_flag({}, os.environ, STOP_VARIABLE, False)


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
            _with_retries(
                lambda: setup_webhooks(app, logger=logging.getLogger("flask_tgwebhook.startup")),
                log,
            )
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
        return EXIT_CONFIG  # a refused token is the configuration's to fix
    except TelegramError as exc:
        log.error("%s", redact(str(exc)))
        return 1
    except Exception:
        log.exception("Configuring the webhook failed.")
        return 1
    return 0


def _with_retries(setup: Callable[[], object], log: logging.Logger) -> None:
    """Run ``setup``; when the Bot API can't be reached (or answers 5xx), wait and try again,
    a bounded number of times: a deploy often starts while the network settles."""
    from .errors import NetworkError, ServerError

    for attempt in range(1, NETWORK_ATTEMPTS + 1):
        try:
            setup()
            return
        except (NetworkError, ServerError) as exc:
            if attempt == NETWORK_ATTEMPTS:
                raise
            log.warning(
                "Telegram could not be reached (%s); trying again in %g s (%d of %d).",
                exc,
                NETWORK_PAUSE,
                attempt,
                NETWORK_ATTEMPTS,
            )
            time.sleep(NETWORK_PAUSE)


if __name__ == "__main__":
    sys.exit(main())
