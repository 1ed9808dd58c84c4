"""The worker's CPU priority: resizes yield the CPU to the web processes.

Linux schedules groups before tasks. With autogroup (the default on most
distributions) every session is a group of its own, and a group is shared out
fairly against the others whatever the policies of its tasks. So a worker
under ``SCHED_IDLE`` yields at once only to processes of its own session (as
``imgsvc dev`` runs everything); a worker leading its own session (started by
a supervisor with ``setsid``) also lowers its session's group, or the web
waits for a resize's slice at each of the many wake-ups of an upload (see
docs/performance.md; figures in BENCHMARKS.md, bench-service). Across
cgroups (containers, systemd units with CPU accounting) the same holds for
the cgroup: give the workers' cgroup a low weight (see the README).
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imgsvc.settings import Settings

log = logging.getLogger(__name__)

POLICIES = ("idle", "nice", "normal")
# The lowest priority a session's group can have (weight 15 against 1024).
LOWEST_GROUP_NICE = 19
AUTOGROUP = Path("/proc/self/autogroup")


def lower_priority(settings: Mapping[str, Any]) -> str:
    """Give the CPU to the web processes first; return the policy applied.

    ``WORKER_PRIORITY=idle`` runs the worker (and the work-horses it forks) under
    Linux's ``SCHED_IDLE``: a resize gets a CPU only when no web process wants
    it, so an upload is not slowed by busy workers. ``nice`` (or a platform
    without ``SCHED_IDLE``) lowers it by ``WORKER_NICE``; ``normal`` leaves it.
    A worker that leads its own session also lowers that session's scheduling
    group (:func:`lower_session_group`) to the same level.
    """
    config = Settings(settings)
    wanted = config.WORKER_PRIORITY.lower()
    if wanted not in POLICIES:
        raise ValueError(f"IMGSVC_WORKER_PRIORITY must be idle, nice or normal, not {wanted!r}")
    if wanted == "idle" and hasattr(os, "SCHED_IDLE"):
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
            lower_session_group(LOWEST_GROUP_NICE)
            return "idle"
        except OSError:  # e.g. a container without the right; nice still helps
            log.warning("could not run the worker under SCHED_IDLE; using nice")
    nice = config.WORKER_NICE
    if wanted != "normal" and nice > 0:
        os.nice(nice)
        lower_session_group(min(nice, LOWEST_GROUP_NICE))
        return "nice"
    return "normal"


def lower_session_group(nice: int, timeout: float = 2.0) -> bool:
    """Set the nice level of this process's autogroup, if the group is its own.

    Only a session leader's group is changed: a worker started from a shell
    shares the shell's session (and maybe the web's), which must not be
    slowed. Returns whether the group was lowered. Linux lets an unprivileged
    process change a group at most ten times a second, so ``EAGAIN`` (two
    workers starting together) is retried until ``timeout``.
    """
    if os.getsid(0) != os.getpid() or not AUTOGROUP.exists():
        return False
    deadline = time.monotonic() + timeout
    while True:
        try:
            AUTOGROUP.write_text(str(nice))
            return True
        except OSError as exc:
            if exc.errno != errno.EAGAIN or time.monotonic() > deadline:
                log.warning("could not lower the worker's session group: %s", exc)
                return False
            time.sleep(0.05)
