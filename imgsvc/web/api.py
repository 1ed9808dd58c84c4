"""The JSON API: ``/api/images`` (upload, from a file or a URL; status; focal point; delete)."""

from __future__ import annotations

import contextlib
from typing import Any

from flask import Blueprint, Response, jsonify, request

from imgsvc import apikeys, idempotency
from imgsvc.errors import Forbidden, ImgsvcError, QueueUnavailable
from imgsvc.extensions import REDIS_ERRORS, services
from imgsvc.images import indexes, record, tombstones
from imgsvc.images.indexes import forget_upload
from imgsvc.images.refocus import change_focus
from imgsvc.images.uploads import accept_upload, accept_url_upload
from imgsvc.imaging.smartcrop import parse_focus
from imgsvc.ratelimit import limited
from imgsvc.web.present import accepted_answer, image_view
from imgsvc.webhooks import record as webhooks
from imgsvc.webhooks.delivery import check_callback_url
from imgsvc.webhooks.events import image_subject

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.post("/images")
@limited("uploads")
def upload_image() -> tuple[Response, int, dict[str, str]]:
    """Accept a multipart upload (field ``file``) or, as JSON ``{"url": ...}``,
    an upload from a URL; either may name a ``callback_url`` and a focal point
    (``focus``: ``"x,y"``, in JSON also ``[x, y]``; 400 ``invalid_focus`` when
    malformed, before anything is stored). 202 with id, job and links.

    With an ``Idempotency-Key`` a retry gets the first answer (see
    :mod:`imgsvc.idempotency`); with an API key the upload counts against its
    daily quota (:mod:`imgsvc.apikeys`), replays excepted.
    """
    svc = services()

    def accept() -> tuple[dict[str, Any], int, dict[str, str]]:
        counter = apikeys.charge_upload(svc.redis)
        try:
            if request.is_json:
                body = request.get_json(silent=True)
                fields = body if isinstance(body, dict) else {}
                callback_url = check_callback_url(svc.config, fields.get("callback_url"))
                focus = parse_focus(fields.get("focus"))
                accepted = accept_url_upload(svc, fields.get("url"), callback_url, focus)
            else:
                callback_url = check_callback_url(svc.config, request.form.get("callback_url"))
                focus = parse_focus(request.form.get("focus"))
                accepted = accept_upload(svc, request.files.get("file"), callback_url, focus)
        except ImgsvcError as error:
            if not (error.details and "id" in error.details):  # stored: it counts
                apikeys.refund(svc.redis, counter)
            raise
        return accepted_answer(accepted)

    return idempotency.respond(svc, "images", apikeys.scope(), request, accept)


@bp.get("/images/<image_id>")
def get_image(image_id: str) -> Response:
    """The image's status, original and variants."""
    svc = services()
    return jsonify(image_view(svc, record.load_manifest(svc, image_id)))


@bp.patch("/images/<image_id>")
@limited("uploads", methods=("PATCH",))
def patch_image(image_id: str) -> tuple[Response, int]:
    """Change a ``done`` image's focal point: header ``X-Delete-Token``, JSON body
    ``{"focus": "x,y"}``, ``{"focus": [x, y]}`` or ``{"focus": null}`` (back to
    the automatic choice). 202 with the image's view once the job that re-makes
    its cover crops is enqueued (their new URLs appear in ``variants`` once
    made); 200 when the focal point is unchanged (nothing enqueued).

    403 ``forbidden`` without the token, 400 ``invalid_focus``, 409
    ``image_not_ready`` unless ``done``, 404 as ``GET``, 503
    ``queue_unavailable`` with nothing changed (:mod:`imgsvc.images.refocus`).
    Rate-limited as uploads: each change costs a job that decodes the original.
    """
    svc = services()
    token = request.headers.get("X-Delete-Token")
    refocused = change_focus(svc, image_id, token, request.get_json(silent=True))
    return jsonify(image_view(svc, refocused.manifest)), 202 if refocused.changed else 200


@bp.delete("/images/<image_id>")
def delete_image(image_id: str) -> tuple[str, int]:
    """Delete every object and record of the image; needs the ``X-Delete-Token`` header.

    The delete wins over a job working on the image (see :mod:`imgsvc.images.tombstones`):
    after the 204 nothing of the image is served or comes back. Without Redis
    no tombstone can be left, so nothing is deleted: ``503 queue_unavailable``.
    """
    svc = services()
    manifest = record.read_manifest(svc.storage, image_id)
    if not record.token_matches(manifest, request.headers.get("X-Delete-Token")):
        raise Forbidden("A valid X-Delete-Token header is required to delete this image.")
    try:
        tombstones.bury(svc.redis, image_id)  # first: from here on no write brings it back
    except REDIS_ERRORS as exc:
        raise QueueUnavailable(
            "The image cannot be deleted while the job queue is unavailable; try again shortly."
        ) from exc
    with contextlib.suppress(*REDIS_ERRORS):
        found = record.image_job(svc.queue, image_id)
        if found is not None and found.status != "started":
            found.job.delete()  # a started job sees the tombstone and cleans up after itself
        forget_upload(svc.redis, image_id)
    svc.storage.delete_prefix(record.prefix(image_id))
    record.uncache_manifest(svc, image_id)
    with contextlib.suppress(*REDIS_ERRORS):
        indexes.forget_tile(svc.redis, image_id)
    webhooks.forget(svc.redis, image_subject(image_id))  # its deliveries stop at the tombstone
    return "", 204
