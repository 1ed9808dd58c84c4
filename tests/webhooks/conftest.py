"""Fixtures of the webhook tests: the signing secret (the receiver is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from imgsvc.webhooks.signing import new_secret


@pytest.fixture
def secret() -> str:
    return new_secret()
