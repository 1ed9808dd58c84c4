"""Missing or stale variants made on demand: one job per image, however many ask.

A request for a configured variant that a ``done`` image lacks (or has under
an older spec) calls :func:`request_variants`. It enqueues ``make_variants``
for the image unless a job for the same variant set is already on its way:
the first request to set ``imgsvc:variants-wanted:<id>:<signature>`` (Redis
``SET NX``, kept ``ONDEMAND_DEDUP_SECONDS``) enqueues ``variants-<id>``; every
other request, at the same moment or while the job is queued or running, is
told to come back (``VariantPending``: 404 with ``Retry-After``). Once that job
failed, requests are answered ``VariantFailed`` (no ``Retry-After``) until the
failed job expires (``FAILURE_TTL``) and a later request tries again.
"""

from __future__ import annotations

from typing import Any

from rq.job import JobStatus

from imgsvc.errors import ImgsvcError, VariantFailed, VariantPending
from imgsvc.extensions import REDIS_ERRORS, Services
from imgsvc.images.record import LIVE_STATUSES
from imgsvc.images.variantset import signature
from imgsvc.imaging import VariantSpec
from imgsvc.queue import check_room, enqueue_variants, fetch_job, variants_job_id

PENDING_RETRY_AFTER = 2


def wanted_key(image_id: str, set_signature: str) -> str:
    """Redis key held by the request that enqueued the job for this variant set."""
    return f"imgsvc:variants-wanted:{image_id}:{set_signature}"


def variants_status(svc: Services, image_id: str, specs: list[VariantSpec]) -> dict[str, Any]:
    """``{"status": "pending"}`` or ``{"status": "failed", "error": {...}}`` for the
    missing variants of a ``done`` image, enqueueing their job when none is on its
    way (as :func:`request_variants`). A full queue or Redis down: ``pending``
    (nothing enqueued; a later request tries again)."""
    try:
        request_variants(svc, image_id, specs)
    except VariantFailed as failed:
        return {"status": "failed", "error": (failed.details or {}).get("cause", failed.to_dict())}
    except (ImgsvcError, *REDIS_ERRORS):  # pending, a full queue or Redis down: pending
        pass
    return {"status": "pending"}


def request_variants(svc: Services, image_id: str, specs: list[VariantSpec]) -> None:
    """Make sure one job will make the variants ``image_id`` lacks under ``specs``.

    Always raises: ``VariantPending`` (a job is queued or running, or was just
    enqueued), ``VariantFailed`` (the job for this variant set failed; its error
    in ``details``), ``QueueFull`` when the image queue is at its cap, or a
    Redis error for the caller to turn into ``VariantPending``.
    """
    set_signature = signature(specs)
    job = fetch_job(svc.queue, variants_job_id(image_id))
    if job is not None:
        status = job.get_status(refresh=False)
        if status in LIVE_STATUSES:
            raise pending()
        if status == JobStatus.FAILED and (job.meta or {}).get("signature") == set_signature:
            error = (job.meta or {}).get("error") or {
                "code": "internal_error",
                "message": "The job failed.",
            }
            raise VariantFailed.of(error)
    ttl = max(1, svc.config.ONDEMAND_DEDUP_SECONDS)
    if not svc.redis.set(wanted_key(image_id, set_signature), 1, nx=True, ex=ttl):
        raise pending()  # another request enqueued it, or the job just ended
    try:
        check_room(svc.queue, svc.settings)
        if job is not None:
            job.delete()  # an ended run for another set: start over under the same id
        enqueue_variants(svc.queue, image_id, svc.settings, signature=set_signature)
    except BaseException:
        svc.redis.delete(wanted_key(image_id, set_signature))  # let the next request try
        raise
    raise pending()


def pending() -> VariantPending:
    """The answer while a variants job is on its way: 404 ``variant_pending``, ``Retry-After``."""
    error = VariantPending()
    error.retry_after = PENDING_RETRY_AFTER
    return error
