"""Storage backends behind one small protocol, chosen by ``STORAGE_URL``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from imgsvc.errors import InvalidKey
from imgsvc.settings import Settings
from imgsvc.storage.base import ObjectInfo, Storage, check_key
from imgsvc.storage.filesystem import FilesystemStorage
from imgsvc.storage.s3 import S3Storage

__all__ = [
    "FilesystemStorage",
    "ObjectInfo",
    "S3Storage",
    "Storage",
    "check_key",
    "storage_from_settings",
    "storage_from_url",
]

# S3 bucket naming rules (also MinIO's): 3-63 lowercase letters, digits, dots, dashes.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")


def storage_from_url(
    url: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    timeout: float = 10.0,
    public_endpoint_url: str | None = None,
) -> Storage:
    """Build a backend from ``file:///abs/path`` or ``s3://bucket[/prefix]``.

    Raises ``ValueError`` for anything else: a relative path, an unknown scheme,
    a bad bucket name, or a prefix that is not a plain ``a/b`` key.
    """
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ValueError(f"STORAGE_URL takes no query or fragment: {url!r}")
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc or not path.startswith("/"):
            raise ValueError(f"STORAGE_URL must be file:///absolute/path, not {url!r}")
        return FilesystemStorage(path)
    if parts.scheme == "s3":
        if not _BUCKET.fullmatch(parts.netloc):
            raise ValueError(f"STORAGE_URL must name a valid bucket: {url!r}")
        prefix = unquote(parts.path).strip("/")
        try:
            if prefix:
                check_key(prefix)
        except InvalidKey:
            raise ValueError(f"STORAGE_URL has an invalid key prefix: {url!r}") from None
        return S3Storage(
            parts.netloc,
            prefix=prefix,
            endpoint_url=endpoint_url,
            region=region,
            timeout=timeout,
            public_endpoint_url=public_endpoint_url,
        )
    raise ValueError(f"Unsupported STORAGE_URL scheme in {url!r}: use file:// or s3://")


def storage_from_settings(settings: Mapping[str, Any]) -> Storage:
    """Build the backend the settings name; ``ValueError`` as :func:`storage_from_url`."""
    config = Settings(settings)
    return storage_from_url(
        config.STORAGE_URL,
        endpoint_url=config.S3_ENDPOINT_URL or None,
        region=config.S3_REGION or None,
        timeout=config.STORAGE_TIMEOUT,
        public_endpoint_url=config.S3_PUBLIC_ENDPOINT_URL or None,
    )
