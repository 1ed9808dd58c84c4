"""Accepting an upload: check the header, store original + manifest, enqueue.

Shared by the HTML form and the JSON API. Pixels are never decoded here: the
check reads the header only, so the cost does not grow with the image's size.
"""

from __future__ import annotations

import contextlib
import io
import logging
import secrets
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

from werkzeug.datastructures import FileStorage

from imgsvc import images
from imgsvc.config import csv_list
from imgsvc.errors import ImgsvcError, MissingFile, QueueUnavailable
from imgsvc.extensions import REDIS_ERRORS, Services
from imgsvc.imaging import probe
from imgsvc.imaging.structure import StructureLimits
from imgsvc.indexes import remember_upload
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
    focus: tuple[float, float] | None = None,
) -> AcceptedUpload:
    """Check, store and enqueue one upload; ``focus`` (x, y in 0–1) is where
    its cover crops look (kept in the manifest; see ``imaging.smartcrop``).

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
    image_id = images.new_image_id()
    delete_token = secrets.token_urlsafe(24)
    manifest = images.new_manifest(image_id, info, size, delete_token)
    if focus is not None:
        manifest["focus"] = list(focus)
    # An original never changes under its URL (ids are never reused), so its id
    # is a valid strong ETag: no need to hash the body.
    manifest["original"]["etag"] = f"{image_id}-original"

    storage = svc.storage
    try:
        # From the request's buffer (imgsvc.web.request): one write, no copy.
        storage.put(images.original_key(image_id), file, info.mime_type)
        images.save_manifest(svc, manifest)
    except ImgsvcError:
        with contextlib.suppress(ImgsvcError):
            storage.delete_prefix(images.prefix(image_id))
        raise

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
