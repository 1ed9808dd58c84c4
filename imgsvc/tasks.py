"""RQ job functions. They take plain arguments (ids, URLs) and raise on failure.

A worker started by ``worker.py`` or by plain ``rq worker`` imports this
module; settings come from the environment (:func:`imgsvc.config.load_settings`)
and the storage client is made once per process.
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from typing import Any

from PIL import Image
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from imgsvc import images, indexes, metrics, tombstones
from imgsvc.config import csv_list, load_settings
from imgsvc.errors import ImageDeleted, ImgsvcError, InvalidImage, JobTimeout, WorkerCrashed
from imgsvc.extensions import REDIS_ERRORS, Services
from imgsvc.fetch import FetchLimits, fetch_page
from imgsvc.imaging import (
    EncodeOptions,
    RenderedVariant,
    parse_extra_formats,
    parse_variants,
    render_extras,
    render_image,
)
from imgsvc.imaging.animation import AnimationLimits
from imgsvc.imaging.structure import StructureLimits
from imgsvc.jobs import ran_out_of_time
from imgsvc.netguard import Guard
from imgsvc.settings import parse_settings
from imgsvc.wordcount import Deadline, WordCountTimeout, count_words_in

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def services() -> Services:
    """This process's settings and storage (built on first use).

    Raises ``SettingsError`` for a setting of the wrong type: ``imgsvc worker``
    checked them at start, a plain ``rq worker`` does here, at its first job.
    """
    config = parse_settings(load_settings())
    Image.MAX_IMAGE_PIXELS = config.MAX_IMAGE_PIXELS
    return Services(config.values)


@metrics.tracked("image")
def process_image(image_id: str) -> dict[str, Any]:
    """Make every variant of an image, store them, and mark the manifest ``done``.

    Running it twice writes the same objects under the same keys. Bad input
    ends the job (and the manifest) ``failed`` without retries; so does running
    out of ``JOB_TIMEOUT`` (``timeout``). Transient storage faults raise
    ``StorageUnavailable`` so RQ retries with backoff. An image deleted before
    or during the job ends it ``finished`` with status ``deleted``, after it
    removed whatever it wrote (:mod:`imgsvc.tombstones`).
    """
    svc = services()
    try:
        return _process_image(svc, image_id)
    except ImageDeleted:
        return _discard(svc, image_id)
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
            return _discard(svc, image_id)
        _record_failure(svc, image_id, exc)
        raise


def _discard(svc: Services, image_id: str) -> dict[str, Any]:
    """Remove what a job of a deleted image may have written after the delete."""
    svc.storage.delete_prefix(images.prefix(image_id))
    images.uncache_manifest(svc, image_id)
    try:
        indexes.forget_tile(svc.redis, image_id)
    except REDIS_ERRORS:
        log.warning("could not drop the gallery tile of deleted image %s", image_id)
    return {"id": image_id, "status": "deleted"}


def _put(svc: Services, image_id: str, key: str, data: bytes, content_type: str) -> None:
    """Store one object of the image unless it was deleted, before or meanwhile
    (``ImageDeleted``: the caller discards the image)."""
    tombstones.check(svc.redis, image_id)
    svc.storage.put(key, data, content_type)
    tombstones.check(svc.redis, image_id)


def _process_image(svc: Services, image_id: str) -> dict[str, Any]:
    config, storage = svc.config, svc.storage
    tombstones.check(svc.redis, image_id)
    manifest = images.read_manifest(storage, image_id)
    if manifest.get("status") in images.FINAL_STATUSES:  # a retry after the job had ended:
        storage.delete_prefix(images.settled_key(image_id))  # not settled while it runs
    manifest.update(status="processing", error=None)
    _put(
        svc,
        image_id,
        images.manifest_key(image_id),
        images.manifest_bytes(manifest),
        "application/json",
    )

    original = storage.get(images.original_key(image_id))
    options = EncodeOptions(
        jpeg_quality=config.JPEG_QUALITY,
        webp_quality=config.WEBP_QUALITY,
        webp_method=config.WEBP_METHOD,
        extra_webp_method=config.EXTRA_WEBP_METHOD,
        transparent_format=config.TRANSPARENT_FORMAT,
        extra_formats=parse_extra_formats(config.EXTRA_FORMATS),
        avif_quality=config.AVIF_QUALITY,
        avif_speed=config.AVIF_SPEED,
    )
    try:
        rendering = render_image(
            original,
            parse_variants(config.VARIANTS),
            allowed_formats=csv_list(config.ALLOWED_FORMATS),
            max_pixels=config.MAX_IMAGE_PIXELS,
            limits=StructureLimits.from_settings(svc.settings),
            options=options,
            focus=tuple(manifest["focus"]) if manifest.get("focus") else None,
            crop=config.CROP,
            defer_extras=bool(options.extra_formats),
            animation=AnimationLimits(config.MAX_ANIMATED_FRAMES, config.MAX_ANIMATED_PIXELS)
            if config.ANIMATED
            else None,
        )
    except (ImgsvcError, JobTimeoutException):
        raise
    except Exception as exc:  # Pillow raises many types on hostile input
        raise InvalidImage(f"The image could not be processed: {exc}") from exc

    variants = _store_variants(svc, image_id, rendering.variants)
    if rendering.outputs:  # extra formats: the primaries are served while they are made
        manifest.update(variants=variants, extras="pending")
        images.save_manifest_unless_deleted(svc, manifest)
        for variant in render_extras(rendering, options):
            key = variants[variant.name]["key"]
            variants[variant.name]["formats"] = _store_formats(svc, image_id, variant, key)
        manifest.pop("extras", None)

    manifest.update(
        status="done",
        error=None,
        variants=variants,
        placeholder=rendering.placeholder.to_dict(),
        metadata=rendering.metadata,
        animation=rendering.animation,
        processed_at=images.now_iso(),
    )
    images.save_manifest_unless_deleted(svc, manifest)
    indexes.remember_tile(svc.redis, manifest)
    return {"id": image_id, "status": "done", "variants": sorted(variants)}


def _store_variants(
    svc: Services, image_id: str, rendered: list[RenderedVariant]
) -> dict[str, Any]:
    """Store each variant (and the extra formats it carries); their manifest entries."""
    variants: dict[str, Any] = {}
    for variant in rendered:
        key = images.variant_key(image_id, variant.name, variant.extension)
        _put(svc, image_id, key, variant.data, variant.content_type)
        metrics.record_variant(variant.format, len(variant.data))
        variants[variant.name] = {
            "key": key,
            "url": f"/images/{image_id}/{variant.name}",
            "width": variant.width,
            "height": variant.height,
            "format": variant.format,
            "content_type": variant.content_type,
            "bytes": len(variant.data),
            "etag": hashlib.sha256(variant.data).hexdigest()[:32],
            "formats": _store_formats(svc, image_id, variant, key),
        }
        _report_progress(len(variants), len(rendered))
    return variants


def _store_formats(
    svc: Services, image_id: str, variant: RenderedVariant, primary_key: str
) -> dict[str, Any]:
    """Store a variant's extra formats; one that is the primary format reuses its object."""
    formats: dict[str, Any] = {}
    for extension, file in variant.alternates.items():
        key = primary_key
        if file.format != variant.format:
            key = images.variant_key(image_id, variant.name, extension)
            _put(svc, image_id, key, file.data, file.content_type)
            metrics.record_variant(file.format, len(file.data))
        formats[extension] = {
            "key": key,
            "url": f"/images/{image_id}/{variant.name}.{extension}",
            "content_type": file.content_type,
            "bytes": len(file.data),
            "etag": hashlib.sha256(file.data).hexdigest()[:32],
        }
    return formats


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
        _mark_failed(services(), image_id, error)


def record_crash(job: Any, reason: str) -> None:
    """Note a crash on ``job``; once it has no retries left, fail its image too."""
    error = WorkerCrashed(reason)
    job.get_meta(refresh=True)
    job.meta["error"] = error.to_dict()
    job.save_meta()
    image_id = (job.meta or {}).get("image_id")
    if image_id and not job.retries_left:
        _mark_failed(services(), image_id, error)


def _note_job_error(error: ImgsvcError) -> bool:
    """Record ``error`` in the job's meta; return whether this attempt is the last.

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


def _record_failure(svc: Services, image_id: str, error: ImgsvcError) -> None:
    """Note the error on the job; on the last attempt, mark the manifest failed."""
    if _note_job_error(error):
        _mark_failed(svc, image_id, error)


def _mark_failed(svc: Services, image_id: str, error: ImgsvcError) -> None:
    """Save the manifest ``failed`` with ``error``, unless the image was deleted."""
    try:
        tombstones.check(svc.redis, image_id)
        manifest = images.read_manifest(svc.storage, image_id)
        manifest.update(status="failed", error=error.to_dict(), processed_at=images.now_iso())
        images.save_manifest_unless_deleted(svc, manifest)
        indexes.remember_tile(svc.redis, manifest)
    except ImageDeleted:
        _discard(svc, image_id)
    except ImgsvcError as exc:  # storage down: the API reads the job's error instead
        log.warning("could not mark image %s failed: %s", image_id, exc)


@metrics.tracked("wordcount")
def count_words(url: str) -> dict[str, Any]:
    """Fetch ``url`` safely and count the words of its visible text.

    One budget, ``WORDCOUNT_TIMEOUT``, covers the whole job: fetch (which also
    stops at ``FETCH_TIMEOUT``), decode, parse and count. Running out of it
    fails the job with ``timeout`` (``fetch_timeout`` while fetching), and so
    does RQ's job timeout; neither is retried, nor are refusals, size and type
    breaches and malformed answers. Only connection errors and 5xx answers
    raise a retryable ``FetchFailed``.
    """
    config = services().config
    deadline = Deadline(config.WORDCOUNT_TIMEOUT)
    guard = Guard(csv_list(config.FETCH_ALLOWLIST))
    limits = FetchLimits(
        max_bytes=config.FETCH_MAX_BYTES,
        timeout=min(config.FETCH_TIMEOUT, deadline.remaining()),
        max_redirects=config.FETCH_MAX_REDIRECTS,
    )
    try:
        page = fetch_page(url, guard, limits)
        return count_words_in(
            url,
            page.text,
            page.content_type != "text/plain",
            top=config.WORDCOUNT_TOP,
            deadline=deadline,
        )
    except JobTimeoutException:
        _note_job_error(WordCountTimeout("The word count ran past the job's time limit."))
        raise
    except ImgsvcError as error:
        _note_job_error(error)
        raise
