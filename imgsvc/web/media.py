"""Variant and original bytes at stable URLs: ``/images/<id>/<name>``.

``/images/<id>/<name>`` answers in the best format the variant was made in
that the client asks for (``Accept``): the formats of ``ACCEPT_FORMATS``
(AVIF, then WebP, by default) when the client names them, else the primary
(JPEG, or WebP/PNG with alpha). A format is taken only when ``Accept`` names
it explicitly (``image/avif``), never through ``*/*`` or ``image/*``: a client
that sends only wildcards (curl, old browsers) may not decode it. Each
format has its own ETag, and every answer of a variant that has more than
one format carries ``Vary: Accept``, its fallback included, so a shared cache
keeps one copy per ``Accept`` instead of serving AVIF to a client that asked
for JPEG. ``<name>.<ext>`` always answers in that one format.

While a job stores the primaries and then makes the extra formats (the
manifest's ``extras: "pending"``), the bare URL answers the primary with
``Vary: Accept`` and a short ``max-age`` instead of ``immutable``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from imgsvc import images
from imgsvc.errors import NotFound
from imgsvc.extensions import services
from imgsvc.imaging import file_extension, parse_extra_formats, parse_variants
from imgsvc.settings import Settings

bp = Blueprint("media", __name__)

IMMUTABLE = "public, max-age=31536000, immutable"
# A primary served while its extra formats are still being made (see ``variant``).
PENDING = "public, max-age=10"
_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/tiff": "tif",
    "image/heif": "heic",
    "image/avif": "avif",
}
VARY_ACCEPT = {"Vary": "Accept"}


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
    ``<name>`` alone is negotiated (see the module's doc).
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
        if not dot and _extra_extensions(config) & set(_preferred(config)):
            error.headers = dict(VARY_ACCEPT)  # once made, this URL is negotiated
        raise error
    if dot:
        entry = entry.get("formats", {}).get(extension)
        if entry is None:
            raise NotFound(f"Variant {name!r} was not made as {extension!r}.")
        return _send(entry["key"], entry["content_type"], entry["etag"])
    preferred = _preferred(config)
    if manifest.get("extras") == "pending" and preferred:
        # The primary is stored, its extra formats are on their way: answer it,
        # but only for a while, so no cache keeps it from clients that want those.
        headers = {**VARY_ACCEPT, "Cache-Control": PENDING}
        return _send(entry["key"], entry["content_type"], entry["etag"], **headers)
    chosen, negotiable = negotiate(entry, preferred, request.accept_mimetypes)
    headers = VARY_ACCEPT if negotiable else {}
    return _send(chosen["key"], chosen["content_type"], chosen["etag"], **headers)


def negotiate(
    entry: dict[str, Any], preferred: list[str], accept: Any
) -> tuple[dict[str, Any], bool]:
    """The format of a variant's manifest ``entry`` to answer with, and whether
    the answer depends on ``Accept`` at all (it has more than one format).

    ``preferred`` lists extensions best first (``["avif", "webp"]``); the
    primary comes after them. The client's quality for each format is what
    ``accept`` (a werkzeug ``MIMEAccept``) names explicitly, or for the primary
    alone also through wildcards; the highest quality wins, ties go to the
    order of ``preferred``. When the client accepts none, the primary answers.
    """
    formats = entry.get("formats", {})
    choices = [formats[ext] for ext in preferred if ext in formats]
    choices = [f for f in choices if f["content_type"] != entry["content_type"]]
    if not choices:
        return entry, False
    best, best_quality = entry, accept.quality(entry["content_type"])
    for choice in choices:
        quality = _named_quality(accept, choice["content_type"])
        if quality > best_quality or (quality == best_quality and quality > 0 and best is entry):
            best, best_quality = choice, quality
    return best, True


def _named_quality(accept: Any, content_type: str) -> float:
    """The quality ``accept`` gives ``content_type`` by name (0 if only by a wildcard)."""
    qualities = [q for value, q in accept if value.lower() == content_type]
    return max(qualities, default=0)


def _preferred(config: Settings) -> list[str]:
    """The extensions of ``ACCEPT_FORMATS``, best first (none if malformed)."""
    try:
        return [file_extension(fmt) for fmt in parse_extra_formats(config.ACCEPT_FORMATS)]
    except ValueError:
        return []


def _extra_extensions(config: Settings) -> set[str]:
    """The extensions ``EXTRA_FORMATS`` asks for (none if the setting is malformed)."""
    try:
        return {file_extension(fmt) for fmt in parse_extra_formats(config.EXTRA_FORMATS)}
    except ValueError:
        return set()
