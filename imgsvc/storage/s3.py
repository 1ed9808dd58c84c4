"""S3 storage through boto3 (AWS, MinIO, moto), in the style of django-storages.

The boto3 client is created on first use, so building the backend costs
nothing and a forked worker makes its own client. A missing object becomes
``ObjectNotFound``; network faults and 5xx answers become ``StorageUnavailable``
(retryable), never a botocore exception.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from imgsvc.errors import ObjectNotFound, StorageUnavailable
from imgsvc.storage.base import ObjectInfo, check_key, check_prefix

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Storage:
    """Objects stored in ``bucket`` under an optional key ``prefix``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.region = region
        self.timeout = timeout
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 S3 client, created lazily (once per process)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3
                    from botocore.config import Config

                    self._client = boto3.session.Session().client(
                        "s3",
                        endpoint_url=self.endpoint_url,
                        region_name=self.region,
                        config=Config(
                            connect_timeout=self.timeout,
                            read_timeout=self.timeout,
                            retries={"max_attempts": 2, "mode": "standard"},
                        ),
                    )
        return self._client

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if str(error.get("Code")) in _MISSING:
                raise ObjectNotFound(f"No object {key}") from exc
            raise StorageUnavailable(f"S3 error on {key}: {error.get('Code')}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 unreachable: {exc}") from exc

    def put(self, key: str, data: bytes, content_type: str) -> None:
        with self._errors(key):
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
            )

    def get(self, key: str) -> bytes:
        with self._errors(key):
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return response["Body"].read()

    def head(self, key: str) -> ObjectInfo:
        with self._errors(key):
            response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        return ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            content_type=response.get("ContentType", "application/octet-stream"),
        )

    def exists(self, key: str) -> bool:
        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list_keys(prefix)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self._key(key)} for key in keys[start : start + 1000]]
            with self._errors(prefix):
                self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
        return len(keys)

    def _pages(self, prefix: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors(prefix):
            yield from paginator.paginate(
                Bucket=self.bucket, Prefix=self.prefix + check_prefix(prefix), **kwargs
            )

    def list_keys(self, prefix: str) -> list[str]:
        strip = len(self.prefix)
        keys = [
            item["Key"][strip:] for page in self._pages(prefix) for item in page.get("Contents", [])
        ]
        return sorted(keys)

    def list_children(self, prefix: str) -> list[str]:
        base = self.prefix + prefix
        names = [
            common["Prefix"][len(base) :].rstrip("/")
            for page in self._pages(prefix, Delimiter="/")
            for common in page.get("CommonPrefixes", [])
        ]
        return sorted(names)

    def ping(self) -> None:
        with self._errors("bucket"):
            self.client.head_bucket(Bucket=self.bucket)
