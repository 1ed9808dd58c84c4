"""The running service on loopback, for benchmarks and process-level tests.

:class:`Stack` starts what production runs: gunicorn serving ``run:app``,
``python worker.py`` processes and (unless given one) its own ``redis-server``
without persistence, with images in a folder under ``root``. It waits until
the web server answers ``/healthz`` and every worker has registered, and stops
everything in order on exit (web first, then workers after their current job,
Redis last).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any, TypeVar

import requests
from redis import Redis
from rq import Worker

from benchmarks.cgroups import CpuGroups

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; ``TimeoutError`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} (waited {timeout:.0f} s)")
        time.sleep(interval)


def wait_until_answers(url: str, proc: subprocess.Popen, timeout: float, what: str) -> None:
    """Poll ``url`` until it answers (any status under 500); ``RuntimeError`` if
    ``proc`` exits first, ``TimeoutError`` after ``timeout`` s."""

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited at start")
        try:
            return requests.get(url, timeout=2).status_code < 500
        except requests.ConnectionError:
            return False

    wait_for(answers, timeout, f"{what} did not start")


def gunicorn_command(port: int, app: str = "run:app", workers: int = 2, *extra: str) -> list[str]:
    """The command line of gunicorn serving ``app`` on 127.0.0.1:``port``."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--no-control-socket",
        *extra,
        app,
    ]


def stop_processes(processes: list[subprocess.Popen], timeout: float = 30) -> None:
    """SIGTERM every process still running (workers finish their job), then wait;
    kill one that has not exited after ``timeout`` s."""
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_final(url: str, ids: list[str], timeout: float) -> tuple[dict[str, dict], int]:
    """Poll ``GET /api/images/<id>`` until each is done or failed; (bodies, 5xx count)."""
    final: dict[str, dict] = {}
    server_errors = 0
    session = requests.Session()
    deadline = time.monotonic() + timeout

    def poll(image_id: str) -> tuple[str, int, dict | None]:
        response = session.get(f"{url}/api/images/{image_id}", timeout=30)
        body = response.json() if response.status_code == 200 else None
        return image_id, response.status_code, body

    with ThreadPoolExecutor(4) as pool:
        while len(final) < len(ids) and time.monotonic() < deadline:
            pending = [image_id for image_id in ids if image_id not in final]
            for image_id, status, body in pool.map(poll, pending):
                server_errors += status >= 500
                if body is not None and body["status"] in ("done", "failed"):
                    final[image_id] = body
            if len(final) < len(ids):
                time.sleep(0.2)
    return final, server_errors


def rss_kib(pid: int) -> int:
    """The resident set size of process ``pid`` in KiB (``VmRSS`` in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(f"no VmRSS for pid {pid}")


class Stack:
    """gunicorn + RQ workers (+ redis-server) on loopback, storage in ``root/media``."""

    def __init__(
        self,
        root: Path,
        *,
        redis_url: str | None = None,
        web_workers: int = 4,
        web_threads: int = 1,
        queue_workers: int = 2,
        env: Mapping[str, str] | None = None,
        own_sessions: bool = False,
        cgroups: CpuGroups | None = None,
        front: bool = False,
    ) -> None:
        self.root = Path(root)
        self.media = self.root / "media"
        self.redis_url = redis_url
        self.web_workers, self.web_threads = web_workers, web_threads
        self.queue_workers = queue_workers
        self.extra_env = dict(env or {})
        storage = self.extra_env.get("IMGSVC_STORAGE_URL", "")
        if storage.startswith("s3://"):  # a prefix of its own, as file:// gets root/media:
            # the workers' reconcile would otherwise take up an earlier stack's backlog
            suffix = f"{self.root.name}-{secrets.token_hex(4)}"
            self.extra_env["IMGSVC_STORAGE_URL"] = f"{storage.rstrip('/')}/{suffix}"
        # False: one session, as `imgsvc dev` or one supervisor runs them; True:
        # each process leads its own, as separate service units (imgsvc.priority).
        self.own_sessions = own_sessions
        # Web, Redis and workers each in a cpu cgroup of its own, as service units.
        self.cgroups = cgroups
        # True: nginx (imgsvc.front) on ``url`` before gunicorn on ``app_url``, as
        # `imgsvc dev` and production run them; False: gunicorn on ``url`` itself.
        self.front = front
        self.url = self.app_url = ""
        self.front_proc: subprocess.Popen | None = None
        self.redis_proc: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self._logs: list[IO[Any]] = []

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def images_dir(self) -> Path:
        return self.media / "images"

    def env(self) -> dict[str, str]:
        """The environment of the web and worker processes (no inherited ``IMGSVC_*``)."""
        return {
            **{name: value for name, value in os.environ.items() if not name.startswith("IMGSVC_")},
            "IMGSVC_REDIS_URL": self.redis_url or "",
            "IMGSVC_STORAGE_URL": "file://" + str(self.media),
            "IMGSVC_SECRET_KEY": secrets.token_hex(16),
            "IMGSVC_LOG_LEVEL": "WARNING",
            # Every client here is 127.0.0.1: one client to the limiter.
            "IMGSVC_RATE_LIMIT_UPLOADS": "0",
            "IMGSVC_RATE_LIMIT_WORDCOUNTS": "0",
            **self.extra_env,
        }

    def start(self) -> None:
        """Start Redis (unless given), gunicorn and the workers; wait until all are ready."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.media.mkdir(exist_ok=True)
        if self.redis_url is None:
            self.redis_url = self._start_redis()
        env = self.env()
        port = free_port()
        self.url = self.app_url = f"http://127.0.0.1:{port}"
        if self.front:
            self.front_proc = self._start_front(port, env)
        threads = ["--worker-class", "gthread", "--threads", str(self.web_threads)]
        command = gunicorn_command(
            port, "run:app", self.web_workers, *(threads if self.web_threads > 1 else [])
        )
        self.web = self._spawn(command, env, "web.log", "web")
        self.workers = [
            self._spawn([sys.executable, "worker.py"], env, f"worker-{index}.log", "workers")
            for index in range(self.queue_workers)
        ]
        wait_for(self._web_up, 60, "gunicorn did not answer /healthz")
        wait_for(self._workers_up, 60, "the workers did not register")

    def _start_front(self, app_port: int, env: dict[str, str]) -> subprocess.Popen:
        from imgsvc.config import load_settings
        from imgsvc.front import prepare

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env["IMGSVC_TRUSTED_PROXIES"] = "1"
        folder = self.root / "front"
        settings = load_settings({"FRONT_DIR": str(folder), **self.front_settings()})
        command = prepare(
            settings, listen=f"127.0.0.1:{port}", upstream=f"127.0.0.1:{app_port}", folder=folder
        )
        return self._spawn(command, env, "front.log", "web")

    def front_settings(self) -> dict[str, str]:
        """The stack's ``IMGSVC_FRONT_*`` and size settings, without the prefix."""
        return {
            name.removeprefix("IMGSVC_"): value
            for name, value in self.extra_env.items()
            if name.startswith(("IMGSVC_FRONT_", "IMGSVC_MAX_CONTENT_LENGTH"))
        }

    def front_pids(self) -> list[int]:
        """nginx's master and worker processes."""
        if self.front_proc is None:
            return []
        pid = self.front_proc.pid
        workers = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [pid, *(int(worker) for worker in workers)]

    def _start_redis(self) -> str:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make system installs it)")
        port = free_port()
        folder = self.root / "redis"
        folder.mkdir(exist_ok=True)
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(folder)]
        self.redis_proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, **self._group("redis")
        )
        url = f"redis://127.0.0.1:{port}/0"
        client = Redis.from_url(url)

        def answers() -> bool:
            if self.redis_proc is not None and self.redis_proc.poll() is not None:
                raise RuntimeError("redis-server exited at start")
            try:
                return bool(client.ping())
            except Exception:  # redis.ConnectionError until it listens
                return False

        wait_for(answers, 10, "redis-server did not answer PING")
        return url

    def _spawn(
        self, command: list[str], env: dict[str, str], log: str, role: str
    ) -> subprocess.Popen:
        out = open(self.root / log, "w")  # noqa: SIM115  (closed in stop())
        self._logs.append(out)
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, **self._group(role)
        )

    def _group(self, role: str) -> dict[str, Any]:
        # A process group of its own either way: Ctrl-C reaches only the harness.
        group: dict[str, Any] = (
            {"start_new_session": True} if self.own_sessions else {"process_group": 0}
        )
        if self.cgroups is not None:
            group["preexec_fn"] = self.cgroups.joiner(role)
        return group

    def log(self, name: str) -> str:
        """The tail of one process's log (``web.log``, ``worker-0.log``)."""
        path = self.root / name
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def _web_up(self) -> bool:
        if self.web is not None and self.web.poll() is not None:
            raise RuntimeError("gunicorn exited at start:\n" + self.log("web.log"))
        try:
            return requests.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except requests.RequestException:  # not listening yet, or workers still booting
            return False

    def _workers_up(self) -> bool:
        for index, proc in enumerate(self.workers):
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{self.log(f'worker-{index}.log')}")
        pids = {proc.pid for proc in self.workers}
        registered = {worker.pid for worker in Worker.all(connection=self.redis())}
        return pids <= registered

    def redis(self) -> Redis:
        """A client of the stack's Redis."""
        return Redis.from_url(self.redis_url or "")

    def stop(self) -> None:
        """Stop gunicorn, then the workers (after their current job), then Redis."""
        for group in ([self.front_proc], [self.web], self.workers, [self.redis_proc]):
            stop_processes([proc for proc in group if proc is not None])
        for out in self._logs:
            out.close()
        self._logs.clear()
