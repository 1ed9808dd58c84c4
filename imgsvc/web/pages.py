"""HTML pages: the upload form with recent uploads, and an image's page."""

from __future__ import annotations

import logging

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from imgsvc import images
from imgsvc.errors import ImgsvcError, MissingFile
from imgsvc.queue import REDIS_ERRORS, recent_uploads
from imgsvc.uploads import accept_upload
from imgsvc.web.forms import UploadForm
from imgsvc.web.present import image_view, services, srcset_snippet

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)


def _recent() -> list[str]:
    svc = services()
    try:
        return recent_uploads(svc.redis, int(svc.settings["RECENT_UPLOADS"]))
    except REDIS_ERRORS:
        return []


@bp.route("/", methods=["GET", "POST"])
def index() -> Response | tuple[str, int] | str:
    """Show the upload form; on POST accept the file and go to its page (303)."""
    form = UploadForm()
    if request.method == "POST":
        try:
            if not form.validate_on_submit():
                raise MissingFile("Choose an image to upload.")
            accepted = accept_upload(services(), form.file.data)
        except ImgsvcError as error:
            page = render_template("index.html", form=form, error=error, recent=_recent())
            return page, error.status
        return redirect(url_for("pages.image_page", image_id=accepted.image_id), code=303)
    return render_template("index.html", form=form, error=None, recent=_recent())


@bp.get("/images/<image_id>")
def image_page(image_id: str) -> str:
    """An image's page: live status, every variant, and a srcset snippet."""
    svc = services()
    manifest = images.read_manifest(svc.storage, image_id)
    view = image_view(svc, manifest)
    return render_template(
        "image.html",
        image=view,
        snippet=srcset_snippet(manifest, request.host_url.rstrip("/")),
    )
