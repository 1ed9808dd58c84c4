"""Fixtures of the webhook tests: a loopback receiver, the signing secret."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imgsvc.webhooks.signing import new_secret
from tests.support.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.hold.set()
    server.stop()


@pytest.fixture
def secret() -> str:
    return new_secret()
