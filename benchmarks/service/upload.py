"""Upload latency: while every worker is busy, with none, and resized in the request."""

from __future__ import annotations

import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.service.client import busy_workers, post
from tests.support.cgroups import CgroupError, CpuGroups
from tests.support.percentiles import nearest_rank
from tests.support.ports import free_port
from tests.support.processes import ROOT, gunicorn_command
from tests.support.stack import Stack
from tests.support.wait import wait_for, wait_until_answers

WARM_UP_ROUNDS = 3


def warm_up(url: str, photo: bytes, processes: int, path: str = "/api/images") -> None:
    """Rounds of ``processes`` concurrent uploads, so that every web process (each takes
    one request at a time) has served a few: the timed uploads then measure the
    steady state, not a process's first request (imports, first faults)."""
    with ThreadPoolExecutor(processes) as pool:
        for _ in range(WARM_UP_ROUNDS):
            for _, response in pool.map(lambda _: post(url, photo, path), range(processes)):
                assert response.status_code in (201, 202), response.text


def busy_upload_latencies(
    root: Path,
    photo: bytes,
    env: dict[str, str],
    samples: int,
    own_sessions: bool = False,
    cgroups: CpuGroups | None = None,
    front: bool = False,
) -> dict:
    """Upload latencies while both workers resize a backlog; which workers were busy.

    ``own_sessions``: every process leads its own session (separate service
    units) rather than sharing one (``imgsvc dev``, one supervisor).
    ``cgroups``: web, Redis and workers each in a cpu cgroup of their own.
    ``front``: through the front (nginx), as ``make run`` and production serve it.
    """
    stack = Stack(
        root, queue_workers=2, env=env, own_sessions=own_sessions, cgroups=cgroups, front=front
    )
    with stack:
        warm_up(stack.url, photo, stack.web_workers)  # and a backlog for the workers
        wait_for(lambda: busy_workers(stack) == 2, 60, "workers never got busy")
        latencies, busy_seen = [], []
        for _ in range(samples):
            elapsed, response = post(stack.url, photo)
            assert response.status_code == 202, response.text
            latencies.append(elapsed)
            busy_seen.append(busy_workers(stack))
        # No need to wait for the backlog: the workers stop after their current job.
    both = busy_seen.count(2)
    return {"latency": latencies, "busy": f"both after {both} of {len(busy_seen)} uploads"}


def measure_upload_latency(root: Path, photo: bytes, env: dict[str, str], samples: int) -> dict:
    """Uploads while every worker is busy (workers under SCHED_IDLE in the web's session,
    in sessions of their own, then only niced), uploads with no worker running, and the
    synchronous baseline."""
    idle = busy_upload_latencies(root / "busy-idle", photo, {**env, **_PRIORITY["idle"]}, samples)
    fronted = busy_upload_latencies(
        root / "busy-front", photo, {**env, **_PRIORITY["idle"]}, samples, front=True
    )
    own = busy_upload_latencies(
        root / "busy-own-sessions", photo, {**env, **_PRIORITY["idle"]}, samples, True
    )
    nice = busy_upload_latencies(root / "busy-nice", photo, {**env, **_PRIORITY["nice"]}, samples)
    units = _in_cgroups(root, photo, {**env, **_PRIORITY["idle"]}, samples)
    in_memory = None
    if Path("/dev/shm").is_dir() and "IMGSVC_STORAGE_URL" not in env:
        # The same, with storage and Redis on tmpfs: what the disk's share is.
        with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="bench-service-") as shm:
            in_memory = busy_upload_latencies(Path(shm), photo, env, samples)
    with Stack(root / "unloaded", queue_workers=0, env=env) as stack:
        warm_up(stack.url, photo, stack.web_workers)
        unloaded = [post(stack.url, photo)[0] for _ in range(samples)]
    sync = []
    port = free_port()
    # The same storage as the queued uploads, in a place of its own.
    storage_url = env.get("IMGSVC_STORAGE_URL", "").replace("/service", "/sync")
    sync_env = {**os.environ, **env, "IMGSVC_STORAGE_URL": storage_url or f"file://{root}/sync"}
    proc = subprocess.Popen(
        gunicorn_command(
            port, "benchmarks.service.sync_app:app", SYNC_WEB_WORKERS, "--timeout", "120"
        ),
        cwd=ROOT,
        env=sync_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_answers(url + "/", proc, 30, "the sync baseline")
        warm_up(url, photo, SYNC_WEB_WORKERS, "/sync")
        for _ in range(samples):  # as many as the queued uploads: p99 against p99
            elapsed, response = post(url, photo, "/sync")
            assert response.status_code == 201, response.text
            sync.append(elapsed)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    fast, slow = percentiles95(idle["latency"]), percentiles95(sync)
    return {
        "upload_async": fast,
        "upload_async_through_front": percentiles95(fronted["latency"]),
        "upload_async_own_sessions": percentiles95(own["latency"]),
        "upload_async_workers_niced": percentiles95(nice["latency"]),
        **units,
        "upload_no_worker_running": percentiles95(unloaded),
        "upload_async_storage_on_tmpfs": percentiles95(in_memory["latency"]) if in_memory else None,
        "upload_sync_baseline": slow,
        "workers_busy_during_uploads": idle["busy"],
        "ratio_sync_over_async_p50": round(slow["p50"] / fast["p50"], 1),
        "ratio_sync_over_async_p99": round(slow["p99"] / fast["p99"], 1),
    }


def _in_cgroups(root: Path, photo: bytes, env: dict[str, str], samples: int) -> dict:
    """Busy uploads with web and workers in cgroups of their own (service units),
    the workers' cgroup idle and then light; nothing where cgroups cannot be made."""
    if not CpuGroups.available():
        return {}
    figures = {}
    for weight in ("idle", "light"):
        try:
            with CpuGroups(weight) as groups:
                busy = busy_upload_latencies(
                    root / f"busy-cgroup-{weight}", photo, env, samples, True, groups
                )
        except CgroupError as exc:  # e.g. a container's cgroup that may not have children
            print(f"no cgroup rows: {exc}", flush=True)
            return {}
        figures[f"upload_async_cgroup_{weight}"] = percentiles95(busy["latency"])
    return figures


SYNC_WEB_WORKERS = 2
_PRIORITY = {
    "idle": {"IMGSVC_WORKER_PRIORITY": "idle"},
    "nice": {"IMGSVC_WORKER_PRIORITY": "nice", "IMGSVC_WORKER_NICE": "10"},
}


def percentiles95(values: list[float]) -> dict[str, float]:
    """p50, p95, p99 (nearest rank) and max of ``values`` (seconds), in ms to 0.1 ms."""
    ordered = sorted(values)
    ms = {f"p{p}": round(nearest_rank(ordered, p) * 1000, 1) for p in (50, 95, 99)}
    return {**ms, "max": round(ordered[-1] * 1000, 1)}
