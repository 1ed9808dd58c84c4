"""Where variant bytes are read from when reads bypass the web tier (S3 only).

- ``MEDIA_BASE_URL`` (a CDN or a public bucket): variant URLs in the API, the
  pages and the srcset snippet point at ``<base>/<object key>`` directly, and
  ``GET /images/<id>/<name>`` redirects there.
- ``MEDIA_REDIRECT``: the URLs stay ``/images/<id>/<name>``, which answers a
  302 to a presigned GET of the object, valid ``MEDIA_REDIRECT_EXPIRY`` s.

Without either (and always with file storage) the web serves the bytes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from imgsvc.extensions import Services
from imgsvc.settings import Settings
from imgsvc.storage import S3Storage, Storage, storage_from_settings


def check_media_settings(settings: Mapping[str, Any], storage: Storage) -> None:
    """Raise ``ValueError`` (at start) for ``MEDIA_BASE_URL`` or ``MEDIA_REDIRECT``
    without S3 storage, or a base URL that is not absolute http(s)."""
    config = Settings(settings)
    base = config.MEDIA_BASE_URL
    if (base or config.MEDIA_REDIRECT) and not isinstance(storage, S3Storage):
        raise ValueError("MEDIA_BASE_URL and MEDIA_REDIRECT need S3 storage (STORAGE_URL=s3://)")
    if base:
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError(f"MEDIA_BASE_URL must be an absolute http(s) URL, not {base!r}")


def public_url(svc: Services, key: str) -> str | None:
    """The object's URL on ``MEDIA_BASE_URL``, or None when reads go through the web."""
    base = svc.config.MEDIA_BASE_URL
    storage = svc.storage
    if not base or not isinstance(storage, S3Storage):
        return None
    return f"{base.rstrip('/')}/{quote(storage.object_key(key))}"


def with_public_urls(svc: Services, manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with each variant's (and extra format's) URL on ``MEDIA_BASE_URL``;
    ``manifest`` itself when reads go through the web."""
    if not svc.config.MEDIA_BASE_URL:
        return manifest
    rewritten = copy.deepcopy(manifest)
    for variant in rewritten.get("variants", {}).values():
        entries = [variant, *(variant.get("formats") or {}).values()]
        for entry in entries:
            if isinstance(entry, dict) and entry.get("key"):
                entry["url"] = public_url(svc, entry["key"]) or entry.get("url")
    return rewritten


def media_origins(settings: Mapping[str, Any]) -> list[str]:
    """The origins the pages load images from besides their own (for the CSP).

    Built from the settings, not the app's shared clients, which stay lazy;
    presigning a URL is local (no request).
    """
    config = Settings(settings)
    if config.MEDIA_BASE_URL:
        parts = urlsplit(config.MEDIA_BASE_URL)
        return [f"{parts.scheme}://{parts.netloc}"]
    if config.MEDIA_REDIRECT:
        storage = storage_from_settings(settings)
        if isinstance(storage, S3Storage):
            parts = urlsplit(storage.presigned_get("images/origin-probe", 60))
            return [f"{parts.scheme}://{parts.netloc}"]
    return []
