"""Process and Redis plumbing for the fault-injection tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from redis import Redis

from tests.support import free_port, wait_until

ROOT = Path(__file__).resolve().parents[1]


def children(pid: int) -> set[int]:
    """The direct child processes of ``pid`` (Linux /proc)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found.update(int(c) for c in (task / "children").read_text().split())
    return found


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def is_horse(pid: int) -> bool:
    """RQ's work-horse leads its own process group (os.setpgrp after the fork)."""
    try:
        return int(_stat(pid)[2]) == pid
    except (OSError, IndexError, ValueError):
        return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used."""
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class WorkerProcess:
    """A long-running ``python worker.py`` and its work-horses."""

    def __init__(self, env: dict[str, str], log: Path, own_session: bool = True) -> None:
        self.log_path = log
        self.log = open(log, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            **({"start_new_session": True} if own_session else {"process_group": 0}),
        )
        wait_until(
            lambda: "Listening on" in log.read_text() or not alive(self.proc.pid),
            timeout=30,
            message="worker did not start",
        )
        assert alive(self.proc.pid), log.read_text()

    def horse(self, timeout: float = 30) -> int:
        """Wait for the work-horse of the current job; its pid."""
        return wait_until(
            lambda: next((p for p in children(self.proc.pid) if is_horse(p)), None),
            timeout=timeout,
            interval=0.005,
            message="no work-horse appeared",
        )

    def kill_all(self) -> None:
        """SIGKILL the worker, its horse and its scheduler at once (a machine dying)."""
        for pid in children(self.proc.pid) | {self.proc.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill_all()
        self.log.close()


class RedisProcess:
    """A redis-server of the test's own, with AOF, that can be stopped and restarted."""

    def __init__(self, folder: Path, appendonly: bool = True) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.appendonly = appendonly
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "yes" if self.appendonly else "no",
                "--appendfsync",
                "always",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = Redis.from_url(self.url)

        def up() -> bool:
            try:
                return bool(client.ping())
            except Exception:
                return False

        wait_until(up, timeout=20, message="redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
