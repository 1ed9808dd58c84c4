"""What operators look at: queue depth per state, workers, recent failures.

Shared by ``imgsvc stats``, the ``/ops`` page and the metrics' queue gauges;
each covers the image queue and its word-count queue (``queue.job_queues``).
Counts are read straight from RQ's sorted sets, so looking never changes
anything (RQ's own ``count`` properties clean registries up as a side effect).
Jobs are read and shown as :mod:`imgsvc.jobs` shows them. A Redis failure is
left to raise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis import Redis
from rq import Queue, Worker

from imgsvc.jobs import iso, jobs_in_state, status_name
from imgsvc.queue import job_queues

REGISTRIES = ("started", "scheduled", "deferred", "failed", "finished")


def queue_counts(redis: Redis, names: Iterable[str] = ()) -> dict[str, dict[str, int]]:
    """``{queue: {"queued": n, "started": n, ...}}`` for every known queue and ``names``."""
    queues = {queue.name: queue for queue in Queue.all(connection=redis)}
    for name in names:
        queues.setdefault(name, Queue(name, connection=redis))
    counts: dict[str, dict[str, int]] = {}
    for name in sorted(queues):
        queue = queues[name]
        states = {"queued": int(redis.llen(queue.key))}
        for state in REGISTRIES:
            registry = getattr(queue, f"{state}_job_registry")
            states[state] = int(redis.zcard(registry.key))
        counts[name] = states
    return counts


def worker_rows(redis: Redis) -> list[dict[str, Any]]:
    """Every registered worker: name, host, pid, state, current job, queues, counts."""
    rows = []
    for worker in sorted(Worker.all(connection=redis), key=lambda w: w.name):
        state = worker.get_state()
        rows.append(
            {
                "name": worker.name,
                "hostname": worker.hostname,
                "pid": worker.pid,
                "state": status_name(state) or "unknown",
                "current_job": worker.get_current_job_id(),
                "queues": worker.queue_names(),
                "successful": worker.successful_job_count,
                "failed": worker.failed_job_count,
                "last_heartbeat": iso(worker.last_heartbeat, "seconds"),
            }
        )
    return rows


def recent_failures(queue: Queue, limit: int = 10) -> list[dict[str, Any]]:
    """The latest failed jobs of both queues (newest first) with their error code and message."""
    return jobs_in_state(queue, "failed", limit)


def snapshot(queue: Queue, failures: int = 10) -> dict[str, Any]:
    """Everything at once, as ``imgsvc stats --json`` and ``/ops.json`` show it."""
    redis = queue.connection
    return {
        "queues": queue_counts(redis, [each.name for each in job_queues(queue)]),
        "workers": worker_rows(redis),
        "failures": recent_failures(queue, failures),
    }
