"""Rebuild the queue from storage: storage is the system of record.

Every image whose manifest is neither ``done`` nor ``failed`` and that has no
live job (queued, started, scheduled, deferred) is enqueued again. Safe to run
at any time and as often as wanted: jobs are idempotent.

A pass lists the keys under ``images/``: an image with its settled marker
(written after its final manifest) needs nothing more, so a pass costs one
listing request per ~100 images plus a look at each unsettled one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from redis.exceptions import LockError

from imgsvc.errors import ImgsvcError, NotFound
from imgsvc.extensions import Services, text_of
from imgsvc.images import record
from imgsvc.queue import enqueue_image
from imgsvc.storage import Storage

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
    discarded: list[str] = field(default_factory=list)  # abandoned uploads, removed
    resume_after: str = ""  # the last image seen when a budget stopped the pass


def reconcile(
    svc: Services, *, start_after: str = "", budget: float | None = None
) -> ReconcileReport:
    """Re-enqueue every unfinished image that has no live job, in id order after
    ``start_after``.

    Without ``budget`` the pass goes to the end. With it, the pass stops at the
    first image after ``budget`` seconds; ``report.resume_after`` then names the
    last image it saw (the next call's ``start_after``). It is empty once a pass
    has reached the end. Keys are listed as the pass goes (on S3, a LIST page of
    1,000 keys at a time).
    """
    report = ReconcileReport()
    deadline = None if budget is None else time.monotonic() + budget
    for image_id, names in _image_folders(svc.storage, start_after):
        report.scanned += 1
        if record.SETTLED in names:
            report.finished += 1
        else:
            _reconcile_image(svc, image_id, names, report)
        if deadline is not None and time.monotonic() >= deadline:
            report.resume_after = image_id
            return report
    return report


def _image_folders(storage: Storage, start_after: str) -> Iterator[tuple[str, set[str]]]:
    """(id, names of its objects) of each image after ``start_after``, in id order."""
    after = f"images/{start_after}/~" if start_after else ""  # "~": after its every key
    current, names = "", set[str]()
    for key in storage.iter_keys("images/", start_after=after):
        _, image_id, name = (key.split("/", 2) + [""])[:3]
        if image_id != current:
            if record.is_image_id(current):
                yield current, names
            current, names = image_id, set()
        names.add(name)
    if record.is_image_id(current):
        yield current, names


def _reconcile_image(
    svc: Services, image_id: str, names: set[str], report: ReconcileReport
) -> None:
    # Not settled. Redis first: a live or finished job answers without reading
    # storage (on S3 a GET per image); only the rest cost a manifest read. The
    # image record is the one place that asks RQ about an image's job.
    found = record.image_job(svc.queue, image_id)
    if found is not None and found.live:
        report.live += 1
        return
    if found is not None and found.finished:  # it saved the manifest done, then returned
        report.finished += 1
        return
    try:
        manifest = record.read_manifest(svc.storage, image_id)
    except NotFound:  # no manifest: an upload that never finished storing, or a
        _discard_if_abandoned(svc, image_id, names, report)  # half-done delete
        return
    except ImgsvcError:  # corrupt, or storage failing: leave it for a person
        report.unreadable.append(image_id)
        return
    if manifest.get("status") in record.FINAL_STATUSES:
        record.mark_settled(svc, image_id)  # lost, or from before markers: the next
        report.finished += 1  # pass needs no read
        return
    if found is not None:
        found.job.delete()  # a failed or lost run: start over under the same id
    enqueue_image(svc.queue, image_id, svc.settings)
    report.requeued.append(image_id)


def _discard_if_abandoned(
    svc: Services, image_id: str, names: set[str], report: ReconcileReport
) -> None:
    """Delete a folder without a manifest once its objects are older than
    ``ABANDONED_AFTER_SECONDS``: its upload was never answered with an id (the
    manifest is stored before the answer), so nobody can ask for it. A younger
    one may be an upload still being stored, and is left alone."""
    after = svc.config.ABANDONED_AFTER_SECONDS
    if after <= 0:  # kept for good
        report.unreadable.append(image_id)
        return
    try:
        newest = max(
            svc.storage.head(f"{record.prefix(image_id)}{name}").modified for name in names
        )
    except ImgsvcError:  # gone meanwhile, or storage failing: the next pass decides
        report.unreadable.append(image_id)
        return
    if time.time() - newest < after:
        report.unreadable.append(image_id)
        return
    svc.storage.delete_prefix(record.prefix(image_id))
    report.discarded.append(image_id)


def periodic_slice(svc: Services) -> ReconcileReport | None:
    """One slice of the workers' periodic pass, if one is due; what it did.

    A pass runs every ``RECONCILE_INTERVAL`` seconds (counted from the end of
    the last one) as slices of at most ``RECONCILE_SLICE_SECONDS``, one per
    worker maintenance tick: a worker never stops taking jobs for longer,
    however many images storage holds. One worker at a time works on a slice
    (a Redis lock), and the pass's place is kept in Redis, so any worker
    continues it. None when no slice was due or another worker holds the lock.
    """
    interval = svc.config.RECONCILE_INTERVAL
    if interval <= 0:
        return None
    budget = svc.config.RECONCILE_SLICE_SECONDS
    redis = svc.redis
    # Outlives any slice (one image past the budget): never two slices at once.
    lock = redis.lock(SLICE_LOCK, timeout=max(60.0, budget * 10), blocking=False)
    if not lock.acquire():
        return None
    try:
        cursor = redis.get(CURSOR)
        if cursor is None and redis.exists(RESTING):
            return None
        report = reconcile(svc, start_after=text_of(cursor or b""), budget=budget)
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
