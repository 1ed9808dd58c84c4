"""The image job: ``process_image(image_id)``, and the failure paths that end an image.

An image uploaded from a URL is fetched first (:mod:`imgsvc.images.fromurl`);
a final image is announced to its webhook receivers (:mod:`imgsvc.webhooks`).

RQ runs it under its stable path ``imgsvc.tasks.process_image`` (see
:mod:`imgsvc.tasks`). It takes the image id only and raises on failure;
settings come from the environment and the storage client is made once per
process (:func:`imgsvc.extensions.worker_services`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from rq import get_current_job
from rq.timeouts import JobTimeoutException

from imgsvc import metrics
from imgsvc.config import csv_list
from imgsvc.errors import ImageDeleted, ImgsvcError, InvalidImage, JobTimeout, WorkerCrashed
from imgsvc.extensions import REDIS_ERRORS, Services, worker_services
from imgsvc.images import failures, fromurl, indexes, record, tombstones
from imgsvc.images.variantset import focus_of, image_specs, merge
from imgsvc.images.variantstore import store_formats, store_variant
from imgsvc.imaging import (
    EncodeOptions,
    Rendering,
    VariantSpec,
    parse_extra_formats,
    render_extras,
    render_image,
)
from imgsvc.imaging.animation import AnimationLimits
from imgsvc.imaging.smartcrop import parse_crop
from imgsvc.imaging.structure import StructureLimits
from imgsvc.jobs import note_job_error, ran_out_of_time
from imgsvc.webhooks.events import image_ended

log = logging.getLogger(__name__)


@metrics.tracked("image")
def process_image(image_id: str) -> dict[str, Any]:
    """Make every variant of an image, store them, and mark the manifest ``done``.

    Running it twice writes the same objects under the same keys. Bad input
    ends the job (and the manifest) ``failed`` without retries; so does running
    out of ``JOB_TIMEOUT`` (``timeout``). Transient storage faults raise
    ``StorageUnavailable`` so RQ retries with backoff. An image deleted before
    or during the job ends it ``finished`` with status ``deleted``, after it
    removed whatever it wrote (:mod:`imgsvc.images.tombstones`).
    """
    svc = worker_services()
    try:
        return _process_image(svc, image_id)
    except ImageDeleted:
        return discard_deleted(svc, image_id)
    except JobTimeoutException as exc:
        _record_failure(svc, image_id, JobTimeout(f"Processing took longer than allowed: {exc}"))
        raise
    except ImgsvcError as exc:
        # The decoder may wrap RQ's timeout as bad input, and a storage client may
        # swallow it and fail later: either way the job's time has run out.
        if ran_out_of_time(get_current_job(), exc):
            timeout = JobTimeout("Processing took longer than allowed.")
            _record_failure(svc, image_id, timeout)
            raise timeout from exc
        if tombstones.is_deleted(svc.redis, image_id):  # it failed because it was deleted
            return discard_deleted(svc, image_id)
        _record_failure(svc, image_id, exc)
        raise


def discard_deleted(svc: Services, image_id: str) -> dict[str, Any]:
    """Remove what a job of a deleted image may have written after the delete."""
    svc.storage.delete_prefix(record.prefix(image_id))
    record.uncache_manifest(svc, image_id)
    try:
        indexes.forget_tile(svc.redis, image_id)
    except REDIS_ERRORS:
        log.warning("could not drop the gallery tile of deleted image %s", image_id)
    return {"id": image_id, "status": "deleted"}


def put_unless_deleted(
    svc: Services, image_id: str, key: str, data: bytes, content_type: str
) -> None:
    """Store one object of the image unless it was deleted, before or meanwhile
    (``ImageDeleted``: the caller discards the image)."""
    tombstones.check(svc.redis, image_id)
    svc.storage.put(key, data, content_type)
    tombstones.check(svc.redis, image_id)


def _process_image(svc: Services, image_id: str) -> dict[str, Any]:
    config, storage = svc.config, svc.storage
    tombstones.check(svc.redis, image_id)
    manifest = record.read_manifest(storage, image_id)
    if manifest.get("status") in record.FINAL_STATUSES:  # a retry after the job had ended:
        storage.delete_prefix(record.settled_key(image_id))  # not settled while it runs
    manifest.update(status="processing", error=None)
    put_unless_deleted(
        svc,
        image_id,
        record.manifest_key(image_id),
        record.manifest_bytes(manifest),
        "application/json",
    )

    if fromurl.needs_fetch(manifest):  # an upload from a URL: fetched by its job
        manifest = fromurl.fetch_original(svc, manifest)
    original = storage.get(record.original_key(image_id))
    specs = image_specs(manifest, config)
    render = render_options(svc)
    options: EncodeOptions = render["options"]
    rendering = render_for(
        manifest, original, specs, render, defer_extras=bool(options.extra_formats)
    )

    def put(key: str, data: bytes, content_type: str) -> None:
        put_unless_deleted(svc, image_id, key, data, content_type)

    variants: dict[str, Any] = {}
    for spec, variant in zip(specs, rendering.variants, strict=True):
        variants[variant.name] = store_variant(put, image_id, spec, variant)
        _report_progress(len(variants), len(rendering.variants))

    if rendering.outputs:  # extra formats: the primaries are served while they are made
        merge(manifest, variants)
        manifest["extras"] = "pending"
        record.save_manifest_unless_deleted(svc, manifest)
        for spec, variant in zip(specs, render_extras(rendering, options), strict=True):
            variants[variant.name]["formats"] = store_formats(put, image_id, spec, variant)
        manifest.pop("extras", None)

    merge(manifest, variants)  # a render replaced by another spec keeps its URL (superseded)
    manifest.update(
        status="done",
        error=None,
        placeholder=rendering.placeholder.to_dict(),
        metadata=rendering.metadata,
        animation=rendering.animation,
        processed_at=record.now_iso(),
    )
    record.save_manifest_unless_deleted(svc, manifest)
    indexes.remember_tile(svc.redis, manifest)
    image_ended(svc, manifest)
    return {"id": image_id, "status": "done", "variants": sorted(variants)}


def render_for(
    manifest: dict[str, Any],
    original: bytes,
    specs: list[VariantSpec],
    render: dict[str, Any],
    **extra: Any,
) -> Rendering:
    """Render ``specs`` from the image's ``original`` with ``render`` (from
    :func:`render_options`) and the upload's focal point. A failure that is not
    one of ours (Pillow raises many types on hostile input) is ``InvalidImage``."""
    try:
        return render_image(original, specs, focus=focus_of(manifest), **render, **extra)
    except (ImgsvcError, JobTimeoutException):
        raise
    except Exception as exc:
        raise InvalidImage(f"The image could not be processed: {exc}") from exc


def render_options(svc: Services) -> dict[str, Any]:
    """The keyword arguments of ``render_image`` from the settings: formats, limits,
    encoders, crop and animation (the upload's job and the variants job render alike)."""
    config = svc.config
    return {
        "allowed_formats": csv_list(config.ALLOWED_FORMATS),
        "max_pixels": config.MAX_IMAGE_PIXELS,
        "limits": StructureLimits.from_settings(svc.settings),
        "options": EncodeOptions(
            jpeg_quality=config.JPEG_QUALITY,
            webp_quality=config.WEBP_QUALITY,
            webp_method=config.WEBP_METHOD,
            extra_webp_method=config.EXTRA_WEBP_METHOD,
            transparent_format=config.TRANSPARENT_FORMAT,
            extra_formats=parse_extra_formats(config.EXTRA_FORMATS),
            avif_quality=config.AVIF_QUALITY,
            avif_speed=config.AVIF_SPEED,
        ),
        "crop": parse_crop(config.CROP),
        "animation": AnimationLimits(config.MAX_ANIMATED_FRAMES, config.MAX_ANIMATED_PIXELS)
        if config.ANIMATED
        else None,
    }


def _report_progress(done: int, total: int) -> None:
    job = get_current_job()
    if job is not None:
        job.meta.update(variants_done=done, variants_total=total)
        job.save_meta()


def on_job_failure(job: Any, connection: Any, exc_type: type, exc_value: Any, tb: Any) -> None:
    """RQ failure callback: gives jobs lost with a dead worker a reason.

    Errors raised inside the job are recorded by the job itself; this only
    handles ``AbandonedJobError``, which RQ's registry cleanup reports for a
    job whose worker (work-horse and parent) disappeared mid-run.
    """
    if exc_type is not None and exc_type.__name__ == "AbandonedJobError":
        # RQ leaves an abandoned run without an end; with one, a retry that the
        # scheduler enqueues later goes to the front (Retry(enqueue_at_front=True)
        # applies to jobs that ran), as a retry enqueued at once does.
        job.ended_at = datetime.now(UTC)
        record_crash(job, "The worker stopped while running this job (killed or lost); retried.")


def record_timeout(job: Any) -> None:
    """Fail ``job`` for good as ``timeout``, and its image too, unless the job
    recorded its timeout itself (see :mod:`imgsvc.worker`)."""
    job.retries_left = 0
    job.get_meta(refresh=True)
    if (job.meta.get("error") or {}).get("code") == JobTimeout.code:
        return
    error = JobTimeout("The job ran past its time limit and was stopped.")
    job.meta["error"] = error.to_dict()
    job.save_meta()
    image_id = job.meta.get("image_id")
    if image_id:
        _mark_failed(worker_services(), image_id, error)


def record_crash(job: Any, reason: str) -> None:
    """Note a crash on ``job``; once it has no retries left, fail its image too."""
    error = WorkerCrashed(reason)
    job.get_meta(refresh=True)
    job.meta["error"] = error.to_dict()
    job.save_meta()
    image_id = (job.meta or {}).get("image_id")
    if image_id and not job.retries_left:
        _mark_failed(worker_services(), image_id, error)


def _record_failure(svc: Services, image_id: str, error: ImgsvcError) -> None:
    """Note the error on the job; on the last attempt, mark the manifest failed."""
    if note_job_error(error):
        _mark_failed(svc, image_id, error)


def _mark_failed(svc: Services, image_id: str, error: ImgsvcError) -> None:
    """Save the manifest ``failed`` with ``error``, unless the image was deleted."""
    try:
        tombstones.check(svc.redis, image_id)
        manifest = record.read_manifest(svc.storage, image_id)
        manifest.update(status="failed", error=error.to_dict(), processed_at=record.now_iso())
        record.save_manifest_unless_deleted(svc, manifest)
        indexes.remember_tile(svc.redis, manifest)
        failures.remember_failed(svc, manifest)
        image_ended(svc, manifest)
    except ImageDeleted:
        discard_deleted(svc, image_id)
    except ImgsvcError as exc:  # storage down: the API reads the job's error instead
        log.warning("could not mark image %s failed: %s", image_id, exc)
