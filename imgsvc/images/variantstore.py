"""Rendered variants stored under their versioned keys, and their manifest entries.

Shared by the upload's job (every variant) and the variants job (only what an
image lacks): both write ``images/<id>/<name>-<tag>.<ext>`` and describe each
object in the manifest with the spec and pipeline version that made it
(:mod:`imgsvc.images.variantset`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from imgsvc import metrics
from imgsvc.images.variantset import spec_fields, versioned_key, versioned_url
from imgsvc.imaging import RenderedVariant, VariantSpec

# put(key, data, content_type): the caller's write (the jobs check the tombstone around it)
Put = Callable[[str, bytes, str], None]


def etag_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def store_variant(
    put: Put, image_id: str, spec: VariantSpec, variant: RenderedVariant
) -> dict[str, Any]:
    """Store one rendered variant (and the extra formats it carries); its manifest entry.

    Storage errors are left to raise (``StorageUnavailable`` is retried by RQ).
    """
    tag = spec.tag()
    key = versioned_key(image_id, variant.name, tag, variant.extension)
    put(key, variant.data, variant.content_type)
    metrics.record_variant(variant.format, len(variant.data))
    return {
        "key": key,
        "url": versioned_url(image_id, variant.name, tag),
        "width": variant.width,
        "height": variant.height,
        "format": variant.format,
        "content_type": variant.content_type,
        "bytes": len(variant.data),
        "etag": etag_of(variant.data),
        "formats": store_formats(put, image_id, spec, variant),
        **spec_fields(spec),
    }


def store_formats(
    put: Put, image_id: str, spec: VariantSpec, variant: RenderedVariant
) -> dict[str, Any]:
    """Store a variant's extra formats next to its primary (stored by
    :func:`store_variant`); the manifest entry's ``formats``. The primary's own
    format reuses the primary's object. Storage errors are left to raise.
    """
    tag = spec.tag()
    key = versioned_key(image_id, variant.name, tag, variant.extension)
    formats: dict[str, Any] = {}
    for extension, file in variant.alternates.items():
        extra_key = key
        if file.format != variant.format:  # the primary format reuses its object
            extra_key = versioned_key(image_id, variant.name, tag, extension)
            put(extra_key, file.data, file.content_type)
            metrics.record_variant(file.format, len(file.data))
        formats[extension] = {
            "key": extra_key,
            "url": versioned_url(image_id, variant.name, tag, extension),
            "content_type": file.content_type,
            "bytes": len(file.data),
            "etag": etag_of(file.data),
        }
    return formats
