"""Rebuild the queue from storage: storage is the system of record.

Every image whose manifest is neither ``done`` nor ``failed`` and that has no
live job (queued, started, scheduled, deferred) is enqueued again. Safe to run
at any time and as often as wanted: jobs are idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from imgsvc import images
from imgsvc.errors import ImgsvcError
from imgsvc.queue import Services, enqueue_image, fetch_job, live_job


@dataclass
class ReconcileReport:
    """What a reconcile pass saw and did."""

    scanned: int = 0
    finished: int = 0
    live: int = 0
    requeued: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def reconcile(svc: Services) -> ReconcileReport:
    """Re-enqueue every unfinished image that has no live job."""
    report = ReconcileReport()
    for image_id in images.list_image_ids(svc.storage):
        report.scanned += 1
        try:
            manifest = images.read_manifest(svc.storage, image_id)
        except ImgsvcError:
            report.unreadable.append(image_id)
            continue
        if manifest.get("status") in images.FINAL_STATUSES:
            report.finished += 1
            continue
        if live_job(svc.queue, image_id) is not None:
            report.live += 1
            continue
        stale = fetch_job(svc.queue, images.job_id_for(image_id))
        if stale is not None:
            stale.delete()  # a failed or lost run: start over under the same id
        enqueue_image(svc.queue, image_id, svc.settings)
        report.requeued.append(image_id)
    return report
