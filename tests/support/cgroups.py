"""CPU cgroups for the benchmark stack: web and workers as separate service units.

A systemd unit or a container runs its processes in a cgroup of its own, and
Linux shares the CPU out between cgroups before it looks at a task's policy:
the workers' ``SCHED_IDLE`` then only ranks them inside their own cgroup. What
lets the web take the CPU at once is the workers' cgroup itself being idle
(``cpu.idle = 1``, what systemd's ``CPUWeight=idle`` sets) or light
(``cpu.shares = 2``, what docker compose's ``cpu_shares: 2`` sets).
:class:`CpuGroups` builds that layout (as root, cgroup v1 or v2) so the
benchmark measures it rather than the README guessing.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

ROLES = ("web", "redis", "workers")
# How the workers' cgroup is weighed against the others.
WORKER_SETTINGS = {
    "idle": {"v1": ("cpu.idle", "1"), "v2": ("cpu.idle", "1")},
    "light": {"v1": ("cpu.shares", "2"), "v2": ("cpu.weight", "1")},
}


class CgroupError(RuntimeError):
    """The cgroups could not be made here."""


def cpu_hierarchy() -> tuple[Path, str] | None:
    """(mount point, "v1" or "v2") of a cpu controller this process may manage."""
    for v1 in (Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup/cpu,cpuacct")):
        if (v1 / "cpu.idle").exists() and os.access(v1, os.W_OK):
            return v1, "v1"
    v2 = Path("/sys/fs/cgroup")
    enabled = v2 / "cgroup.subtree_control"  # cpu handed down to child cgroups
    has_cpu = enabled.exists() and "cpu" in enabled.read_text().split()
    if has_cpu and os.access(v2, os.W_OK):
        return v2, "v2"
    return None


class CpuGroups:
    """A cgroup per role (web, redis, workers) under one of the benchmark's own;
    the workers' one weighed by ``workers`` (``idle`` or ``light``)."""

    def __init__(self, workers: str = "idle") -> None:
        found = cpu_hierarchy()
        if found is None:
            raise CgroupError("no cpu cgroup controller this process may manage (needs root)")
        self.mount, self.version = found
        self.workers = workers
        self.base = self.mount / f"imgsvc-bench-{secrets.token_hex(4)}"

    @staticmethod
    def available() -> bool:
        """Whether cgroups can be made here (root, a cpu controller with ``cpu.idle``)."""
        return cpu_hierarchy() is not None

    def __enter__(self) -> CpuGroups:
        try:
            self.base.mkdir()
            if self.version == "v2":
                (self.base / "cgroup.subtree_control").write_text("+cpu")
            for role in ROLES:
                (self.base / role).mkdir()
            name, value = WORKER_SETTINGS[self.workers][self.version]
            (self.base / "workers" / name).write_text(value)
        except OSError as exc:
            self.__exit__()
            raise CgroupError(f"could not make cgroups under {self.mount}: {exc}") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        # The stack has stopped its processes by now; a zombie may linger a moment.
        deadline = time.monotonic() + 10
        for role in ROLES:
            while True:
                try:
                    (self.base / role).rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY: a process still in it
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        with contextlib.suppress(OSError):
            self.base.rmdir()

    def joiner(self, role: str) -> Callable[[], None]:
        """A ``preexec_fn`` that moves the new process into ``role``'s cgroup before it
        execs, so everything it forks (gunicorn's workers, RQ's work-horses) is in it."""
        procs = self.base / role / "cgroup.procs"

        def join() -> None:
            procs.write_text(str(os.getpid()))

        return join
