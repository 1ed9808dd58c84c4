"""The whole service on loopback, for benchmarks and process-level tests.

:class:`Stack` starts what production runs: gunicorn serving ``run:app``,
``python worker.py`` processes and (unless given one) its own ``redis-server``
without persistence, with images in a folder under ``root``, optionally behind
the nginx front. It waits until the web server answers ``/healthz`` and every
worker has registered, and stops everything in order on exit (web first, then
workers after their current job, Redis last).

:class:`LiveStack` is the tests' smaller one (gunicorn + one worker on the
test's Redis, settings given whole); :func:`dev_stack` runs ``imgsvc dev``
itself (front, gunicorn, worker, embedded Redis), as ``make run`` does.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import requests
from redis import Redis
from rq import Worker

from imgsvc.redisconn import connect_redis
from tests.support.cgroups import CpuGroups
from tests.support.ports import free_port
from tests.support.processes import ROOT, gunicorn_command, stop_processes
from tests.support.redis import RedisServer
from tests.support.wait import wait_final, wait_for, wait_until


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
        self.redis_server: RedisServer | None = None
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
            **inherited_priority(),
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
        self.redis_server = RedisServer(self.root / "redis", popen=self._group("redis"))
        return self.redis_server.start(timeout=10).url

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
        return connect_redis(self.redis_url or "")

    def stop(self) -> None:
        """Stop gunicorn, then the workers (after their current job), then Redis."""
        redis_proc = self.redis_server.proc if self.redis_server else None
        for group in ([self.front_proc], [self.web], self.workers, [redis_proc]):
            stop_processes([proc for proc in group if proc is not None])
        for out in self._logs:
            out.close()
        self._logs.clear()


def inherited_priority() -> dict[str, str]:
    """The one ``IMGSVC_*`` setting a stack takes from its caller's environment: the
    workers' CPU priority. The test session runs them at ``normal`` (tests/conftest.py
    says why); benchmarks leave it unset and measure the production default."""
    value = os.environ.get("IMGSVC_WORKER_PRIORITY")
    return {"IMGSVC_WORKER_PRIORITY": value} if value else {}


class LiveStack:
    """gunicorn (2 processes) + one ``python worker.py`` with the given settings
    (``IMGSVC_REDIS_URL`` among them: the test's Redis); usable from a module- or
    session-scoped fixture. Start with :meth:`start`, stop with :meth:`stop`;
    ``url`` is the base URL."""

    def __init__(self, folder: Path, settings: dict[str, str], web_workers: int = 2) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.metrics_dir = folder / "prometheus"
        self.metrics_dir.mkdir(parents=True, exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith("IMGSVC_")}
        self.env = {
            **base,
            "IMGSVC_STORAGE_URL": "file://" + str(folder / "media"),
            "IMGSVC_SECRET_KEY": "live-stack-secret",
            "IMGSVC_JOB_RETRY_INTERVALS": "0",
            "IMGSVC_LOG_FORMAT": "json",
            "IMGSVC_LOG_LEVEL": "INFO",
            **inherited_priority(),
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            **settings,
        }
        self.web_workers = web_workers
        self.web_log = folder / "web.log"
        self.worker_log = folder / "worker.log"
        self.processes: list[subprocess.Popen] = []

    def _spawn(self, args: list[str], log: Path) -> subprocess.Popen:
        with open(log, "a") as out:
            proc = subprocess.Popen(
                args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.processes.append(proc)
        return proc

    def start(self) -> LiveStack:
        """Start gunicorn and one worker; return once ``/healthz`` answers 200 and
        the worker has registered in Redis (so a job enqueued next is taken)."""
        web = self._spawn(gunicorn_command(self.port, "run:app", self.web_workers), self.web_log)
        self.worker = self._spawn([sys.executable, "worker.py"], self.worker_log)

        def up() -> bool:
            assert web.poll() is None, self.web_log.read_text()
            self._assert_worker_alive()
            try:
                healthy = requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except (requests.ConnectionError, requests.Timeout):
                return False  # not listening yet, or its processes are still booting
            return healthy and self.worker.pid in self._registered_workers()

        try:
            wait_until(up, timeout=60, message="gunicorn or the worker did not come up")
        except BaseException:
            self.stop()
            raise
        return self

    def _registered_workers(self) -> set[int]:
        with connect_redis(self.env["IMGSVC_REDIS_URL"]) as redis:
            return {worker.pid for worker in Worker.all(connection=redis)}

    def _assert_worker_alive(self) -> None:
        code = self.worker.poll()
        assert code is None, f"the worker exited ({code}):\n{_tail(self.worker_log)}"

    def diagnosis(self) -> str:
        """What a test that waited in vain should print: the worker, the queues, the logs."""
        lines = [f"worker pid {self.worker.pid}, exit code {self.worker.poll()}"]
        try:
            with connect_redis(self.env["IMGSVC_REDIS_URL"]) as redis:
                for worker in Worker.all(connection=redis):
                    lines.append(
                        f"registered worker {worker.name} pid {worker.pid} state "
                        f"{worker.get_state()} queues {worker.queue_names()}"
                    )
                for key in sorted(redis.keys("rq:queue:*")):
                    lines.append(f"{key.decode()}: {redis.llen(key)} job(s)")
        except Exception as exc:  # noqa: BLE001 - a diagnosis must not hide the failure
            lines.append(f"Redis unreadable: {exc!r}")
        lines += ["--- worker log", _tail(self.worker_log), "--- web log", _tail(self.web_log)]
        return "\n".join(lines)

    def stop(self) -> None:
        """SIGTERM everything (workers finish their job), then wait."""
        stop_processes(self.processes)

    def wait_final(self, image_id: str, timeout: float = 90) -> dict:
        """Poll the API until the image is ``done`` or ``failed``; its body. Fails at
        once if the worker exits, and after ``timeout`` with :meth:`diagnosis`."""
        try:
            return wait_final(self.url, image_id, timeout, alive=self._assert_worker_alive)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.diagnosis()}") from None

    def upload(self, data: bytes, filename: str = "photo.jpg") -> dict:
        """POST one file to the API; the 202 body."""
        response = requests.post(
            f"{self.url}/api/images", files={"file": (filename, data)}, timeout=30
        )
        assert response.status_code == 202, response.text
        return response.json()


class DevStack:
    """``imgsvc dev`` running in ``folder``; ``url`` is the front's address."""

    def __init__(self, folder: Path, port: int, proc: subprocess.Popen, log: Path) -> None:
        self.folder, self.port, self.proc, self.log = folder, port, proc, log
        self.url = f"http://127.0.0.1:{port}"

    @property
    def images(self) -> Path:
        return self.folder / "var" / "media" / "images"

    def refusals(self) -> str:
        path = self.folder / "var" / "front" / "refusals.log"
        return path.read_text() if path.exists() else ""

    def upload(self, data: bytes) -> str:
        response = requests.post(
            f"{self.url}/api/images", files={"file": ("a.jpg", data, "image/jpeg")}, timeout=10
        )
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def wait_done(self, image_id: str, timeout: float = 60) -> dict:
        """Poll the API until the image is ``done`` (``failed`` fails); its body."""
        return wait_final(self.url, image_id, timeout, failed_ok=False)


@contextmanager
def dev_stack(folder: Path, settings: dict[str, str]) -> Iterator[DevStack]:
    """Start ``imgsvc dev`` with ``settings`` (``IMGSVC_*``); stop it with Ctrl-C after."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMGSVC_")}
    env.update({"IMGSVC_LOG_LEVEL": "WARNING", "IMGSVC_RATE_LIMIT_UPLOADS": "0", **settings})
    log = folder / "dev.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "imgsvc", "dev", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    stack = DevStack(folder, port, proc, log)
    try:

        def healthy() -> bool:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                return requests.get(f"{stack.url}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, timeout=60, message="imgsvc dev did not come up")
        yield stack
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(log: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' if there is none)."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
