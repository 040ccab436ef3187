"""A bounded load generator for ``bench_http.py``: wrk when installed, else Python threads.

Every request POSTs one of the sample updates with a fresh ``update_id`` (so deduplication
never answers early) and the secret header. A run lasts ``duration`` seconds.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import math
import multiprocessing
import re
import shutil
import subprocess
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

#: wrk's Lua prints ids with "%.0f": keep them well inside a double's exact integers.
ID_SPACE = 10**9

_WRK_SCRIPT = """\
-- Written by benchmarks/load.py: POST the sample updates, each with a fresh update_id.
local path = %(path)s
local headers = %(headers)s
local bodies = {%(bodies)s}
local count = #bodies
local sent, first = 0, 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  -- ids: the run's own block (args[1]), then this thread's slice of it
  first = tonumber(args[1]) + tid * %(slice)d
end

function request()
  sent = sent + 1
  local body = '{"update_id": ' .. string.format("%%.0f", first + sent) .. bodies[sent %% count + 1]
  return wrk.format("POST", path, headers, body)
end
"""


def _lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    #: non-2xx answers plus connection errors
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


@dataclass(frozen=True)
class Load:
    """What to send: the path, the headers and the update bodies (each with an update_id)."""

    path: str
    headers: dict[str, str]
    bodies: list[bytes]
    connections: int = 32
    threads: int = 2

    def tails(self) -> list[str]:
        """Each body without its update_id: ``, "message": ...}``, for the id to go before."""
        tails = []
        for body in self.bodies:
            update = json.loads(body)
            del update["update_id"]
            tails.append(", " + json.dumps(update)[1:])
        return tails

    def run(self, url: str, duration: float, block: int, *, tool: str | None = None) -> LoadResult:
        """Load ``url`` (``http://host:port``) with ids from ``block`` * :data:`ID_SPACE`."""
        tool = tool or generator()
        if tool == "wrk":
            return self._wrk(url, duration, block)
        return self._python(url, duration, block)

    def _wrk(self, url: str, duration: float, block: int) -> LoadResult:
        text = _WRK_SCRIPT % {
            "path": _lua_string(self.path),
            "headers": "{"
            + ", ".join(f"[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in self.headers.items())
            + "}",
            "bodies": ", ".join(_lua_string(t) for t in self.tails()),
            "slice": ID_SPACE // 100,
        }
        script = Path(_script_dir()) / f"load-{hashlib.sha256(text.encode()).hexdigest()[:12]}.lua"
        if not script.exists():
            script.write_text(text)
        threads = self.threads
        command = [
            "wrk",
            "--threads", str(threads),
            "--connections", str(self.connections),
            "--duration", f"{max(1, math.ceil(duration))}s",
            "--timeout", "10s",
            "--script", str(script),
            url,
            "--", str(block * ID_SPACE),
        ]  # fmt: skip
        started = time.monotonic()
        done = subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=duration + 60
        )
        if done.stderr.strip():  # a broken script makes wrk send plain GETs: refuse that
            raise RuntimeError(f"wrk failed: {done.stderr.strip()}")
        out = done.stdout
        elapsed = time.monotonic() - started
        total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
        if total is None:
            raise RuntimeError(f"Could not read wrk's summary:\n{out}")
        seconds = float(total[2]) / (1000 if total[3] == "ms" else 1)
        errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
        socket_errors = re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
        )
        if socket_errors:
            # A sync worker closes each connection after its answer; wrk counts the close of
            # an idle kept-alive connection as a read error, not a failed request.
            errors += int(socket_errors[1]) + int(socket_errors[3]) + int(socket_errors[4])
        return LoadResult(int(total[1]), seconds or elapsed, errors)

    def _python(self, url: str, duration: float, block: int) -> LoadResult:
        """Bounded threads in two processes (one would be held back by its GIL)."""
        processes = 2
        host, port = url.removeprefix("http://").split(":")
        jobs = [
            (host, int(port), self, duration, block * ID_SPACE + p * ID_SPACE // 2)
            for p in range(processes)
        ]
        # A pool that restarts crashed workers could loop; this one fails instead.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            results = list(
                pool.map(_python_process, *zip(*jobs, strict=True), timeout=duration + 60)
            )
        # Each process times its own load: starting the processes is not part of it.
        elapsed = max(r[2] for r in results)
        return LoadResult(sum(r[0] for r in results), elapsed, sum(r[1] for r in results))


def _python_process(
    host: str, port: int, load: Load, duration: float, first: int
) -> tuple[int, int, float]:
    connections = max(1, load.connections // 2)
    tails = [t.encode() for t in load.tails()]
    counts: list[tuple[int, int]] = []
    started = time.monotonic()
    deadline = started + duration
    lock = threading.Lock()

    def connection(index: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        sent = errors = 0
        base = first + index * (ID_SPACE // 200)
        while time.monotonic() < deadline:
            sent += 1
            body = b'{"update_id": ' + str(base + sent).encode() + tails[sent % len(tails)]
            try:
                conn.request("POST", load.path, body, load.headers)
                answer = conn.getresponse()
                answer.read()
                errors += not 200 <= answer.status < 400
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
        conn.close()
        with lock:
            counts.append((sent, errors))

    workers = [threading.Thread(target=connection, args=(i,)) for i in range(connections)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(duration + 30)
    elapsed = time.monotonic() - started
    return sum(c[0] for c in counts), sum(c[1] for c in counts), elapsed


_SCRIPT_DIR: list[str] = []


def _script_dir() -> str:
    if not _SCRIPT_DIR:
        import tempfile

        _SCRIPT_DIR.append(tempfile.mkdtemp(prefix="bench-http-"))
    return _SCRIPT_DIR[0]


def generator() -> str:
    """``wrk`` when it is on PATH, else ``python`` (slower: ratios come out compressed)."""
    return "wrk" if shutil.which("wrk") else "python"
