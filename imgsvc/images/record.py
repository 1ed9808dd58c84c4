"""The image record: ids, keys, delete tokens, the manifest and its cached copy,
and the state of the image's job.

The manifest (``images/<id>/manifest.json``) is the system of record for an
image's state: ``queued`` → ``processing`` → ``done`` or ``failed``.

Redis keeps a copy of each manifest as it was at upload and once final, so
status polls and media requests skip storage (:func:`load_manifest`). While
an image is unfinished its live state comes from its job
(:func:`image_job`, the one place that asks), so the copy made at upload is
enough; a missing or stale copy is rebuilt from storage.

A deleted image is never copied back (:mod:`imgsvc.images.tombstones`): copies are
written only while the image has no tombstone, a job's writes are checked
against it before and after (:func:`save_manifest_unless_deleted`), and a
manifest read from storage after its delete is answered ``NotFound``.

A finished image's manifest has more than one writer (the variants job merging
what it made, ``PATCH`` changing the focal point): they change it through
:func:`update_manifest`, under the image's lock, so neither undoes the other.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import LockError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from imgsvc.errors import (
    ImageDeleted,
    ImgsvcError,
    InvalidImage,
    NotFound,
    ObjectNotFound,
    QueueUnavailable,
)
from imgsvc.extensions import REDIS_ERRORS, Services
from imgsvc.images import tombstones
from imgsvc.images.tombstones import (
    tombstone_key as tombstone_key,  # a key of the record, kept there
)
from imgsvc.imaging.probe import ProbeResult
from imgsvc.storage import Storage

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{22}$")
FINAL_STATUSES = ("done", "failed")
# The marker object's name (see settled_key); variant names start with a letter,
# so no variant key starts with it.
SETTLED = "_settled"
CACHE_TTL = 7 * 86_400
# How long a manifest writer may hold the image's lock (a crashed one frees it
# then), and how long another waits for it: a read, a change and a write.
MANIFEST_LOCK_SECONDS = 10
LIVE_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
ENDED_STATUSES = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


def new_image_id() -> str:
    """A random URL-safe id of 128 bits (22 characters)."""
    return secrets.token_urlsafe(16)


def is_image_id(value: str) -> bool:
    """Whether ``value`` has the shape of an id this service issues."""
    return bool(ID_PATTERN.match(value))


def prefix(image_id: str) -> str:
    return f"images/{image_id}/"


def original_key(image_id: str) -> str:
    return f"images/{image_id}/original"


def manifest_key(image_id: str) -> str:
    return f"images/{image_id}/manifest.json"


def variant_key(image_id: str, name: str, extension: str) -> str:
    return f"images/{image_id}/{name}.{extension}"


def settled_key(image_id: str) -> str:
    """An empty object written once the manifest is final: a reconcile pass sees in
    its listing that the image needs nothing, without reading the manifest."""
    return f"images/{image_id}/{SETTLED}"


def job_id_for(image_id: str) -> str:
    """The RQ job id of an image's processing job (one per image, reused)."""
    return f"image-{image_id}"


def cache_key(image_id: str) -> str:
    """Redis key of the manifest's cached copy."""
    return f"imgsvc:manifest:{image_id}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(manifest: dict[str, Any], token: str | None) -> bool:
    """Compare a presented delete token with the stored hash in constant time."""
    expected = manifest.get("delete_token_sha256", "")
    return bool(token) and hmac.compare_digest(hash_token(token or ""), expected)


def original_entry(image_id: str, info: ProbeResult, size: int) -> dict[str, Any]:
    """The manifest's ``original``: what the header check found, and its ETag (an
    original never changes under its URL, as ids are never reused, so its id is a
    valid strong ETag: no need to hash the body)."""
    return {
        "width": info.width,
        "height": info.height,
        "format": info.format,
        "frames": info.frames,
        "bytes": size,
        "content_type": info.mime_type,
        "etag": f"{image_id}-original",
    }


def new_manifest(
    image_id: str,
    info: ProbeResult | None,
    size: int,
    delete_token: str,
    source_url: str | None = None,
    callback_url: str | None = None,
) -> dict[str, Any]:
    """The manifest of a just-uploaded image; for an upload from a URL (``info`` is
    ``None``) its ``original`` stays ``None`` until the job fetched it from
    ``source_url``. ``callback_url`` is where its webhook goes (never shown)."""
    manifest: dict[str, Any] = {
        "id": image_id,
        "status": "queued",
        "error": None,
        "original": original_entry(image_id, info, size) if info is not None else None,
        "variants": {},
        "created_at": now_iso(),
        "processed_at": None,
        "delete_token_sha256": hash_token(delete_token),
    }
    if source_url is not None:
        manifest["source_url"] = source_url
    if callback_url is not None:
        manifest["callback_url"] = callback_url
    return manifest


def read_manifest(storage: Storage, image_id: str) -> dict[str, Any]:
    """Load an image's manifest; ``NotFound`` for an unknown (or malformed) id."""
    if not is_image_id(image_id):
        raise NotFound("No such image.")
    try:
        raw = storage.get(manifest_key(image_id))
    except ObjectNotFound as exc:
        raise NotFound("No such image.") from exc
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidImage("The image's manifest is corrupt.") from exc


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """The manifest as stored: indented, sorted JSON."""
    return json.dumps(manifest, indent=2, sort_keys=True).encode()


def write_manifest(storage: Storage, manifest: dict[str, Any]) -> None:
    """Store the manifest (atomically replacing the previous one)."""
    storage.put(manifest_key(manifest["id"]), manifest_bytes(manifest), "application/json")


# -- the image's job ----------------------------------------------------------


@dataclass(frozen=True)
class ImageJob:
    """The image's RQ job and its status as last read (not refreshed)."""

    job: Job
    status: str | None

    @property
    def live(self) -> bool:
        """Queued, started, scheduled or deferred: it will still write the manifest."""
        return self.status in LIVE_STATUSES

    @property
    def ended(self) -> bool:
        """Finished, failed, stopped or canceled: the final manifest is in storage."""
        return self.status in ENDED_STATUSES

    @property
    def finished(self) -> bool:
        """The job returned: it saved the manifest ``done`` (or the image was deleted)."""
        return self.status == JobStatus.FINISHED


def image_job(queue: Queue, image_id: str) -> ImageJob | None:
    """The image's job (``image-<id>``) with its status, or ``None`` when Redis has
    none (never queued, expired, deleted). A Redis failure is left to raise."""
    try:
        job = Job.fetch(
            job_id_for(image_id), connection=queue.connection, serializer=queue.serializer
        )
    except NoSuchJobError:
        return None
    return ImageJob(job, job.get_status(refresh=False))


# -- the manifest through its Redis copy --------------------------------------


def cache_manifest(svc: Services, manifest: dict[str, Any]) -> bool:
    """Keep a copy of ``manifest`` in Redis unless the image was deleted; ``False``
    when it was (a Redis failure counts as kept: the copy is best effort)."""
    image_id = manifest["id"]
    try:
        return tombstones.set_unless_deleted(
            svc.redis, image_id, cache_key(image_id), json.dumps(manifest), CACHE_TTL
        )
    except REDIS_ERRORS:
        return True


def uncache_manifest(svc: Services, image_id: str) -> None:
    """Drop the cached copy; a Redis failure is ignored (the copy expires)."""
    with contextlib.suppress(*REDIS_ERRORS):
        svc.redis.delete(cache_key(image_id))


def save_manifest(svc: Services, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` to storage, make the image's objects durable by name
    (the manifest is written after them), then refresh the cached copy. A final
    manifest is followed by the image's settled marker (:func:`mark_settled`).
    Storage errors are left to raise."""
    write_manifest(svc.storage, manifest)
    svc.storage.sync(prefix(manifest["id"]))
    cache_manifest(svc, manifest)
    if manifest.get("status") in FINAL_STATUSES:
        mark_settled(svc, manifest["id"])


def save_manifest_unless_deleted(svc: Services, manifest: dict[str, Any]) -> None:
    """:func:`save_manifest` for a job: raises ``ImageDeleted`` when ``DELETE`` ran
    before the write, or meanwhile (the manifest written then may have escaped
    the delete: the caller removes the image's objects)."""
    image_id = manifest["id"]
    tombstones.check(svc.redis, image_id)
    write_manifest(svc.storage, manifest)
    svc.storage.sync(prefix(image_id))
    if not cache_manifest(svc, manifest):  # the tombstone, checked after the write
        raise ImageDeleted()
    if manifest.get("status") in FINAL_STATUSES:
        mark_settled(svc, image_id, guarded=True)


def update_manifest(
    svc: Services, image_id: str, change: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Read the image's manifest from storage, ``change`` it in place and save it
    (:func:`save_manifest_unless_deleted`) unless ``change`` returns ``False``,
    holding the image's manifest lock throughout; the manifest as it now is.

    ``change`` may raise to write nothing. ``QueueUnavailable`` when the lock is
    not had within ``MANIFEST_LOCK_SECONDS``; Redis and storage errors, and
    ``ImageDeleted``/``NotFound``, are left to raise.
    """
    lock = svc.redis.lock(
        f"imgsvc:manifest-lock:{image_id}",
        timeout=MANIFEST_LOCK_SECONDS,
        blocking_timeout=MANIFEST_LOCK_SECONDS,
    )
    if not lock.acquire():
        raise QueueUnavailable("The image is being updated; try again shortly.")
    try:
        manifest = read_manifest(svc.storage, image_id)
        if change(manifest) is not False:
            save_manifest_unless_deleted(svc, manifest)
        return manifest
    finally:
        with contextlib.suppress(LockError, *REDIS_ERRORS):  # expired: nothing to free
            lock.release()


def mark_settled(svc: Services, image_id: str, guarded: bool = False) -> None:
    """Write the image's settled marker, best effort: without it, reconcile reads
    the final manifest and writes the marker then. ``guarded``: raise
    ``ImageDeleted`` instead when the image was deleted before or meanwhile."""
    try:
        if guarded:
            tombstones.check(svc.redis, image_id)
        svc.storage.put(settled_key(image_id), b"", "application/octet-stream")
        if guarded:
            tombstones.check(svc.redis, image_id)
    except ImageDeleted:
        raise
    except ImgsvcError as exc:
        log.warning("could not mark image %s settled: %s", image_id, exc)


def load_manifest(svc: Services, image_id: str) -> dict[str, Any]:
    """An image's manifest: from Redis when it can answer, else from storage.

    ``NotFound`` for an unknown or deleted id, as :func:`read_manifest`;
    storage errors are left to raise. A Redis failure only costs a storage read.
    """
    if not is_image_id(image_id):
        return read_manifest(svc.storage, image_id)  # raises NotFound
    cached = _cached(svc, image_id)
    if cached is not None and not _stale(svc, cached):
        return cached
    manifest = read_manifest(svc.storage, image_id)
    if not cache_manifest(svc, manifest):  # deleted: what storage still holds is on its way out
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
    if manifest.get("status") in FINAL_STATUSES:
        return False
    try:
        found = image_job(svc.queue, manifest["id"])
    except REDIS_ERRORS:
        return True
    return found is None or found.ended
