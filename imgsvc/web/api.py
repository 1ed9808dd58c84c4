"""The JSON API: ``/api/images``."""

from __future__ import annotations

import contextlib

from flask import Blueprint, Response, jsonify, request

from imgsvc import images, indexes, tombstones
from imgsvc.errors import Forbidden, QueueUnavailable
from imgsvc.extensions import REDIS_ERRORS, services
from imgsvc.imaging.smartcrop import parse_focus
from imgsvc.indexes import forget_upload
from imgsvc.logs import note
from imgsvc.ratelimit import limited
from imgsvc.uploads import accept_upload
from imgsvc.web.present import image_view, links

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.post("/images")
@limited("uploads")
def upload_image() -> tuple[Response, int, dict[str, str]]:
    """Accept a multipart upload (field ``file``, optional ``focus=x,y``): 202 with
    id, job and links."""
    focus = parse_focus(request.form.get("focus"))
    accepted = accept_upload(services(), request.files.get("file"), focus)
    original_bytes = accepted.manifest["original"]["bytes"]
    note(image_id=accepted.image_id, job_id=accepted.job_id, upload_bytes=original_bytes)
    body = {
        "id": accepted.image_id,
        "status": accepted.manifest["status"],
        "job_id": accepted.job_id,
        "delete_token": accepted.delete_token,
        "links": links(accepted.image_id),
    }
    return jsonify(body), 202, {"Location": f"/api/images/{accepted.image_id}"}


@bp.get("/images/<image_id>")
def get_image(image_id: str) -> Response:
    """The image's status, original and variants."""
    svc = services()
    return jsonify(image_view(svc, images.load_manifest(svc, image_id)))


@bp.delete("/images/<image_id>")
def delete_image(image_id: str) -> tuple[str, int]:
    """Delete every object and record of the image; needs the ``X-Delete-Token`` header.

    The delete wins over a job working on the image (see :mod:`imgsvc.tombstones`):
    after the 204 nothing of the image is served or comes back. Without Redis
    no tombstone can be left, so nothing is deleted: ``503 queue_unavailable``.
    """
    svc = services()
    manifest = images.read_manifest(svc.storage, image_id)
    if not images.token_matches(manifest, request.headers.get("X-Delete-Token")):
        raise Forbidden("A valid X-Delete-Token header is required to delete this image.")
    try:
        tombstones.bury(svc.redis, image_id)  # first: from here on no write brings it back
    except REDIS_ERRORS as exc:
        raise QueueUnavailable(
            "The image cannot be deleted while the job queue is unavailable; try again shortly."
        ) from exc
    with contextlib.suppress(*REDIS_ERRORS):
        found = images.image_job(svc.queue, image_id)
        if found is not None and found.status != "started":
            found.job.delete()  # a started job sees the tombstone and cleans up after itself
        forget_upload(svc.redis, image_id)
    svc.storage.delete_prefix(images.prefix(image_id))
    images.uncache_manifest(svc, image_id)
    with contextlib.suppress(*REDIS_ERRORS):
        indexes.forget_tile(svc.redis, image_id)
    return "", 204
