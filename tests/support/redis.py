"""A private ``redis-server`` on loopback: the one launcher of the tests and benchmarks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from redis import Redis

from tests.support.ports import free_port
from tests.support.wait import wait_for


class RedisServer:
    """``redis-server`` in ``folder`` on a free port, without RDB snapshots; with
    ``appendonly``, an AOF synced on every write, so it can be stopped and
    started again (:meth:`stop`, :meth:`start`) with its data. ``popen`` is
    passed to ``subprocess.Popen`` (a process group, a cgroup); ``args`` are
    more command-line options (``["--replicaof", "127.0.0.1", "6379"]``)."""

    def __init__(
        self,
        folder: Path,
        *,
        appendonly: bool = False,
        popen: dict[str, Any] | None = None,
        args: list[str] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.appendonly = appendonly
        self.popen = popen or {}
        self.args = list(args or [])
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> RedisServer:
        """Start it; return once it answers PING (``RuntimeError`` if it exits first)."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make system installs it)")
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--dir", str(self.folder)]
        if self.appendonly:
            command += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            command += ["--appendonly", "no"]
        command += self.args
        self.proc = proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, **self.popen)
        client = Redis.from_url(self.url)

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError("redis-server exited at start")
            try:
                return bool(client.ping())
            except Exception:  # redis.ConnectionError until it listens
                return False

        try:
            wait_for(answers, timeout, "redis-server did not answer PING")
        finally:
            client.close()
        return self

    def kill(self) -> None:
        """SIGKILL it (a machine dying: nothing flushed, no goodbye to replicas)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=timeout)
