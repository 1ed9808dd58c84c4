"""Variant and original bytes at stable URLs: ``/images/<id>/<name>``."""

from __future__ import annotations

from flask import Blueprint, Response, request

from imgsvc import images
from imgsvc.errors import NotFound
from imgsvc.extensions import services
from imgsvc.imaging import file_extension, parse_extra_formats, parse_variants
from imgsvc.settings import Settings

bp = Blueprint("media", __name__)

IMMUTABLE = "public, max-age=31536000, immutable"
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/tiff": "tif",
    "image/heif": "heic",
    "image/avif": "avif",
}


def _send(key: str, content_type: str, etag: str, **headers: str) -> Response:
    tag = f'"{etag}"'
    base = {"ETag": tag, "Cache-Control": IMMUTABLE, **headers}
    if request.if_none_match.contains_weak(etag):
        return Response(status=304, headers=base)
    data = services().storage.get(key)
    return Response(data, status=200, content_type=content_type, headers=base)


@bp.get("/images/<image_id>/original")
def original(image_id: str) -> Response:
    """The uploaded file, always as an attachment (never rendered inline)."""
    manifest = images.load_manifest(services(), image_id)
    info = manifest["original"]
    filename = f"{image_id}.{_EXTENSIONS.get(info['content_type'], 'bin')}"
    return _send(
        images.original_key(image_id),
        info["content_type"],
        info["etag"],
        **{"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/images/<image_id>/<name>")
def variant(image_id: str, name: str) -> Response:
    """One variant's bytes; 404 with ``Retry-After`` while it is not made yet.

    ``<name>.<ext>`` is the same variant in an extra format (``EXTRA_FORMATS``),
    e.g. ``/images/<id>/md.avif``; an extension that was not made is a 404.
    """
    config = services().config
    name, dot, extension = name.partition(".")
    if name not in {spec.name for spec in parse_variants(config.VARIANTS)}:
        raise NotFound(f"No variant named {name!r}.")
    manifest = images.load_manifest(services(), image_id)
    entry = manifest.get("variants", {}).get(name)
    if entry is None:
        if manifest["status"] == "failed":
            raise NotFound("This image failed to process; it has no variants.")
        if dot and extension not in _extra_extensions(config):
            raise NotFound(f"Variants are not made as {extension!r}.")
        error = NotFound(f"Variant {name!r} is not ready yet.")
        error.retry_after = 2
        raise error
    if dot:
        entry = entry.get("formats", {}).get(extension)
        if entry is None:
            raise NotFound(f"Variant {name!r} was not made as {extension!r}.")
    return _send(entry["key"], entry["content_type"], entry["etag"])


def _extra_extensions(config: Settings) -> set[str]:
    """The extensions ``EXTRA_FORMATS`` asks for (none if the setting is malformed)."""
    try:
        return {file_extension(fmt) for fmt in parse_extra_formats(config.EXTRA_FORMATS)}
    except ValueError:
        return set()
