"""Job records as clients see them, for both job types, and listings by state.

The one place that reads RQ jobs for display: the API, the ``/jobs`` page,
the word counter and the operators' views (:mod:`imgsvc.stats`) all go through
:func:`job_view` and :func:`jobs_in_state`. Listings cover the image queue and
its word-count queue (``queue.job_queues``). A Redis failure is left to raise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from rq import Queue, get_current_job
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from rq.timeouts import JobTimeoutException
from rq.utils import now

from imgsvc.errors import ImgsvcError
from imgsvc.extensions import text_of
from imgsvc.queue import job_queues

STATES = ("queued", "started", "finished", "failed")
_TYPES = {
    "imgsvc.tasks.process_image": "image",
    "imgsvc.tasks.count_words": "wordcount",
    "imgsvc.tasks.make_variants": "variants",
    "imgsvc.tasks.deliver_webhook": "webhook",
}


def iso(
    value: datetime | None, timespec: Literal["seconds", "milliseconds"] = "milliseconds"
) -> str | None:
    """A UTC time as ISO 8601 ending in ``Z``; ``None`` (a job not there yet) stays ``None``."""
    if value is None:
        return None
    return value.isoformat(timespec=timespec).replace("+00:00", "Z")


def status_name(status: object) -> str | None:
    """An RQ status (a ``JobStatus``/``WorkerStatus`` enum, or text from older RQ) as text."""
    value = getattr(status, "value", status)
    return None if value is None else str(value)


def timed_out(error: BaseException | None) -> bool:
    """Whether ``error`` is RQ's job timeout, or was raised while handling it (a
    decoder or a fetcher may wrap the timeout in an error of its own)."""
    seen = error
    while seen is not None:
        if isinstance(seen, JobTimeoutException):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def ran_out_of_time(job: Job | None, error: BaseException | None) -> bool:
    """Whether a failed attempt of ``job`` ran out of its time budget: RQ's timeout
    is in ``error``'s chain, or the attempt had run ``job.timeout`` seconds when it
    failed (a client library can swallow the timeout and fail later on its own)."""
    if timed_out(error):
        return True
    if job is None or not job.started_at or not job.timeout or job.timeout <= 0:
        return False
    return (now() - job.started_at).total_seconds() >= job.timeout


def note_job_error(error: ImgsvcError) -> bool:
    """Record ``error`` in the running job's meta (either job type); return whether
    this attempt is the last.

    Bad input is never retried: zeroing ``retries_left`` on the running job
    tells the worker not to schedule the retry given at enqueue time.
    """
    job = get_current_job()
    if job is None:
        return True
    if not error.retryable:
        job.retries_left = 0
    job.meta["error"] = error.to_dict()
    job.save_meta()
    return not job.retries_left


def job_error(job: Job, status: str) -> dict[str, str] | None:
    """The ``{"code", "message"}`` of a failed job (from its meta, else its traceback)."""
    if status != "failed":
        return None
    error = (job.meta or {}).get("error")
    if error:
        return error
    latest = job.latest_result()
    last_line = (latest.exc_string or "").strip().splitlines()[-1:] if latest else []
    if last_line and "JobTimeoutException" in last_line[0]:
        return {"code": "timeout", "message": "The job ran past its time limit."}
    return {"code": "internal_error", "message": last_line[0] if last_line else "The job failed."}


def job_view(job: Job) -> dict[str, Any]:
    """The ``GET /api/jobs/<id>`` body: the tutorial's attributes plus type and error."""
    status = status_name(job.get_status(refresh=False)) or "unknown"
    meta = job.meta or {}
    job_type = meta.get("type") or _TYPES.get(job.func_name or "", "other")
    view: dict[str, Any] = {
        "id": job.id,
        "type": job_type,
        "status": status,
        "func_name": job.func_name,
        "args": list(job.args),
        "kwargs": dict(job.kwargs),
        "result": job.return_value() if status == "finished" else None,
        "error": job_error(job, status),
        "enqueued_at": iso(job.enqueued_at),
        "started_at": iso(job.started_at),
        "ended_at": iso(job.ended_at),
        "links": {"self": f"/api/jobs/{job.id}"},
    }
    if job_type == "image" and meta.get("image_id"):
        view["links"]["image"] = f"/images/{meta['image_id']}"
    if job_type == "variants" and meta.get("variants_of"):
        view["links"]["image"] = f"/images/{meta['variants_of']}"
    if meta.get("webhooks"):  # its deliveries: state and attempts (imgsvc.webhooks)
        from imgsvc.webhooks.record import public_view

        view["webhooks"] = public_view(job.connection, f"wordcount:{job.id}")
    if "variants_total" in meta:
        view["progress"] = {"done": meta.get("variants_done", 0), "total": meta["variants_total"]}
    return view


_REGISTRIES = {
    "started": StartedJobRegistry,
    "finished": FinishedJobRegistry,
    "failed": FailedJobRegistry,
}


def _ids_in(queue: Queue, state: str, limit: int) -> list[tuple[float, str]]:
    """(sort key, id) of up to ``limit`` jobs of one queue; larger keys are newer."""
    if state == "queued":  # the queue's order: the next job first
        return [(-float(n), job_id) for n, job_id in enumerate(queue.get_job_ids(0, limit - 1))]
    registry = _REGISTRIES[state](
        queue.name, connection=queue.connection, serializer=queue.serializer
    )
    # Scores are expiry times (or start times): newer jobs have larger ones.
    raw = cast(
        "list[tuple[bytes | str, float]]",  # withscores: (member, score) pairs
        queue.connection.zrevrange(registry.key, 0, limit - 1, withscores=True),
    )
    return [(float(score), registry.parse_job_id(text_of(member))) for member, score in raw]


def job_ids_by_state(queue: Queue, state: str, limit: int = 50) -> list[str]:
    """The ids of up to ``limit`` jobs in ``state`` across the image and word-count
    queues, newest first where RQ keeps an order (queued: image jobs first, in
    the order they will run)."""
    if state not in STATES:
        raise ValueError(f"unknown job state {state!r}")
    found: list[tuple[float, str]] = []
    for each in job_queues(queue):
        found += _ids_in(each, state, limit)
    if state != "queued":
        found.sort(key=lambda pair: pair[0], reverse=True)
    return list(dict.fromkeys(job_id for _key, job_id in found))[:limit]  # one per job


def jobs_in_state(queue: Queue, state: str, limit: int = 50) -> list[dict[str, Any]]:
    """Up to ``limit`` jobs in ``state`` as views, in :func:`job_ids_by_state`'s
    order (jobs that expired meanwhile are skipped)."""
    ids = job_ids_by_state(queue, state, limit)
    if not ids:
        return []
    jobs = Job.fetch_many(ids, connection=queue.connection, serializer=queue.serializer)
    return [job_view(job) for job in jobs if job is not None]


def jobs_by_state(queue: Queue, limit: int = 50) -> dict[str, list[dict[str, Any]]]:
    """Every state's jobs as views (:func:`jobs_in_state`)."""
    return {state: jobs_in_state(queue, state, limit) for state in STATES}
