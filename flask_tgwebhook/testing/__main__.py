"""``python -m flask_tgwebhook.testing``: the emulator as a process of its own.

For rehearsing a deploy (gunicorn + nginx + this emulator) without writing a driver: point
``TELEGRAM_API_URL`` at it, run ``flask tg set-webhook``, then send updates from another
process through the control endpoints::

    python -m flask_tgwebhook.testing --port 8081 --allow-loopback --allow-http
    curl -s localhost:8081/_fake_telegram/deliver -d '{"update": {"update_id": 1, ...}}'
    curl -s 'localhost:8081/_fake_telegram/calls?since=0'

It prints one line, ``FakeTelegram listening on http://HOST:PORT (pid N)``, and serves until
SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .fake_telegram import FakeTelegram


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flask_tgwebhook.testing",
        description="Run the Bot API emulator as a server, with control endpoints under "
        "/_fake_telegram/ (deliver, calls, webhook_info, wait_idle).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on (0: any)")
    parser.add_argument(
        "--token", help="serve this bot token only (default: any well-formed token)"
    )
    parser.add_argument(
        "--allow-loopback",
        action="store_true",
        help="accept webhooks on loopback and private addresses, like a local Bot API server",
    )
    parser.add_argument(
        "--allow-http", action="store_true", help="accept http:// webhooks on any port"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="real seconds per Telegram second (default 1: Telegram's own clock)",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=None,
        help="give an update up after this many failed POSTs (default: until it expires)",
    )
    parser.add_argument(
        "--webhook-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the webhook's answer (default 60, as Telegram)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        telegram = FakeTelegram(
            token=args.token,
            host=args.host,
            port=args.port,
            allow_loopback=args.allow_loopback,
            allow_http=args.allow_http,
            time_scale=args.time_scale,
            max_attempts=args.max_attempts,
            webhook_timeout=args.webhook_timeout,
            control=True,
        )
        telegram.start()
    except (ValueError, OSError) as exc:
        print(f"Could not start the emulator: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"FakeTelegram listening on {telegram.api_url} (pid {os.getpid()})", flush=True)
    try:
        while not done.wait(1.0):
            pass
    finally:
        telegram.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
