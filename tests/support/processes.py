"""Processes: gunicorn's command line, stopping, /proc readings, a long-running worker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.wait import wait_until

ROOT = Path(__file__).resolve().parents[2]  # the repository


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


def rss_kib(pid: int) -> int:
    """The resident set size of process ``pid`` in KiB (``VmRSS`` in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(f"no VmRSS for pid {pid}")


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
        try:
            wait_until(
                lambda: "Listening on" in log.read_text() or not alive(self.proc.pid),
                timeout=30,
                message="worker did not start",
            )
            assert alive(self.proc.pid), log.read_text()
        except BaseException:  # the caller gets no object to stop: leave no process behind
            self.kill_all()
            self.log.close()
            raise

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
