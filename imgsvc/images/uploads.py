"""Accepting an upload: check the header, store original + manifest, enqueue.

Shared by the HTML form and the JSON API. Pixels are never decoded here: the
check reads the header only, so the cost does not grow with the image's size.
An upload from a URL stores its manifest only; its job fetches the original
(:mod:`imgsvc.images.fromurl`).
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from werkzeug.datastructures import FileStorage

from imgsvc.config import csv_list
from imgsvc.errors import ImgsvcError, InvalidUrl, MissingFile, QueueUnavailable
from imgsvc.extensions import REDIS_ERRORS, Services
from imgsvc.images import record
from imgsvc.images.indexes import remember_upload
from imgsvc.imaging import ProbeResult, probe
from imgsvc.imaging.structure import StructureLimits
from imgsvc.netguard import Guard
from imgsvc.queue import check_room, enqueue_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AcceptedUpload:
    """An upload that is stored and (unless ``queued`` is false) enqueued."""

    image_id: str
    job_id: str
    delete_token: str
    manifest: dict[str, Any]


def accept_upload(
    svc: Services,
    stream: FileStorage | BinaryIO | None,
    callback_url: str | None = None,
    focus: tuple[float, float] | None = None,
) -> AcceptedUpload:
    """Check, store and enqueue one upload; its webhook goes to ``callback_url``
    (checked by the caller, :func:`imgsvc.webhooks.delivery.check_callback_url`);
    ``focus`` (x, y in 0–1) is where its cover crops look (kept in the manifest;
    see ``imaging.smartcrop``).

    Raises the upload's error (``missing_file``, ``invalid_image``,
    ``unsupported_format``, ``image_too_large``) or ``QueueFull`` before anything
    is stored, and ``QueueUnavailable`` after storing when Redis is down: the
    image is then picked up by ``imgsvc reconcile``.
    """
    if stream is None:
        raise MissingFile()
    # A FileStorage: use the file under it, so a body held in memory is written
    # to storage from its buffer, not copied through a read loop.
    file = cast("BinaryIO", getattr(stream, "stream", stream))
    settings, config = svc.settings, svc.config
    info = probe(
        file,
        allowed_formats=csv_list(config.ALLOWED_FORMATS),
        max_pixels=config.MAX_IMAGE_PIXELS,
        max_frames=config.MAX_IMAGE_FRAMES,
        limits=StructureLimits.from_settings(settings),
    )
    check_room(svc.queue, settings)
    size = file.seek(0, io.SEEK_END)
    file.seek(0)
    image_id = record.new_image_id()
    delete_token = secrets.token_urlsafe(24)
    manifest = record.new_manifest(image_id, info, size, delete_token, callback_url=callback_url)
    _keep_focus(manifest, focus)

    storage = svc.storage
    try:
        # From the request's buffer (imgsvc.web.body.request): one write, no copy.
        storage.put(record.original_key(image_id), file, info.mime_type)
        record.save_manifest(svc, manifest)
    except ImgsvcError:
        with contextlib.suppress(ImgsvcError):
            storage.delete_prefix(record.prefix(image_id))
        raise
    return _enqueue(svc, manifest, delete_token)


def record_upload(
    svc: Services,
    image_id: str,
    info: ProbeResult,
    size: int,
    callback_url: str | None = None,
    focus: tuple[float, float] | None = None,
) -> AcceptedUpload:
    """Record an image whose original is already stored and checked: write its
    manifest (with a new delete token and ``focus``, as :func:`accept_upload`),
    enqueue its job, note it in the recent list. Uploads straight to the bucket
    end here (:mod:`imgsvc.images.direct`).

    Raises ``StorageUnavailable`` when the manifest cannot be written (the
    image's objects are then deleted), and ``QueueUnavailable`` after writing
    it when Redis is down: the image is then picked up by ``imgsvc reconcile``.
    """
    delete_token = secrets.token_urlsafe(24)
    manifest = record.new_manifest(image_id, info, size, delete_token, callback_url=callback_url)
    _keep_focus(manifest, focus)
    try:
        record.save_manifest(svc, manifest)
    except ImgsvcError:
        with contextlib.suppress(ImgsvcError):
            svc.storage.delete_prefix(record.prefix(image_id))
        raise
    return _enqueue(svc, manifest, delete_token)


def accept_url_upload(
    svc: Services,
    url: object,
    callback_url: str | None = None,
    focus: tuple[float, float] | None = None,
) -> AcceptedUpload:
    """Accept an upload from ``url``: checked as far as the URL alone shows, a
    manifest without its original stored (with ``focus``, as :func:`accept_upload`),
    the image job enqueued. The job fetches the image with the fetcher's rules
    (:mod:`imgsvc.images.fromurl`), then processes it as an upload.

    Raises ``InvalidUrl`` or ``DestinationNotAllowed`` (the URL alone shows it)
    or ``QueueFull`` before anything is stored, and ``QueueUnavailable`` as
    :func:`accept_upload` does.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidUrl('Send a JSON body {"url": "https://..."} or a file.')
    config = svc.config
    Guard(csv_list(config.FETCH_ALLOWLIST)).check_literal(url.strip())
    check_room(svc.queue, svc.settings)
    image_id = record.new_image_id()
    delete_token = secrets.token_urlsafe(24)
    manifest = record.new_manifest(
        image_id, None, 0, delete_token, source_url=url.strip(), callback_url=callback_url
    )
    _keep_focus(manifest, focus)
    record.save_manifest(svc, manifest)
    return _enqueue(svc, manifest, delete_token)


def _keep_focus(manifest: dict[str, Any], focus: tuple[float, float] | None) -> None:
    """Keep the upload's focal point, where its cover crops look (``imaging.smartcrop``)."""
    if focus is not None:
        manifest["focus"] = list(focus)


def _enqueue(svc: Services, manifest: dict[str, Any], delete_token: str) -> AcceptedUpload:
    """Enqueue the stored image's job and remember the upload."""
    image_id, settings, config = manifest["id"], svc.settings, svc.config
    try:
        job = enqueue_image(svc.queue, image_id, settings)
    except QueueUnavailable as exc:
        exc.details = {"id": image_id, "delete_token": delete_token}
        exc.message = (
            f"The image was stored as {image_id}, but the job queue is unavailable; "
            "it will be processed once the queue is back."
        )
        raise
    try:
        remember_upload(svc.redis, image_id, config.RECENT_UPLOADS)
    except REDIS_ERRORS:  # the recent list is only an index; the image is safe
        log.warning("could not record %s in the recent uploads list", image_id)
    return AcceptedUpload(image_id, job.id, delete_token, manifest)
