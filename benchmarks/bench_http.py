"""Every performance ratio of the project in one run, over real HTTP where it matters.

    .venv/bin/python benchmarks/bench_http.py [--duration 2] [--updates 100000] [--json out.json]

1. Throughput under gunicorn (sync x2 and gthread 2x4) on 127.0.0.1, loaded by wrk (a bounded
   Python generator when wrk is missing): 32 connections, four updates of 0.7-1 KB
   (``samples.py``) with the secret header and a fresh ``update_id`` on every request. Rows:
   a bare WSGI callable; the same parsing the body inside a Flask app context (the least the
   fast path must do); a bare Flask ``get_json()`` route; our default path and our fast path
   (``TELEGRAM_FAST_PATH``, when this version has it), each with the default store and again
   with ``memory://`` (the store's share, in the same run). Every row's server runs at once; each
   round measures every row back to back, so a slow spell of the machine hits all of them;
   a ratio is the median of three rounds' ratios against the bare Flask route, and the
   spread is their range. Targets: default >= 0.95x, fast path >= 1.4x.
2. In process (``bench_webhook.py``): the route through WSGI, and parse + dispatch against
   ``json.loads`` plus a dict lookup, for its short update and for the four samples
   (target for the samples: <= 1.3x the time).
3. ``import flask_tgwebhook`` against ``import flask``: medians of 10 fresh interpreters each,
   interleaved (target <= 1.3x).
4. A single sync worker's RSS at rest and after ``--updates`` updates, against a bare Flask
   worker in the same state (targets: at rest <= +5 MiB, after the load <= +15 MiB).

It exits non-zero when a target is missed; CI runs it (``.ci/run``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]  # the tests package, for its server helpers

import bench_webhook  # noqa: E402
import samples  # noqa: E402
import tg_apps  # noqa: E402
from load import Load, LoadResult, generator  # noqa: E402

from tests.servers import Gunicorn  # noqa: E402

MiB = 1024 * 1024
ROUNDS = 3
IMPORT_RUNS = 10
BASELINE = "bare Flask get_json route"
DEFAULT = "flask_tgwebhook default path"
FAST = "flask_tgwebhook fast path"
#: Reference rows: what the fast path must do at least, and ours without the store's writes.
FLOOR = "bare parse in an app context"
DEFAULT_MEMORY = "default path, memory store"
FAST_MEMORY = "fast path, memory store"
ROWS = {
    "bare WSGI callable": "bare_apps:bare_wsgi",
    FLOOR: "bare_apps:make_parse_in_app_context()",
    BASELINE: "bare_apps:make_flask()",
    DEFAULT: "tg_apps:make_tg()",
    DEFAULT_MEMORY: "tg_apps:make_tg_memory()",
    FAST: "tg_apps:make_fast()",
    FAST_MEMORY: "tg_apps:make_fast_memory()",
}
#: The rows the memory phase measures: the baseline and ours with the default settings.
MEMORY_ROWS = [BASELINE, DEFAULT, FAST]
PRESETS = {
    "sync x2": ["--worker-class", "sync"],
    "gthread 2x4": ["--worker-class", "gthread", "--threads", "4"],
}
TARGETS = {DEFAULT: 0.95, FAST: 1.4}
DISPATCH_TARGET = 1.3  # the time of json.loads plus a dict lookup
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    rates: list[float] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)


def serve(
    app: str,
    name: str,
    work: Path,
    *,
    checkout: Path = HERE.parent,
    workers: int = 2,
    args: list[str] | None = None,
) -> Gunicorn:
    """gunicorn serving ``app`` from ``checkout``'s ``benchmarks`` folder, with that
    checkout's package on ``PYTHONPATH`` and an instance folder of its own under ``work``."""
    instance = work / "instance" / name
    instance.mkdir(parents=True, exist_ok=True)
    return Gunicorn(
        app,
        chdir=checkout / "benchmarks",
        log_dir=work / "logs",
        workers=workers,
        # Bytecode caches on, as for installed packages: compiling every module from
        # source in each worker would cost memory that production does not pay.
        env={
            "BENCH_INSTANCE": str(instance),
            "PYTHONPATH": str(checkout),
            "PYTHONDONTWRITEBYTECODE": "",
        },
        args=[*(args or []), "--backlog", "2048"],
        name=name,
    )


class Bench:
    def __init__(self, work: Path, duration: float) -> None:
        self.work = work
        self.duration = duration
        self.load = Load(
            tg_apps.WEBHOOK_PATH,
            {
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": tg_apps.SECRET,
            },
            samples.sample_bodies(),
        )
        self.blocks = iter(range(1, 90_000))  # one id block per load run: ids never repeat
        self.blocks_lock = threading.Lock()

    def serve(self, name: str, workers: int, args: list[str]) -> Gunicorn:
        return serve(ROWS[name], name.replace(" ", "-"), self.work, workers=workers, args=args)

    def run(self, server: Gunicorn, duration: float) -> LoadResult:
        with self.blocks_lock:
            block = next(self.blocks)
        result = self.load.run(server.url, duration, block)
        if result.errors:
            raise RuntimeError(
                f"{server.name} answered {result.errors} of {result.requests} requests with an "
                f"error; its log ends:\n{server.log()[-2000:]}"
            )
        return result

    def throughput(self, preset: str, names: list[str]) -> dict[str, Row]:
        rows = {name: Row() for name in names}
        with ExitStack() as stack:
            servers = {}
            for name in names:
                servers[name] = self.serve(name, 2, PRESETS[preset])
                stack.callback(servers[name].stop)
            for server in servers.values():
                self.run(server, 1)  # warm up: imports on first use, connection pools
            for round_ in range(ROUNDS):
                order = names[round_ % len(names) :] + names[: round_ % len(names)]
                for name in order:
                    before = cpu_ticks(servers[name])
                    result = self.run(servers[name], self.duration)
                    ticks = cpu_ticks(servers[name]) - before
                    rows[name].rates.append(result.rate)
                    rows[name].cpu_us.append(ticks / CLOCK_TICK * 1e6 / result.requests)
                for name in names:
                    rows[name].ratios.append(rows[name].rates[-1] / rows[BASELINE].rates[-1])
        return rows

    def memory(
        self, names: list[str], updates: int, seconds: float
    ) -> dict[str, tuple[float, float, int]]:
        """Each row's single sync worker: RSS at rest, then after ``updates`` updates (and
        how many were sent: fewer when ``seconds`` ran out first). The rows are loaded at
        the same time: memory does not depend on speed, and the run takes a third as long."""
        with ExitStack() as stack:
            servers = {}
            for name in names:
                servers[name] = self.serve(name, 1, ["--worker-class", "sync"])
                stack.callback(servers[name].stop)
            workers = {name: server.worker_pids()[0] for name, server in servers.items()}
            for server in servers.values():
                at_rest_request(server)  # the app is loaded: a 404, not an update
            at_rest = {name: rss(pid) for name, pid in workers.items()}
            deadline = time.monotonic() + seconds
            with ThreadPoolExecutor(len(names)) as pool:
                sent = dict(
                    zip(
                        names,
                        pool.map(lambda n: self.load_until(servers[n], updates, deadline), names),
                        strict=True,
                    )
                )
            return {n: (at_rest[n], rss(workers[n]), sent[n]) for n in names}

    def load_until(self, server: Gunicorn, updates: int, deadline: float) -> int:
        """Load ``server`` in slices of at most 10 s, sized from the rate so far, until it
        had ``updates`` requests or ``deadline`` passed; how many it had."""
        sent, rate = 0, 0.0
        while sent < updates and time.monotonic() < deadline:
            left = updates - sent
            seconds = min(10, max(1, math.ceil(left / rate))) if rate else 1
            result = self.run(server, seconds)
            sent += result.requests
            rate = result.rate
        return sent


def at_rest_request(server: Gunicorn) -> None:
    """GET a path nobody serves: the worker has loaded the app once it answers."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", "/not-the-webhook")
        status = conn.getresponse().status
    finally:
        conn.close()
    if status != 404:
        raise RuntimeError(f"{server.name} answered {status} to a GET of an unknown path.")


def cpu_ticks(server: Gunicorn) -> int:
    """User + system CPU ticks of the server's workers so far."""
    total = 0
    for pid in server.worker_pids():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def rss(pid: int) -> float:
    """Resident set size of ``pid`` in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024.0
    raise RuntimeError(f"No VmRSS for process {pid}.")


def import_times() -> tuple[float, float]:
    """Median seconds of ``import flask`` and ``import flask_tgwebhook`` in fresh interpreters."""
    code = "import time; t = time.perf_counter(); import {}; print(time.perf_counter() - t)"
    times: dict[str, list[float]] = {"flask": [], "flask_tgwebhook": []}
    # Bytecode caches on, as for any installed package (flask's were written at install):
    # the first run of each writes them and warms the file cache, and is not counted.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for index in range(IMPORT_RUNS + 1):
        for module in times:
            out = subprocess.run(
                [sys.executable, "-c", code.format(module)],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
                env=env,
            ).stdout
            if index:
                times[module].append(float(out))
    return statistics.median(times["flask"]), statistics.median(times["flask_tgwebhook"])


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--updates", type=int, default=100_000, help="updates before the RSS")
    parser.add_argument(
        "--memory-seconds",
        type=float,
        default=300.0,
        help="at most this long for the updates of the memory phase (it reports how many)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--report-only", action="store_true", help="exit 0 even when a target is missed"
    )
    args = parser.parse_args(argv)

    fast = tg_apps.fast_path_available()
    names = [n for n in ROWS if fast or n not in (FAST, FAST_MEMORY)]
    tool = generator()
    sizes = sorted(len(b) for b in samples.sample_bodies())
    print(f"load: {tool}, 32 connections, updates of {sizes} bytes")
    if tool != "wrk":
        print("  (wrk is not installed: the Python generator compresses the ratios)")
    met = True
    report: dict[str, Any] = {"generator": tool, "throughput": {}}
    with temporary() as work:
        bench = Bench(work, args.duration)
        for preset in PRESETS:
            rows = bench.throughput(preset, names)
            report["throughput"][preset] = {n: vars(r) for n, r in rows.items()}
            print(
                f"\n{preset}: req/s (median of {ROUNDS}), x bare Flask (median, spread), CPU us/req"
            )
            for name, row in rows.items():
                ratio = statistics.median(row.ratios)
                target = TARGETS.get(name)
                ok = target is None or ratio >= target
                met &= ok
                print(
                    f"  {name:32} {statistics.median(row.rates):9,.0f}  {ratio:5.2f}x"
                    f" ({spread(row.ratios)})  {statistics.median(row.cpu_us):6.0f}"
                    + (f"  target >= {target}x {'ok' if ok else 'MISSED'}" if target else "")
                )
        if FAST not in names:
            print("  (no TELEGRAM_FAST_PATH in this version: the fast path row is left out)")

        print("\nin process:")
        bench_webhook.bench_route()
        bench_webhook.bench_dispatch()
        dispatch = bench_webhook.bench_dispatch(samples.sample_bodies(), DISPATCH_TARGET)
        ok = dispatch <= DISPATCH_TARGET
        met &= ok
        print(f"  parse + dispatch of the samples: {'ok' if ok else 'MISSED'}")
        report["dispatch_ratio"] = dispatch

        flask_s, ours_s = import_times()
        ratio = ours_s / flask_s
        met &= ratio <= 1.3
        report["import"] = {"flask": flask_s, "flask_tgwebhook": ours_s}
        print(
            f"\nimport: flask_tgwebhook {ours_s * 1e3:.0f} ms vs flask {flask_s * 1e3:.0f} ms"
            f" (medians of {IMPORT_RUNS}) -> {ratio:.2f}x (target <= 1.3x)"
        )

        memory_rows = [n for n in MEMORY_ROWS if n in names]
        memory = bench.memory(memory_rows, args.updates, args.memory_seconds)
        report["rss"] = memory
        base_rest, base_after, _ = memory[BASELINE]
        print("\nworker RSS (one sync worker), at rest and after the updates:")
        for name, (rest, after, sent) in memory.items():
            line = f"  {name:32} {rest / MiB:6.1f} MiB  {after / MiB:6.1f} MiB ({sent:,} updates)"
            met &= sent >= args.updates
            if name != BASELINE:
                extra_rest, extra_after = (rest - base_rest) / MiB, (after - base_after) / MiB
                ok = extra_rest <= 5 and extra_after <= 15
                met &= ok
                line += (
                    f"  (+{extra_rest:.1f} / +{extra_after:.1f} MiB over bare Flask;"
                    f" targets +5 / +15: {'ok' if ok else 'MISSED'})"
                )
            print(line)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print("\ntargets met" if met else "\nTARGETS MISSED")
    return 0 if met or args.report_only else 1


@contextmanager
def temporary() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="bench-http-") as name:
        yield Path(name)


if __name__ == "__main__":
    sys.exit(main())
