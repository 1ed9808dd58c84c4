"""Uploads straight to the bucket: the bytes never cross the web tier.

1. :func:`start_direct_upload` gives the client a new image id and a presigned
   POST for exactly one key, ``images/<id>/original``, limited by S3 itself to
   1..``MAX_CONTENT_LENGTH`` bytes and ``DIRECT_UPLOAD_EXPIRY`` seconds.
   Nothing is stored or queued yet.
2. The client POSTs the file to the bucket.
3. :func:`complete_direct_upload` checks the stored object from its first
   ``DIRECT_UPLOAD_CHECK_BYTES`` (one ranged GET; the whole file when it is no
   larger, or a WebP, whose header Pillow reads only from the whole file),
   then records and enqueues it exactly as an upload through the web
   (:func:`imgsvc.images.uploads.record_upload`). An object that fails the
   check is deleted and refused with the upload's own error code.

An object uploaded but never completed is an image folder without a manifest:
reconcile removes it after ``ABANDONED_AFTER_SECONDS``, as it removes the
leftovers of an interrupted upload through the web.
"""

from __future__ import annotations

import contextlib
import io
import time
from dataclasses import dataclass
from typing import Any

from imgsvc.config import csv_list
from imgsvc.errors import (
    DirectUploadUnavailable,
    FileTooLarge,
    ImgsvcError,
    MissingFile,
    NotFound,
    ObjectNotFound,
    UploadCompleted,
)
from imgsvc.extensions import Services
from imgsvc.images import record
from imgsvc.images.uploads import AcceptedUpload, record_upload
from imgsvc.imaging import probe
from imgsvc.imaging.structure import StructureLimits
from imgsvc.queue import check_room
from imgsvc.storage import S3Storage


@dataclass(frozen=True)
class DirectUpload:
    """A presigned POST for one new image: send ``fields`` and then ``file`` to ``url``."""

    image_id: str
    url: str
    fields: dict[str, str]
    max_bytes: int
    expires_at: float  # Unix time


def s3_storage(svc: Services) -> S3Storage:
    """The S3 backend; ``DirectUploadUnavailable`` for any other."""
    storage = svc.storage
    if not isinstance(storage, S3Storage):
        raise DirectUploadUnavailable()
    return storage


def start_direct_upload(svc: Services) -> DirectUpload:
    """A new image id and the presigned POST that may store its original.

    Raises ``DirectUploadUnavailable`` unless the storage is S3, and
    ``QueueFull`` when the queue is at its cap (as an upload through the web).
    Signing is local: nothing is sent to S3 or stored.
    """
    storage = s3_storage(svc)
    check_room(svc.queue, svc.settings)
    image_id = record.new_image_id()
    config = svc.config
    form = storage.presigned_post(
        record.original_key(image_id), config.MAX_CONTENT_LENGTH, config.DIRECT_UPLOAD_EXPIRY
    )
    return DirectUpload(
        image_id=image_id,
        url=form["url"],
        fields=dict(form["fields"]),
        max_bytes=config.MAX_CONTENT_LENGTH,
        expires_at=time.time() + config.DIRECT_UPLOAD_EXPIRY,
    )


def complete_direct_upload(
    svc: Services, image_id: str, focus: tuple[float, float] | None = None
) -> AcceptedUpload:
    """Check the object the client stored for ``image_id``, then record and enqueue
    it, with ``focus`` (x, y in 0–1) where its cover crops look.

    Raises ``DirectUploadUnavailable`` unless the storage is S3; ``NotFound``
    for a malformed id; ``UploadCompleted`` when the image is already recorded;
    ``MissingFile`` when nothing was stored under the id (never sent, expired,
    or removed as abandoned). An object that fails the check is deleted and
    refused as an upload through the web would be: ``file_too_large``,
    ``invalid_image``, ``unsupported_format``, ``image_too_large``. Then as
    :func:`imgsvc.images.uploads.record_upload`: ``QueueUnavailable`` (the image kept)
    when Redis is down, ``StorageUnavailable`` when S3 is.
    """
    storage = s3_storage(svc)
    if not record.is_image_id(image_id):
        raise NotFound("No such upload.")
    if storage.exists(record.manifest_key(image_id)):
        raise UploadCompleted()
    key = record.original_key(image_id)
    try:
        size = storage.head(key).size
    except ObjectNotFound:
        raise MissingFile(
            "Nothing was uploaded for this id: send the file to the presigned URL first "
            "(it may also have expired)."
        ) from None
    config = svc.config
    try:
        if size > config.MAX_CONTENT_LENGTH:
            raise FileTooLarge(
                f"The upload is {size:,} bytes; the limit is {config.MAX_CONTENT_LENGTH:,}."
            )
        window = config.DIRECT_UPLOAD_CHECK_BYTES
        head = storage.read_head(key, window)
        if size > len(head) and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            # Pillow reads a WebP's header only from the whole file: read it
            # all (at most MAX_CONTENT_LENGTH, checked above).
            head = storage.get(key)
        info = probe(
            io.BytesIO(head),
            allowed_formats=csv_list(config.ALLOWED_FORMATS),
            max_pixels=config.MAX_IMAGE_PIXELS,
            max_frames=config.MAX_IMAGE_FRAMES,
            limits=StructureLimits.from_settings(svc.settings),
            partial=size > len(head),
        )
        check_room(svc.queue, svc.settings)
    except ImgsvcError as exc:
        if not exc.retryable:  # bad input: nothing of it stays
            with contextlib.suppress(ImgsvcError):
                storage.delete_prefix(record.prefix(image_id))
        raise
    return record_upload(svc, image_id, info, size, focus=focus)


def upload_view(upload: DirectUpload) -> dict[str, Any]:
    """The ``POST /api/uploads`` body."""
    return {
        "id": upload.image_id,
        "upload": {
            "method": "POST",
            "url": upload.url,
            "fields": upload.fields,
            "file_field": "file",
            "max_bytes": upload.max_bytes,
            "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(upload.expires_at)),
        },
        "links": {"complete": f"/api/uploads/{upload.image_id}/complete"},
    }
