"""S3 storage through boto3 (AWS, MinIO, moto), in the style of django-storages.

The boto3 client is created on first use, once per backend and process, so
building the backend costs nothing and a forked worker makes its own client.
A missing object becomes ``ObjectNotFound``; network faults, 5xx answers and a
missing bucket become ``StorageUnavailable`` (retryable), never a botocore
exception. Keys are checked before any client is made.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

from imgsvc.errors import ObjectNotFound, StorageUnavailable
from imgsvc.storage.base import ObjectInfo, check_key, check_prefix

_MISSING = {"404", "NoSuchKey", "NotFound"}
_SESSION_LOCK = threading.Lock()
_SESSION: tuple[int, Any] | None = None


def _session() -> Any:
    """This process's boto3 session: it caches the S3 model, which is slow to load."""
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None or _SESSION[0] != os.getpid():
            import boto3

            _SESSION = (os.getpid(), boto3.session.Session())
        return _SESSION[1]


class S3Storage:
    """Objects stored in ``bucket`` under an optional key ``prefix``."""

    #: Keys per ``DeleteObjects`` request (the S3 API's maximum).
    delete_batch = 1000
    #: Keys per ``ListObjectsV2`` page (``None``: the server's default, 1000).
    list_page_size: int | None = None

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        timeout: float = 10.0,
        public_endpoint_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        # Presigned URLs are for clients: signed for the endpoint they reach.
        self.public_endpoint_url = public_endpoint_url or endpoint_url
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.region = region
        self.timeout = timeout
        self._client: Any = None
        self._client_pid = 0
        self._signer: Any = None
        self._signer_pid = 0
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 S3 client, created lazily (once per backend and process)."""
        pid = os.getpid()
        if self._client is None or self._client_pid != pid:
            with self._lock:
                if self._client is None or self._client_pid != pid:
                    self._client = self._make_client()
                    self._client_pid = pid
        return self._client

    @property
    def signer(self) -> Any:
        """The client that signs presigned URLs, for ``public_endpoint_url`` (no requests)."""
        if self.public_endpoint_url == self.endpoint_url:
            return self.client
        pid = os.getpid()
        if self._signer is None or self._signer_pid != pid:
            with self._lock:
                if self._signer is None or self._signer_pid != pid:
                    self._signer = self._make_client(self.public_endpoint_url)
                    self._signer_pid = pid
        return self._signer

    def _make_client(self, endpoint_url: str | None = None) -> Any:
        from botocore.config import Config

        session = _session()
        with _SESSION_LOCK:  # a boto3 session is not thread-safe; its clients are
            return session.client(
                "s3",
                endpoint_url=endpoint_url or self.endpoint_url,
                region_name=self.region,
                config=Config(
                    connect_timeout=self.timeout,
                    read_timeout=self.timeout,
                    retries={"total_max_attempts": 2, "mode": "standard"},
                ),
            )

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    @contextmanager
    def _errors(self, key: str, missing: bool = True) -> Iterator[None]:
        """Turn botocore errors into domain errors (``missing``: 404 is ObjectNotFound)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code"))
            if missing and code in _MISSING:
                raise ObjectNotFound(f"No object {key}") from exc
            raise StorageUnavailable(f"S3 error on {key}: {code}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"S3 unreachable: {exc}") from exc

    def put(self, key: str, data: bytes | BinaryIO, content_type: str) -> None:
        """Store ``data`` under ``key``, replacing any object there."""
        full = self._key(key)
        with self._errors(key):
            self.client.put_object(
                Bucket=self.bucket, Key=full, Body=data, ContentType=content_type
            )

    def sync(self, prefix: str) -> None:
        """Nothing to do: an S3 PUT is durable, name and bytes, when it returns."""
        check_prefix(prefix)

    def get(self, key: str) -> bytes:
        """The bytes stored under ``key``."""
        full = self._key(key)
        with self._errors(key):
            return self.client.get_object(Bucket=self.bucket, Key=full)["Body"].read()

    def head(self, key: str) -> ObjectInfo:
        """Size and content type of ``key``."""
        full = self._key(key)
        with self._errors(key):
            response = self.client.head_object(Bucket=self.bucket, Key=full)
        return ObjectInfo(
            key=key,
            size=int(response["ContentLength"]),
            content_type=response.get("ContentType", "application/octet-stream"),
            modified=response["LastModified"].timestamp(),
        )

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        try:
            self.head(key)
        except ObjectNotFound:
            return False
        return True

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; return how many."""
        keys = self.list_keys(prefix)
        for start in range(0, len(keys), self.delete_batch):
            batch = [{"Key": self.prefix + key} for key in keys[start : start + self.delete_batch]]
            with self._errors(prefix, missing=False):
                response = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            if response.get("Errors"):
                first = response["Errors"][0]
                raise StorageUnavailable(
                    f"S3 could not delete {len(response['Errors'])} objects under {prefix}: "
                    f"{first.get('Code')} on {first.get('Key')}"
                )
        return len(keys)

    def _pages(self, prefix: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """The ``ListObjectsV2`` pages under ``prefix`` (already checked)."""
        if self.list_page_size:
            kwargs["PaginationConfig"] = {"PageSize": self.list_page_size}
        with self._errors(prefix, missing=False):
            paginator = self.client.get_paginator("list_objects_v2")
            yield from paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix, **kwargs)

    def list_keys(self, prefix: str) -> list[str]:
        """Every key that starts with ``prefix``, sorted."""
        return sorted(self.iter_keys(prefix))

    def iter_keys(self, prefix: str, *, start_after: str = "") -> Iterator[str]:
        """The keys under ``prefix`` after the key ``start_after``, in S3's (key)
        order, one LIST page at a time as they are consumed."""
        strip = len(self.prefix)
        kwargs = {"StartAfter": self.prefix + start_after} if start_after else {}
        for page in self._pages(check_prefix(prefix), **kwargs):
            for item in page.get("Contents", []):
                yield item["Key"][strip:]

    def object_key(self, key: str) -> str:
        """``key``'s name in the bucket (with the backend's prefix)."""
        return self._key(key)

    def read_head(self, key: str, length: int) -> bytes:
        """At most the first ``length`` bytes of ``key``: one ranged GET."""
        full = self._key(key)
        with self._errors(key):
            response = self.client.get_object(
                Bucket=self.bucket, Key=full, Range=f"bytes=0-{max(length, 1) - 1}"
            )
            return response["Body"].read(length)

    def presigned_post(self, key: str, max_bytes: int, expires: int) -> dict[str, Any]:
        """A browser-style POST form (``{"url", "fields"}``) that stores one file of
        1 to ``max_bytes`` bytes under ``key`` within ``expires`` seconds; S3
        refuses anything else. Signing is local: no request is sent."""
        full = self._key(key)
        with self._errors(key, missing=False):
            form: dict[str, Any] = self.signer.generate_presigned_post(
                Bucket=self.bucket,
                Key=full,
                Conditions=[["content-length-range", 1, max_bytes]],
                ExpiresIn=expires,
            )
        return form

    def presigned_get(self, key: str, expires: int) -> str:
        """A URL that reads ``key`` without credentials for ``expires`` seconds
        (signed locally; a missing object is S3's 404 at that URL)."""
        full = self._key(key)
        with self._errors(key, missing=False):
            url: str = self.signer.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": full}, ExpiresIn=expires
            )
        return url

    def ping(self) -> None:
        """Raise ``StorageUnavailable`` unless the bucket answers (and exists)."""
        with self._errors(f"bucket {self.bucket}", missing=False):
            self.client.head_bucket(Bucket=self.bucket)
