"""Uploads from a URL: the image job fetches the original before it processes it.

The fetch keeps the fetcher's rules (:func:`imgsvc.fetch.fetch_file`): every
hop resolved and checked against ``FETCH_ALLOWLIST``, at most
``FETCH_MAX_REDIRECTS`` redirects, ``FETCH_TIMEOUT`` for the whole fetch, and
the upload's own byte limit, ``MAX_CONTENT_LENGTH``. Only ``image/*`` answers
are read; the body then gets the same header check as an upload
(:func:`imgsvc.imaging.probe`) before anything is stored. A failure ends the
image ``failed`` with the fetcher's code (``fetch_failed``, ``fetch_too_large``,
``fetch_timeout``, ``unsupported_content_type``, ``destination_not_allowed``)
or the header check's; only connection errors and 5xx answers are retried.
"""

from __future__ import annotations

import io
from typing import Any

from imgsvc.config import csv_list
from imgsvc.extensions import Services
from imgsvc.fetch import IMAGES, FetchLimits, fetch_file
from imgsvc.images import record, tombstones
from imgsvc.imaging import probe
from imgsvc.imaging.structure import StructureLimits
from imgsvc.netguard import Guard

USER_AGENT = "imgsvc-fetch/1.0"


def needs_fetch(manifest: dict[str, Any]) -> bool:
    """Whether the image was uploaded from a URL and its original is not stored yet."""
    return manifest.get("original") is None and bool(manifest.get("source_url"))


def fetch_original(svc: Services, manifest: dict[str, Any]) -> dict[str, Any]:
    """Fetch the image at the manifest's ``source_url``, check its header, store it
    as the original and save the manifest with it; the updated manifest.

    Raises the fetcher's errors, the header check's (``invalid_image``,
    ``unsupported_format``, ``image_too_large``), ``ImageDeleted`` when the image
    was deleted meanwhile, and storage errors.
    """
    config = svc.config
    image_id = manifest["id"]
    fetched = fetch_file(
        manifest["source_url"],
        Guard(csv_list(config.FETCH_ALLOWLIST)),
        FetchLimits(
            max_bytes=config.MAX_CONTENT_LENGTH,
            timeout=config.FETCH_TIMEOUT,
            max_redirects=config.FETCH_MAX_REDIRECTS,
            user_agent=USER_AGENT,
        ),
        IMAGES,
    )
    info = probe(
        io.BytesIO(fetched.body),
        allowed_formats=csv_list(config.ALLOWED_FORMATS),
        max_pixels=config.MAX_IMAGE_PIXELS,
        max_frames=config.MAX_IMAGE_FRAMES,
        limits=StructureLimits.from_settings(svc.settings),
    )
    tombstones.check(svc.redis, image_id)
    svc.storage.put(record.original_key(image_id), fetched.body, info.mime_type)
    manifest["original"] = record.original_entry(image_id, info, len(fetched.body))
    record.save_manifest_unless_deleted(svc, manifest)
    return manifest
