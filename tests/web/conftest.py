"""Fixtures of the web tests (their helpers are in tests/support/client.py)."""

from __future__ import annotations

import pytest

from tests.support.client import upload


@pytest.fixture
def processed(client, run_worker):
    """Upload ``data`` and run the worker; return the API's upload body."""

    def make(data: bytes, filename: str = "photo.jpg") -> dict:
        response = upload(client, data, filename)
        assert response.status_code == 202, response.get_json()
        run_worker()
        return response.get_json()

    return make
