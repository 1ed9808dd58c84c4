"""Fixtures of the storage tests: a backend per ``storage_url``, raw S3 access."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from imgsvc.storage import FilesystemStorage, S3Storage, Storage, storage_from_url
from tests.conftest import BUCKET


@pytest.fixture
def storage(storage_url: str, request: pytest.FixtureRequest) -> Storage:
    """A fresh, empty backend: a temp folder, or a unique prefix in the test bucket."""
    endpoint = request.getfixturevalue("s3_endpoint") if storage_url.startswith("s3:") else None
    return storage_from_url(storage_url, endpoint_url=endpoint, timeout=5)


@pytest.fixture
def fs_root(tmp_path: Path) -> Path:
    """The root folder of ``fs_storage``; ``tmp_path`` itself is "outside" it."""
    return tmp_path / "media"


@pytest.fixture
def fs_storage(fs_root: Path) -> FilesystemStorage:
    """A filesystem backend on ``fs_root``, built from its URL as the app does."""
    built = storage_from_url("file://" + str(fs_root))
    assert isinstance(built, FilesystemStorage)
    return built


@pytest.fixture
def s3_prefix() -> str:
    """A key prefix no other test uses."""
    return f"t-{uuid.uuid4().hex}"


@pytest.fixture
def s3_storage(s3_endpoint: str, s3_prefix: str) -> S3Storage:
    """An S3 backend on moto under ``s3_prefix``."""
    built = storage_from_url(f"s3://{BUCKET}/{s3_prefix}", endpoint_url=s3_endpoint, timeout=5)
    assert isinstance(built, S3Storage)
    return built


@pytest.fixture
def s3_raw(s3_endpoint: str) -> Any:
    """A plain boto3 client on moto, to look at the bucket behind the backend's back."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint)
