"""Before and after, over real HTTP: this checkout's default path against another checkout's.

    git worktree add /tmp/before <revision>
    .venv/bin/python benchmarks/compare_http.py /tmp/before [--rounds 4] [--duration 3] [--gthread]

Serves ``tg_apps:make_tg()`` (the default settings: the SQLite store in an instance folder of
its own) from each checkout, each with its own package on ``PYTHONPATH`` and this
environment's gunicorn and Flask, beside the bare Flask ``get_json()`` route; two workers
each, all at once. Each round loads the three back to back with ``bench_http.py``'s load (wrk
when installed, 32 connections, the sample updates, fresh ids), so a slow spell of the
machine hits a whole round. Prints each round's rates, and after / before and after / bare
Flask per round.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import samples
import tg_apps
from bench_http import serve  # puts this checkout on sys.path, for the tests' server helpers
from load import Load, generator

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("before", type=Path, help="the other checkout (git worktree add ...)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--gthread", action="store_true", help="gthread, 4 threads per worker")
    args = parser.parse_args(argv)
    if not (args.before / "benchmarks" / "tg_apps.py").exists():
        parser.error(f"{args.before} has no benchmarks/tg_apps.py: give a checkout of the project")
    preset = ["--worker-class", "gthread", "--threads", "4"] if args.gthread else []
    load = Load(
        tg_apps.WEBHOOK_PATH,
        {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": tg_apps.SECRET},
        samples.sample_bodies(),
    )
    blocks = itertools.count(1)  # one id block per load run: ids never repeat
    print(f"load: {generator()}, {'gthread 2x4' if args.gthread else 'sync x2'}")
    with tempfile.TemporaryDirectory(prefix="compare-http-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        rows = {
            "before": (args.before.resolve(), "tg_apps:make_tg()"),
            "after": (HERE.parent, "tg_apps:make_tg()"),
            "bare": (HERE.parent, "bare_apps:make_flask()"),
        }
        servers = {}
        for name, (checkout, app) in rows.items():
            servers[name] = serve(app, name, work, checkout=checkout, args=preset)  # started
            stack.callback(servers[name].stop)
        for server in servers.values():
            load.run(server.url, 1, next(blocks))  # warm up: imports, first connections
        for round_ in range(1, args.rounds + 1):
            rates = {}
            for name, server in servers.items():
                result = load.run(server.url, args.duration, next(blocks))
                if result.errors:
                    raise RuntimeError(f"{name} answered {result.errors} requests with an error")
                rates[name] = result.rate
            print(
                f"round {round_}: before {rates['before']:,.0f} req/s, after "
                f"{rates['after']:,.0f}, bare Flask {rates['bare']:,.0f}; after/before "
                f"{rates['after'] / rates['before']:.2f}x, after/bare "
                f"{rates['after'] / rates['bare']:.2f}x, before/bare "
                f"{rates['before'] / rates['bare']:.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
