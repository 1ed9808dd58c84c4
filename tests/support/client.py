"""Helpers for Flask's test client: an upload to the JSON API, a page's CSRF token."""

from __future__ import annotations

import io
import re


def upload(client, data: bytes, filename: str = "photo.jpg"):
    """POST one file to the JSON API."""
    return client.post(
        "/api/images",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)
