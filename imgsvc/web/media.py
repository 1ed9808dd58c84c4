"""Variant and original bytes: ``/images/<id>/<ref>``.

``<ref>`` is ``<name>-<tag>`` (a variant made under one spec: immutable, cached
for a year), ``<name>`` (the alias of the current variant: revalidated, since
its bytes change with the spec), either with ``.<ext>`` for an extra format,
or ``original``. The scheme is in :mod:`imgsvc.images.variantset`. A
configured variant that a finished image lacks, or has under an older spec,
is made on demand (:mod:`imgsvc.images.ondemand`): 404 with ``Retry-After``
while its job is on its way, ``variant_failed`` once it failed. A cover crop
whose spec changed only in how the crop is chosen (a new focal point, another
``CROP``) is the exception: its alias keeps serving the old crop meanwhile.

The extension-less URLs of a variant made in extra formats (the versioned one
and the alias) answer the format ``Accept`` asks for, with ``Vary: Accept``
and one ETag per format (:mod:`imgsvc.web.negotiation`). While a job stores
the primaries and then makes the extra formats (the manifest's ``extras:
"pending"``), they answer the primary with ``Vary: Accept`` and a short
``max-age`` instead of their usual caching, so no cache keeps it from clients
that want the other formats.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from imgsvc.errors import NotFound
from imgsvc.extensions import REDIS_ERRORS, services
from imgsvc.images import ondemand, record
from imgsvc.images.variantset import find_served, image_specs, is_current, only_recropped
from imgsvc.imaging import VariantSpec, file_extension, parse_extra_formats, parse_variants
from imgsvc.settings import Settings
from imgsvc.storage import S3Storage
from imgsvc.web.mediaurls import public_url
from imgsvc.web.negotiation import VARY_ACCEPT, negotiate, preferred_extensions

__all__ = ["bp", "negotiate"]

bp = Blueprint("media", __name__)

IMMUTABLE = "public, max-age=31536000, immutable"
# A redirect to MEDIA_BASE_URL is cached for a day, not a year: after a delete
# the web answers 404 again once caches let go of the redirect.
REDIRECT_MAX_AGE = 86_400
ALIAS = "no-cache"  # the alias's bytes change with the spec: revalidate (304s read nothing)
# A primary served while its extra formats are still being made (see ``_answer``).
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


def _send(
    key: str, content_type: str, etag: str, cache: str = IMMUTABLE, **headers: str
) -> Response:
    tag = f'"{etag}"'
    base = {"ETag": tag, "Cache-Control": cache, **headers}
    if request.if_none_match.contains_weak(etag):
        return Response(status=304, headers=base)
    data = services().storage.get(key)
    return Response(data, status=200, content_type=content_type, headers=base)


@bp.get("/images/<image_id>/original")
def original(image_id: str) -> Response:
    """The uploaded file, always as an attachment (never rendered inline)."""
    manifest = record.load_manifest(services(), image_id)
    info = manifest["original"]
    if info is None:  # an upload from a URL its job has not fetched (or could not)
        raise NotFound("The original has not been fetched.")
    filename = f"{image_id}.{_EXTENSIONS.get(info['content_type'], 'bin')}"
    return _send(
        record.original_key(image_id),
        info["content_type"],
        info["etag"],
        **{"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/images/<image_id>/<name>")
def variant(image_id: str, name: str) -> Response:
    """One variant's bytes: ``name`` is the ``<ref>`` of the module docstring.

    404 for a name that is not configured (a removed variant), an unknown or
    pruned version, or an extension that was not made; 404 with ``Retry-After``
    while the variant is not made yet. Without ``.<ext>`` the format is
    negotiated (see the module's doc).
    """
    svc = services()
    specs = parse_variants(svc.config.VARIANTS)
    ref = name
    base, dot, extension = ref.partition(".")
    name, dash, tag = base.partition("-")
    if not any(each.name == name for each in specs):
        raise NotFound(f"No variant named {name!r}.")
    manifest = record.load_manifest(svc, image_id)
    specs = image_specs(manifest, svc.config)  # a cover's tag is the image's crop choice
    spec = next(each for each in specs if each.name == name)
    url = f"/images/{image_id}/{ref}"
    served = find_served(manifest, ref)
    if served is not None:
        entry = (manifest.get("variants") or {}).get(name)
        if not dash and entry is not None and not is_current(entry, spec, manifest["original"]):
            _ask_quietly(specs, manifest)  # a pre-versioning URL keeps its bytes; make the new
        return _answer(manifest, served, negotiated=not dot, cache=IMMUTABLE)
    if url in (manifest.get("pruned") or []):
        raise NotFound(f"Variant {name!r} of this image was pruned.")
    if dash and tag != spec.tag():
        raise NotFound(f"No version {tag!r} of variant {name!r}.")
    _not_made_yet(svc.config, manifest, name, dot and extension)
    entry = manifest["variants"].get(name)
    current = entry is not None and is_current(entry, spec, manifest["original"])
    if current or (entry is not None and only_recropped(entry, spec)):
        if not current:  # a new focal point or CROP: the old crop stands in while it is made
            _ask_quietly(specs, manifest)
        if dot:  # the alias of an extra format
            entry = (entry.get("formats") or {}).get(extension)
            if entry is None:
                raise NotFound(f"Variant {name!r} was not made as {extension!r}.")
        return _answer(manifest, entry, negotiated=not dot, cache=ALIAS)
    if dot and extension not in _extra_extensions(svc.config):
        raise NotFound(f"Variants are not made as {extension!r}.")
    try:
        ondemand.request_variants(svc, image_id, specs)
    except REDIS_ERRORS as exc:
        raise ondemand.pending() from exc
    raise ondemand.pending()  # request_variants always raises; for the type checker


def _not_made_yet(config: Settings, manifest: dict[str, Any], name: str, extension: str) -> None:
    """Raise for an image that is not ``done``: failed (no variants), or still in
    its upload job (404 with ``Retry-After``)."""
    status = manifest["status"]
    if status == "done" or manifest.get("extras") == "pending":  # primaries are stored
        return
    if status == "failed":
        raise NotFound("This image failed to process; it has no variants.")
    if extension and extension not in _extra_extensions(config):
        raise NotFound(f"Variants are not made as {extension!r}.")
    error = NotFound(f"Variant {name!r} is not ready yet.")
    error.retry_after = 2
    if not extension and _extra_extensions(config) & set(preferred_extensions(config)):
        error.headers = dict(VARY_ACCEPT)  # once made, this URL is negotiated
    raise error


def _answer(
    manifest: dict[str, Any], entry: dict[str, Any], *, negotiated: bool, cache: str
) -> Response:
    """Send (or redirect to) ``entry``'s bytes; for an extension-less URL
    (``negotiated``), in the format ``Accept`` chooses among the variant's.

    While the extra formats are still being made the primary answers with
    ``Vary: Accept`` and the short ``PENDING`` caching, whatever ``cache`` is.
    """
    preferred = preferred_extensions(services().config) if negotiated else []
    headers: dict[str, str] = {}
    if preferred and manifest.get("extras") == "pending":
        headers, cache = dict(VARY_ACCEPT), PENDING
    elif preferred:
        entry, negotiable = negotiate(entry, preferred, request.accept_mimetypes)
        headers = dict(VARY_ACCEPT) if negotiable else {}
    redirect = _redirect(entry["key"], alias=cache != IMMUTABLE)
    if redirect is not None:
        redirect.headers.update(headers)
        return redirect
    return _send(entry["key"], entry["content_type"], entry["etag"], cache=cache, **headers)


def _ask_quietly(specs: list[VariantSpec], manifest: dict[str, Any]) -> None:
    """Enqueue the image's missing variants, if needed, without changing the answer."""
    ondemand.variants_status(services(), manifest["id"], specs)


def _redirect(key: str, alias: bool = False) -> Response | None:
    """A 302 to where the bytes are read without the web (``MEDIA_BASE_URL``, or a
    presigned GET with ``MEDIA_REDIRECT``); None when the web serves them.

    A presigned redirect is cacheable for half the signature's lifetime, so a
    cached redirect never leads to an expired signature. The alias's redirect is
    revalidated, as the alias itself: its target changes with the spec.
    """
    svc = services()
    target = public_url(svc, key)
    max_age = REDIRECT_MAX_AGE
    storage = svc.storage
    if target is None and svc.config.MEDIA_REDIRECT and isinstance(storage, S3Storage):
        expiry = svc.config.MEDIA_REDIRECT_EXPIRY
        target, max_age = storage.presigned_get(key, expiry), expiry // 2
    if target is None:
        return None
    response = Response(status=302, headers={"Location": target})
    response.headers["Cache-Control"] = ALIAS if alias else f"public, max-age={max_age}"
    return response


def _extra_extensions(config: Settings) -> set[str]:
    """The extensions ``EXTRA_FORMATS`` asks for (none if the setting is malformed)."""
    try:
        return {file_extension(fmt) for fmt in parse_extra_formats(config.EXTRA_FORMATS)}
    except ValueError:
        return set()
