"""Rebuild the queue from storage: storage is the system of record.

Every image whose manifest is neither ``done`` nor ``failed`` and that has no
live job (queued, started, scheduled, deferred) is enqueued again. Safe to run
at any time and as often as wanted: jobs are idempotent.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from redis.exceptions import LockError
from rq.job import JobStatus

from imgsvc import images
from imgsvc.errors import ImgsvcError
from imgsvc.queue import LIVE_STATUSES, Services, enqueue_image, fetch_job

# Image folders listed at a time (two S3 LIST pages; one scan of a folder on disk).
LIST_BATCH = 2000
# Redis keys of the workers' periodic pass: one slice at a time, where the
# pass has got to, and "the last pass ended less than an interval ago".
SLICE_LOCK = "imgsvc:reconcile-lock"
CURSOR = "imgsvc:reconcile-cursor"
RESTING = "imgsvc:reconcile-resting"


@dataclass
class ReconcileReport:
    """What a reconcile pass saw and did."""

    scanned: int = 0
    finished: int = 0
    live: int = 0
    requeued: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    resume_after: str = ""  # the last image seen when a budget stopped the pass


def reconcile(
    svc: Services, *, start_after: str = "", budget: float | None = None
) -> ReconcileReport:
    """Re-enqueue every unfinished image that has no live job, in id order after
    ``start_after``.

    Without ``budget`` the pass goes to the end. With it, the pass stops at the
    first image after ``budget`` seconds; ``report.resume_after`` then names the
    last image it saw (the next call's ``start_after``). It is empty once a pass
    has reached the end. Storage is listed ``LIST_BATCH`` images at a time.
    """
    report = ReconcileReport()
    deadline = None if budget is None else time.monotonic() + budget
    cursor = start_after
    while names := svc.storage.list_children("images/", start_after=cursor, limit=LIST_BATCH):
        for name in names:
            cursor = name
            if images.is_image_id(name):
                report.scanned += 1
                _reconcile_image(svc, name, report)
            if deadline is not None and time.monotonic() >= deadline:
                report.resume_after = cursor
                return report
    return report


def _reconcile_image(svc: Services, image_id: str, report: ReconcileReport) -> None:
    # Redis first: a live or finished job answers without reading storage (on S3
    # a GET per image), so a pass costs storage reads only for older images.
    job = fetch_job(svc.queue, images.job_id_for(image_id))
    status = job.get_status(refresh=False) if job is not None else None
    if status in LIVE_STATUSES:
        report.live += 1
        return
    if status == JobStatus.FINISHED:  # the job saved the manifest done, then returned
        report.finished += 1
        return
    try:
        manifest = images.read_manifest(svc.storage, image_id)
    except ImgsvcError:
        report.unreadable.append(image_id)
        return
    if manifest.get("status") in images.FINAL_STATUSES:
        report.finished += 1
        return
    if job is not None:
        job.delete()  # a failed or lost run: start over under the same id
    enqueue_image(svc.queue, image_id, svc.settings)
    report.requeued.append(image_id)


def periodic_slice(svc: Services) -> ReconcileReport | None:
    """One slice of the workers' periodic pass, if one is due; what it did.

    A pass runs every ``RECONCILE_INTERVAL`` seconds (counted from the end of
    the last one) as slices of at most ``RECONCILE_SLICE_SECONDS``, one per
    worker maintenance tick: a worker never stops taking jobs for longer,
    however many images storage holds. One worker at a time works on a slice
    (a Redis lock), and the pass's place is kept in Redis, so any worker
    continues it. None when no slice was due or another worker holds the lock.
    """
    interval = int(svc.settings["RECONCILE_INTERVAL"])
    if interval <= 0:
        return None
    budget = float(svc.settings["RECONCILE_SLICE_SECONDS"])
    redis = svc.redis
    # Outlives any slice (one image past the budget): never two slices at once.
    lock = redis.lock(SLICE_LOCK, timeout=max(60.0, budget * 10), blocking=False)
    if not lock.acquire():
        return None
    try:
        cursor = redis.get(CURSOR)
        if cursor is None and redis.exists(RESTING):
            return None
        report = reconcile(svc, start_after=(cursor or b"").decode(), budget=budget)
        with redis.pipeline() as pipe:
            if report.resume_after:
                pipe.set(CURSOR, report.resume_after)
            else:  # the pass is complete: rest for an interval
                pipe.delete(CURSOR)
                pipe.set(RESTING, 1, ex=interval)
            pipe.execute()
        return report
    finally:
        with contextlib.suppress(LockError):  # expired: another worker may hold it now
            lock.release()
