"""HTML pages: the upload form (a file or a URL) with recent uploads, and an image's page."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from imgsvc import apikeys
from imgsvc.config import csv_list
from imgsvc.errors import ImgsvcError, InvalidUrl, MissingFile
from imgsvc.extensions import services
from imgsvc.images import record
from imgsvc.images.indexes import recent_tiles
from imgsvc.images.uploads import AcceptedUpload, accept_upload, accept_url_upload
from imgsvc.imaging.smartcrop import parse_focus
from imgsvc.logs import note
from imgsvc.ratelimit import limited
from imgsvc.web.directform import form_posts_to_bucket
from imgsvc.web.forms import UploadForm, UrlUploadForm
from imgsvc.web.mediaurls import with_public_urls
from imgsvc.web.present import (
    image_view,
    links,
    shown_variants,
    srcset_snippet,
    variant_formats,
)

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)

# What to do about a failed image, by error code; anything else gets the default.
FAILURE_ADVICE = {
    "invalid_image": "The file looks damaged or is not really an image. Open it in an image "
    "editor, save it again as JPEG or PNG, and upload that.",
    "unsupported_format": "Save the image as JPEG, PNG, WebP, GIF, TIFF, HEIC or AVIF "
    "and upload it again.",
    "image_too_large": "The image has too many pixels or frames. Scale it down (for example "
    "to 8000 pixels on the longest side) and upload it again.",
    "timeout": "Processing took too long. Try again later, or upload a smaller version.",
    "storage_unavailable": "Storage was unavailable. This is on our side: upload the image "
    "again in a few minutes.",
    "worker_crashed": "The worker stopped while making it. Upload it again; if that fails "
    "too, upload a smaller version.",
}
DEFAULT_ADVICE = "Try a different file, or re-save this one as JPEG or PNG and upload it again."


def _index_page(
    form: UploadForm, error: ImgsvcError | None = None, url_form: UrlUploadForm | None = None
) -> str:
    svc = services()
    config = svc.config
    return render_template(
        "index.html",
        form=form,
        url_form=url_form or UrlUploadForm(formdata=None),
        error=error,
        tiles=recent_tiles(services(), config.RECENT_UPLOADS),
        formats=csv_list(config.ALLOWED_FORMATS),
        form_uploads=config.FORM_UPLOADS,
        # The script sends files straight to the bucket (imgsvc/web/directform.py).
        direct_uploads=form_posts_to_bucket(svc.settings, svc.storage, bool(apikeys.configured())),
    )


@bp.route("/", methods=["GET", "POST"])
@limited("uploads")
def index() -> ResponseReturnValue:
    """Show the upload form; on POST accept the file and go to its page (303).

    The page's script sends the same form with ``Accept: application/json`` to
    show a progress bar, and gets the new image's id and links (or the error) as JSON.
    """
    form = UploadForm()
    if request.method == "GET":
        return _index_page(form)
    url_form = UrlUploadForm() if "url" in request.form else None
    try:
        accepted = _accept_url(url_form) if url_form is not None else _accept_file(form)
    except ImgsvcError as error:
        if _from_script():
            raise
        note(error_code=error.code)
        return _index_page(form, error, url_form), error.status
    original = accepted.manifest["original"]
    upload_bytes = original["bytes"] if original else 0
    note(image_id=accepted.image_id, job_id=accepted.job_id, upload_bytes=upload_bytes)
    page = url_for("pages.image_page", image_id=accepted.image_id)
    if _from_script():
        body = {
            "id": accepted.image_id,
            "status": accepted.manifest["status"],
            "job_id": accepted.job_id,
            "links": links(accepted.image_id),
        }
        return jsonify(body), 202, {"Location": page}
    return redirect(page, code=303)


def _accept_file(form: UploadForm) -> AcceptedUpload:
    if not form.validate_on_submit():
        raise MissingFile("Choose an image to upload.")
    return accept_upload(services(), form.file.data, focus=parse_focus(form.focus.data))


def _accept_url(form: UrlUploadForm) -> AcceptedUpload:
    """The URL field: checked as far as the URL shows; the job fetches the image."""
    if not form.validate_on_submit():
        raise InvalidUrl("; ".join(form.url.errors) or "Enter an http(s) URL of an image.")
    return accept_url_upload(services(), form.url.data)


def _from_script() -> bool:
    """Whether the page's script sent the form (it asks for JSON; a plain form post does not)."""
    accept = request.accept_mimetypes
    return accept["application/json"] > accept["text/html"]


@bp.get("/images/<image_id>")
def image_page(image_id: str) -> str:
    """An image's page: live status and progress, every variant, a srcset snippet."""
    svc = services()
    manifest = record.load_manifest(svc, image_id)
    view = image_view(svc, manifest)
    error = view.get("error") or {}
    variants = shown_variants(svc, manifest)  # current ones only: stale ones are pending
    return render_template(
        "image.html",
        image=view,
        preview=_preview(variants),
        extra_formats={name: sorted(variant_formats(v)) for name, v in variants.items()},
        snippet=srcset_snippet(
            with_public_urls(svc, {**manifest, "variants": variants}),
            request.host_url.rstrip("/"),
        ),
        advice=FAILURE_ADVICE.get(error.get("code", ""), DEFAULT_ADVICE),
    )


def _preview(variants: dict[str, Any]) -> dict[str, Any] | None:
    """``src``, ``srcset`` and size of a responsive preview from the width-bound variants."""
    widths = sorted(
        (v for name, v in variants.items() if name != "thumb"), key=lambda v: v["width"]
    ) or list(variants.values())
    if not widths:
        return None
    largest = widths[-1]
    return {
        "src": largest["url"],
        "srcset": ", ".join(f"{v['url']} {v['width']}w" for v in widths),
        "width": largest["width"],
        "height": largest["height"],
    }
