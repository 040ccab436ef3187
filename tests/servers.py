"""Real servers for tests, on 127.0.0.1: redis-server, gunicorn and nginx.

Each helper starts a process in its own session (so its signals never reach pytest), waits
until it serves, and stops it by its own pid: SIGTERM, then SIGKILL if it lingers. Every wait
is bounded. Logs go to files beside the test's temporary directory, and a failed start
raises with the log's tail in the message.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

HOST = "127.0.0.1"
#: gunicorn from the same virtualenv as the tests.
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
START_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    predicate: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.02
) -> None:
    """Poll ``predicate`` until it is true; ``TimeoutError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise TimeoutError(f"Gave up after {timeout} s waiting for {what}.")
        time.sleep(interval)


def accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


def children(pid: int) -> list[int]:
    """Pids of the live processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # it exited while we looked
        # The command name is in parentheses and may hold spaces: parse after the last ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


class ServerProcess:
    """A started server process, its log file and its port."""

    def __init__(
        self,
        name: str,
        command: list[str],
        log_path: Path,
        port: int,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        self.command = command
        with log_path.open("ab") as log:
            self.process: subprocess.Popen[bytes] = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_ready(self, ready: Callable[[], bool], timeout: float = START_TIMEOUT) -> None:
        """Wait until ``ready()``; raise with the log's tail if the process died or never was."""
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.alive() or time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.name} did not start ({' '.join(self.command)}); its log ends:\n"
                    + self.log()[-3000:]
                )
            time.sleep(0.02)

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.pid, signum)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL; the exit status."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
        return self.process.wait(5)


class RedisServer(ServerProcess):
    """redis-server on a free port, no persistence, data in a temporary directory.

    :param password: asked of clients (``requirepass``) when given.
    """

    def __init__(
        self, directory: Path, port: int | None = None, password: str | None = None
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        port = port or free_port()
        self.password = password
        command = [
            "redis-server",
            "--bind", HOST,
            "--port", str(port),
            "--dir", str(directory),
            "--save", "",
            "--appendonly", "no",
            "--protected-mode", "yes",
            "--loglevel", "warning",
            *(["--requirepass", password] if password else []),
        ]  # fmt: skip
        super().__init__("redis-server", command, directory / "redis.log", port)
        self.directory = directory
        self.wait_ready(self.pings)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{HOST}:{self.port}/0"

    def pings(self) -> bool:
        """Whether it answers (a password-protected one answers PING with NOAUTH)."""
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def restart(self) -> RedisServer:
        """A new redis-server on the same port (empty: nothing is saved)."""
        self.stop()
        return RedisServer(self.directory, self.port, self.password)


def _no_control_socket() -> list[str]:
    # Newer gunicorns open a control socket in $HOME, one path for every instance: tests
    # running several must not share (or delete) one another's.
    from gunicorn.config import Config

    return ["--no-control-socket"] if "control_socket_disable" in Config().settings else []


_NO_CONTROL_SOCKET = _no_control_socket()


class Gunicorn(ServerProcess):
    """gunicorn with sync workers serving ``app`` (``module:variable``) on a free port.

    :param chdir: the directory to import ``app`` from.
    :param env: extra environment variables for the master and its workers.
    :param args: more gunicorn options.
    """

    def __init__(
        self,
        app: str,
        *,
        chdir: Path,
        log_dir: Path,
        workers: int = 2,
        env: dict[str, str] | None = None,
        args: Iterable[str] = (),
        name: str = "gunicorn",
    ) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.workers = workers
        command = [
            GUNICORN,
            "--bind", f"{HOST}:{port}",
            "--workers", str(workers),
            "--worker-class", "sync",
            "--chdir", str(chdir),
            "--log-level", "info",
            *_NO_CONTROL_SOCKET,
            *args,
            app,
        ]  # fmt: skip
        full_env = {**os.environ, **(env or {})}
        super().__init__(name, command, log_dir / f"{name}.log", port, env=full_env)
        self.wait_ready(self.serving)

    def serving(self) -> bool:
        """The port accepts and every worker has booted."""
        return accepts(self.port) and len(self.worker_pids()) >= self.workers

    def worker_pids(self) -> list[int]:
        return children(self.pid)

    def reload(self) -> None:
        """``kill -HUP``: new workers, old ones finish what they are doing and exit."""
        self.signal(signal.SIGHUP)


class Nginx(ServerProcess):
    """nginx on a free port, proxying round-robin to ``upstreams`` (ports on 127.0.0.1).

    It adds the client's address to ``X-Forwarded-For`` as a production config does, and
    never replays a request on another upstream (the sender retries, as Telegram does).
    """

    def __init__(self, upstreams: Iterable[int], directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        port = free_port()
        servers = "\n".join(f"server {HOST}:{p} max_fails=0;" for p in upstreams)
        http = f"""
                access_log off;
                upstream app {{ {servers} }}
                server {{
                    listen {HOST}:{port};
                    client_max_body_size 4m;
                    location / {{
                        proxy_pass http://app;
                        proxy_http_version 1.1;
                        proxy_set_header Host $host;
                        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                        proxy_next_upstream off;
                        proxy_read_timeout 60s;
                    }}
                }}
        """
        super().__init__("nginx", nginx_command(directory, http), directory / "nginx.log", port)
        self.wait_ready(lambda: accepts(port))


def nginx_command(directory: Path, http: str) -> list[str]:
    """Write nginx.conf in ``directory`` around ``http`` (the http block's body); the command."""
    temp = "\n".join(
        f"{kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the temp dirs
    config = f"""
        {user}
        daemon off;
        worker_processes 1;
        pid {directory / "nginx.pid"};
        error_log {directory / "error.log"} warn;
        events {{ worker_connections 512; }}
        http {{
            {temp}
            {http}
        }}
    """
    conf = directory / "nginx.conf"
    conf.write_text(config)
    return [nginx_binary(), "-p", str(directory), "-c", str(conf), "-e", "stderr"]


def nginx_binary() -> str:
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    return "nginx"  # on PATH, or the start fails with the reason


class NginxSite(ServerProcess):
    """nginx serving ``site`` (a config for nginx's ``http`` block, e.g. ``flask tg
    nginx-config``'s output) as Debian's ``sites-enabled`` would, listening on ``port``."""

    def __init__(self, site: str, port: int, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "site.conf").write_text(site)
        command = nginx_command(directory, f"include {directory / 'site.conf'};")
        super().__init__("nginx", command, directory / "nginx.log", port)
        self.wait_ready(lambda: accepts(port))
