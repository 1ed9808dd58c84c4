"""Helpers shared by the web tests."""

from __future__ import annotations

import io
import re

import pytest


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


@pytest.fixture
def processed(client, run_worker):
    """Upload ``data`` and run the worker; return the API's upload body."""

    def make(data: bytes, filename: str = "photo.jpg") -> dict:
        response = upload(client, data, filename)
        assert response.status_code == 202, response.get_json()
        run_worker()
        return response.get_json()

    return make
