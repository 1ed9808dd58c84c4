"""The variants job: make what a finished image lacks, from its original.

``make_variants(image_id)`` (RQ path ``imgsvc.tasks.make_variants``) is
enqueued by a request for a missing or stale variant
(:mod:`imgsvc.images.ondemand`) and by ``imgsvc backfill``
(:mod:`imgsvc.images.backfill`). It renders only the configured variants the
manifest lacks or holds under an older spec, stores them under their
versioned keys, and merges them into the manifest (under the image's lock,
``record.update_manifest``): the entries they replace stay served at their old
URLs (``superseded``) until pruned. The specs are the image's own
(``variantset.image_specs``): after a new focal point only the cover crops are
stale, so only they are made. A focal point changed while the job rendered
(a PATCH it could not see: its own request found this job running and
enqueued nothing) is noticed after the merge: the job makes another round
for it, up to ``MAX_ROUNDS``.

Its failures never touch the image's status: the image stays ``done`` with the
variants it has, and the job's error (in its meta) is what requests for the
missing variant are answered with (``variant_failed``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rq import get_current_job
from rq.timeouts import JobTimeoutException

from imgsvc import metrics
from imgsvc.errors import ImageDeleted, ImgsvcError, JobTimeout
from imgsvc.extensions import Services, worker_services
from imgsvc.images import indexes, record, tombstones
from imgsvc.images.jobcost import record_cost
from imgsvc.images.tasks import discard_deleted, put_unless_deleted, render_for, render_options
from imgsvc.images.variantset import image_specs, merge, wanted
from imgsvc.images.variantstore import store_variant
from imgsvc.jobs import note_job_error, ran_out_of_time

log = logging.getLogger(__name__)


@metrics.tracked("variants")
def make_variants(image_id: str) -> dict[str, Any]:
    """Make the configured variants a ``done`` image lacks or has under an older spec.

    Returns ``{"id", "status", "made": [names]}``; an image that is not ``done``
    (its upload's job makes every variant) or lacks nothing returns at once.
    Transient storage faults raise ``StorageUnavailable`` (retried by RQ); bad
    input and running out of ``JOB_TIMEOUT`` fail the job for good. An image
    deleted meanwhile ends it ``deleted``, after removing what it wrote.
    """
    svc = worker_services()
    try:
        return _make_variants(svc, image_id)
    except ImageDeleted:
        return discard_deleted(svc, image_id)
    except JobTimeoutException:
        note_job_error(JobTimeout("Making the variants took longer than allowed."))
        raise
    except ImgsvcError as exc:
        if ran_out_of_time(get_current_job(), exc):
            timeout = JobTimeout("Making the variants took longer than allowed.")
            note_job_error(timeout)
            raise timeout from exc
        if tombstones.is_deleted(svc.redis, image_id):
            return discard_deleted(svc, image_id)
        note_job_error(exc)
        raise


# A focal point changed while a round rendered makes one more round; more
# changes than this during one job are left to the next request or backfill.
MAX_ROUNDS = 3


def _make_variants(svc: Services, image_id: str) -> dict[str, Any]:
    made: set[str] = set()
    status: str | None = "done"
    for _ in range(MAX_ROUNDS):
        status, names = _make_round(svc, image_id)
        if not names:
            break
        made.update(names)
    return {"id": image_id, "status": status, "made": sorted(made)}


def _make_round(svc: Services, image_id: str) -> tuple[str | None, list[str]]:
    """Make what the manifest wants now; its status and the names made (none: nothing
    was wanted)."""
    started = time.perf_counter()
    tombstones.check(svc.redis, image_id)
    manifest = record.read_manifest(svc.storage, image_id)
    specs = image_specs(manifest, svc.config)
    todo = wanted(manifest, specs) if manifest.get("status") == "done" else []
    if not todo:
        return manifest.get("status"), []
    original = svc.storage.get(record.original_key(image_id))
    rendering = render_for(manifest, original, todo, render_options(svc))

    def put(key: str, data: bytes, content_type: str) -> None:
        put_unless_deleted(svc, image_id, key, data, content_type)

    made = {}
    for spec, variant in zip(todo, rendering.variants, strict=True):
        made[spec.name] = store_variant(put, image_id, spec, variant)

    def merge_made(latest: dict[str, Any]) -> bool:
        # Read again under the lock: another variants job (a request's and
        # backfill's) or a PATCH of the focal point may have saved meanwhile. A
        # cover made for a focal point changed since is merged all the same (its
        # object stays referenced, superseded once the next round makes the new one).
        merge(latest, made)
        return True

    latest = record.update_manifest(svc, image_id, merge_made)
    indexes.remember_tile(svc.redis, latest)
    original_info = latest.get("original") or {}
    megapixels = int(original_info.get("width", 0)) * int(original_info.get("height", 0)) / 1e6
    record_cost(svc.redis, time.perf_counter() - started, megapixels)
    return "done", sorted(made)
