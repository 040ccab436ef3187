"""Answer latency with a slow handler, per executor, over real HTTP under gunicorn.

    .venv/bin/python benchmarks/bench_executors.py [--updates 20] [--handler 2.0]

For each executor (``inline``, ``thread``, ``celery`` with a real Celery worker and
redis-server as its broker), a gunicorn with 2 sync workers serves ``tests/apps/executor_app.py``
on the default SQLite store. Updates go one after another, each to a chat of its own, first
with a handler that returns at once, then with one that takes ``--handler`` seconds; the
answer's latency is timed on the client. With a background executor the latency must stay
flat: the 95th percentile with the slow handler is at most a quarter of the handler's time
(target), while ``inline`` shows what Telegram would wait without one. Exits non-zero when a
target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import HOST, RedisServer  # noqa: E402
from tests.test_executors import CeleryWorker, message, post, serve, warm_up  # noqa: E402


def latencies(port: int, text: str, updates: int, first_id: int) -> list[float]:
    """Answer times of ``updates`` updates sent one after another, each to its own chat."""
    times = []
    for n in range(updates):
        status, took = post(port, message(text, update_id=first_id + n, chat_id=first_id + n))
        if status != 200:
            raise SystemExit(f"update {first_id + n} was answered {status}")
        times.append(took)
    return times


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def measure(kind: str, directory: Path, updates: int, handler: float) -> tuple[float, float]:
    """(p95 with an instant handler, p95 with the slow one), in seconds."""
    redis = worker = None
    env = {"TELEGRAM_EXECUTOR": kind, "TELEGRAM_PROCESSING_TIMEOUT": "30"}
    if kind == "celery":
        redis = RedisServer(directory / "redis")
        env["CELERY_BROKER_URL"] = f"redis://{HOST}:{redis.port}/0"
    server = serve(directory, env)
    try:
        if kind == "celery":
            worker = CeleryWorker(directory, env)
        warm_up(server)
        fast = latencies(server.port, "slow 0", updates, 1000)
        slow = latencies(server.port, f"slow {handler}", updates, 2000)
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
        if redis is not None:
            redis.stop()
    return p95(fast), p95(slow)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--handler", type=float, default=2.0)
    args = parser.parse_args(argv)
    missed = False
    print(f"answer latency, p95 of {args.updates} updates, handler of {args.handler:g} s:")
    for kind in ("inline", "thread", "celery"):
        with tempfile.TemporaryDirectory() as directory:
            fast, slow = measure(kind, Path(directory), args.updates, args.handler)
        target = "" if kind == "inline" else f" (target <= {args.handler / 4:.2f} s)"
        flat = kind == "inline" or slow <= args.handler / 4
        missed |= not flat
        print(
            f"  {kind:<7} instant handler {fast * 1000:7.1f} ms, slow handler "
            f"{slow * 1000:7.1f} ms{target}{'' if flat else '  MISSED'}"
        )
    print("TARGETS MISSED" if missed else "targets met")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
