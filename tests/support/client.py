"""Helpers for Flask's test client: an upload to the JSON API, a page's CSRF token,
waiting for an image to finish."""

from __future__ import annotations

import io
import re

from tests.support.wait import wait_until


def upload(client, data: bytes, filename: str = "photo.jpg", headers: dict | None = None):
    """POST one file to the JSON API."""
    return client.post(
        "/api/images",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
        headers=headers or {},
    )


def stored_image_ids(app) -> set[str]:
    """The ids of the images the app's storage holds (any object of theirs)."""
    return {key.split("/")[1] for key in app.extensions["imgsvc"].storage.list_keys("images/")}


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def wait_final(client, image_id: str, timeout: float = 90) -> dict:
    """Poll the JSON API through ``client`` until the image is ``done`` or
    ``failed``; its body (:func:`tests.support.wait.wait_final` over HTTP)."""

    def final() -> dict | None:
        body = client.get(f"/api/images/{image_id}").get_json()
        return body if body["status"] in ("done", "failed") else None

    return wait_until(
        final, timeout=timeout, interval=0.1, message=f"image {image_id} not processed"
    )
