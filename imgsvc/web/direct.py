"""The JSON API of uploads straight to the bucket: ``/api/uploads`` (S3 only).

The service logic is :mod:`imgsvc.images.direct`; with file storage both routes
answer ``400 direct_upload_unavailable``.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from imgsvc.errors import InvalidFocus
from imgsvc.extensions import services
from imgsvc.images.direct import complete_direct_upload, start_direct_upload, upload_view
from imgsvc.imaging.smartcrop import Focus, parse_focus
from imgsvc.logs import note
from imgsvc.ratelimit import limited
from imgsvc.web.present import accepted_answer

bp = Blueprint("direct", __name__, url_prefix="/api")


@bp.post("/uploads")
@limited("uploads")
def start_upload() -> tuple[Response, int]:
    """201 with a new image id and the presigned POST that stores its file."""
    upload = start_direct_upload(services())
    note(image_id=upload.image_id)
    return jsonify(upload_view(upload)), 201


@bp.post("/uploads/<image_id>/complete")
def complete_upload(image_id: str) -> tuple[Response, int, dict[str, str]]:
    """Check the stored file and enqueue it: 202 as ``POST /api/images`` answers.

    An optional JSON body ``{"focus": "x,y"}`` (or ``[x, y]``) sets the upload's
    focal point; an empty body, ``{}`` or ``{"focus": null}`` leaves it to
    ``CROP``. Any other body, or a malformed focus: 400 ``invalid_focus``, with
    the upload left to complete again.
    """
    body, status, headers = accepted_answer(
        complete_direct_upload(services(), image_id, _focus_of_body())
    )
    return jsonify(body), status, headers


def _focus_of_body() -> Focus | None:
    """The focal point of ``complete``'s optional JSON body (whatever its content type)."""
    if not request.get_data(cache=True).strip():
        return None
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):  # not JSON, or not an object
        raise InvalidFocus('Send no body, or a JSON body {"focus": "x,y"}.')
    return parse_focus(body.get("focus"))
