"""Manifests through a Redis cache: status polls and media requests skip storage.

Storage stays the system of record; Redis keeps a copy of each manifest as it
was at upload and once final (``done``/``failed``). While an image is
unfinished, its live state comes from the job (see ``web.present``), so the
copy made at upload is enough. A missing or stale copy is rebuilt from storage.

A deleted image is never copied back (:mod:`imgsvc.tombstones`): copies are
written only while the image has no tombstone, and a manifest read from
storage after its delete is answered ``NotFound``.
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from imgsvc import images, tombstones
from imgsvc.errors import ImageDeleted, ImgsvcError, NotFound
from imgsvc.extensions import REDIS_ERRORS, Services
from imgsvc.queue import fetch_job

log = logging.getLogger(__name__)
CACHE_TTL = 7 * 86_400


def cache_key(image_id: str) -> str:
    return f"imgsvc:manifest:{image_id}"


def remember(svc: Services, manifest: dict[str, Any]) -> bool:
    """Keep a copy of ``manifest`` in Redis unless the image was deleted; ``False``
    when it was (a Redis failure counts as kept: the copy is best effort)."""
    image_id = manifest["id"]
    try:
        return tombstones.set_unless_deleted(
            svc.redis, image_id, cache_key(image_id), json.dumps(manifest), CACHE_TTL
        )
    except REDIS_ERRORS:
        return True


def forget(svc: Services, image_id: str) -> None:
    with contextlib.suppress(*REDIS_ERRORS):
        svc.redis.delete(cache_key(image_id))


def save(svc: Services, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` to storage, make the image's objects durable by name
    (the manifest is written after them), then refresh the cached copy. A final
    manifest is followed by the image's settled marker (:func:`mark_settled`)."""
    images.write_manifest(svc.storage, manifest)
    svc.storage.sync(images.prefix(manifest["id"]))
    remember(svc, manifest)
    if manifest.get("status") in images.FINAL_STATUSES:
        mark_settled(svc, manifest["id"])


def save_unless_deleted(svc: Services, manifest: dict[str, Any]) -> None:
    """:func:`save` for a job: raises ``ImageDeleted`` when ``DELETE`` ran before
    the write, or meanwhile (the manifest written then may have escaped the
    delete: the caller removes the image's objects)."""
    image_id = manifest["id"]
    tombstones.check(svc.redis, image_id)
    images.write_manifest(svc.storage, manifest)
    svc.storage.sync(images.prefix(image_id))
    if not remember(svc, manifest):  # the tombstone, checked after the write
        raise ImageDeleted()
    if manifest.get("status") in images.FINAL_STATUSES:
        mark_settled(svc, image_id, guarded=True)


def mark_settled(svc: Services, image_id: str, guarded: bool = False) -> None:
    """Write the image's settled marker, best effort: without it, reconcile reads
    the final manifest and writes the marker then. ``guarded``: raise
    ``ImageDeleted`` instead when the image was deleted before or meanwhile."""
    try:
        if guarded:
            tombstones.check(svc.redis, image_id)
        svc.storage.put(images.settled_key(image_id), b"", "application/octet-stream")
        if guarded:
            tombstones.check(svc.redis, image_id)
    except ImageDeleted:
        raise
    except ImgsvcError as exc:
        log.warning("could not mark image %s settled: %s", image_id, exc)


def load(svc: Services, image_id: str) -> dict[str, Any]:
    """An image's manifest: from Redis when it can answer, else from storage.

    ``NotFound`` for an unknown id, as :func:`images.read_manifest`.
    """
    if not images.is_image_id(image_id):
        return images.read_manifest(svc.storage, image_id)  # raises NotFound
    cached = _cached(svc, image_id)
    if cached is not None and not _stale(svc, cached):
        return cached
    manifest = images.read_manifest(svc.storage, image_id)
    if not remember(svc, manifest):  # deleted: what storage still holds is on its way out
        raise NotFound("No such image.")
    return manifest


def _cached(svc: Services, image_id: str) -> dict[str, Any] | None:
    try:
        raw = svc.redis.get(cache_key(image_id))
    except REDIS_ERRORS:
        return None
    return json.loads(raw) if raw else None


def _stale(svc: Services, manifest: dict[str, Any]) -> bool:
    """An unfinished copy whose job has ended: the final manifest is in storage."""
    if manifest.get("status") in images.FINAL_STATUSES:
        return False
    try:
        job = fetch_job(svc.queue, images.job_id_for(manifest["id"]))
        return job is None or job.get_status(refresh=False) in (
            "finished",
            "failed",
            "stopped",
            "canceled",
        )
    except REDIS_ERRORS:
        return True
