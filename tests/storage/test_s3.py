"""S3 backend specifics, against moto's server on loopback (never AWS)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from imgsvc.errors import InvalidKey, ObjectNotFound, StorageUnavailable
from imgsvc.storage import S3Storage, Storage, storage_from_url
from tests.conftest import BUCKET
from tests.support import free_port

EVERY_CALL: dict[str, Callable[[Storage], Any]] = {
    "ping": lambda storage: storage.ping(),
    "put": lambda storage: storage.put("images/a/original", b"x", "image/png"),
    "get": lambda storage: storage.get("images/a/original"),
    "head": lambda storage: storage.head("images/a/original"),
    "exists": lambda storage: storage.exists("images/a/original"),
    "list_keys": lambda storage: storage.list_keys("images/"),
    "iter_keys": lambda storage: list(storage.iter_keys("images/", start_after="images/a")),
    "delete_prefix": lambda storage: storage.delete_prefix("images/a/"),
}


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """A loopback socket that queues connections and never accepts or answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        server.setblocking(False)
        yield server


def _endpoint(server: socket.socket) -> str:
    return f"http://127.0.0.1:{server.getsockname()[1]}"


def _count_clients(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every boto3 client created from now on."""
    made: list[str] = []
    real = boto3.session.Session.client

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(kwargs.get("endpoint_url") or "")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "client", counting)
    return made


@pytest.mark.parametrize("call", EVERY_CALL.values(), ids=EVERY_CALL.keys())
def test_a_closed_port_is_storage_unavailable_quickly(call: Callable[[Storage], Any]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    storage = storage_from_url(f"s3://{BUCKET}/p", endpoint_url=url, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        call(storage)
    assert time.monotonic() - started < 4


def test_a_silent_endpoint_times_out_as_storage_unavailable(silent_server: socket.socket) -> None:
    storage = storage_from_url(f"s3://{BUCKET}", endpoint_url=_endpoint(silent_server), timeout=0.3)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        storage.get("images/a/original")
    assert time.monotonic() - started < 5


def test_a_missing_bucket_is_storage_unavailable(s3_endpoint: str) -> None:
    storage = storage_from_url("s3://no-such-bucket-here/p", endpoint_url=s3_endpoint, timeout=5)
    for call in ("ping", "put", "get", "list_keys", "iter_keys", "delete_prefix"):
        with pytest.raises(StorageUnavailable):
            EVERY_CALL[call](storage)


@pytest.mark.parametrize(
    ("code", "status"), [("InternalError", 500), ("SlowDown", 503), ("AccessDenied", 403)]
)
def test_server_errors_are_storage_unavailable(
    s3_storage: S3Storage, code: str, status: int
) -> None:
    with Stubber(s3_storage.client) as stub:
        stub.add_client_error("get_object", service_error_code=code, http_status_code=status)
        with pytest.raises(StorageUnavailable, match=code):
            s3_storage.get("images/a/original")


def test_the_url_prefix_is_applied_in_the_bucket(
    s3_storage: S3Storage, s3_prefix: str, s3_raw: Any
) -> None:
    s3_storage.put("images/a/original", b"png", "image/png")
    listed = s3_raw.list_objects_v2(Bucket=BUCKET, Prefix=f"{s3_prefix}/")
    assert [item["Key"] for item in listed["Contents"]] == [f"{s3_prefix}/images/a/original"]
    raw = s3_raw.get_object(Bucket=BUCKET, Key=f"{s3_prefix}/images/a/original")
    assert (raw["Body"].read(), raw["ContentType"]) == (b"png", "image/png")
    assert "Contents" not in s3_raw.list_objects_v2(Bucket=BUCKET, Prefix="images/")


def test_objects_outside_the_prefix_are_invisible(
    s3_storage: S3Storage, s3_prefix: str, s3_raw: Any, s3_endpoint: str
) -> None:
    s3_raw.put_object(Bucket=BUCKET, Key=f"{s3_prefix}-other/images/b/original", Body=b"x")
    s3_raw.put_object(Bucket=BUCKET, Key="images/c/original", Body=b"x")
    s3_storage.put("images/a/original", b"mine", "image/png")
    neighbour = storage_from_url(f"s3://{BUCKET}/{s3_prefix}-other", endpoint_url=s3_endpoint)

    assert s3_storage.list_keys("images/") == ["images/a/original"]
    assert list(s3_storage.iter_keys("images/")) == ["images/a/original"]
    assert not s3_storage.exists("images/b/original")
    assert neighbour.list_keys("images/") == ["images/b/original"]
    assert s3_storage.delete_prefix("images/") == 1
    assert neighbour.get("images/b/original") == b"x"
    assert s3_raw.get_object(Bucket=BUCKET, Key="images/c/original")["Body"].read() == b"x"


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        (f"s3://{BUCKET}", BUCKET, ""),
        (f"s3://{BUCKET}/", BUCKET, ""),
        (f"s3://{BUCKET}/a/b/", BUCKET, "a/b/"),
        ("s3://my.bucket-1/media", "my.bucket-1", "media/"),
    ],
)
def test_storage_from_url_reads_bucket_and_prefix(url: str, bucket: str, prefix: str) -> None:
    built = storage_from_url(url, endpoint_url="http://127.0.0.1:9", timeout=3)
    assert isinstance(built, S3Storage)
    assert (built.bucket, built.prefix, built.timeout) == (bucket, prefix, 3)


@pytest.mark.parametrize(
    "url",
    [
        "s3://",
        "s3:///prefix",
        "s3://Bad_Bucket/x",
        "s3://b/p",
        "s3://bucket/../up",
        "s3://bucket/a//b",
        "s3://bucket/.hidden",
        "s3://bucket/p?region=x",
    ],
)
def test_storage_from_url_rejects_bad_s3_urls(url: str) -> None:
    with pytest.raises(ValueError):
        storage_from_url(url)


def test_building_the_backend_makes_no_client_and_no_connection(
    silent_server: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _count_clients(monkeypatch)
    storage_from_url(f"s3://{BUCKET}/p", endpoint_url=_endpoint(silent_server))
    S3Storage(BUCKET, endpoint_url=_endpoint(silent_server))
    assert made == []
    with pytest.raises(BlockingIOError):
        silent_server.accept()  # nobody knocked


def test_bad_keys_are_refused_before_any_client_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    made = _count_clients(monkeypatch)
    storage = storage_from_url(f"s3://{BUCKET}", endpoint_url="http://127.0.0.1:9")
    for key in ("../x", "a//b", ""):
        with pytest.raises(InvalidKey):
            storage.get(key)
        with pytest.raises(InvalidKey):
            storage.list_keys(key)
    assert made == []


def test_one_client_per_backend_even_when_threads_race(
    s3_storage: S3Storage, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _count_clients(monkeypatch)
    start = threading.Barrier(8)
    answers: list[bool] = []

    def use() -> None:
        start.wait(timeout=10)
        answers.append(s3_storage.exists("images/a/original"))

    threads = [threading.Thread(target=use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    s3_storage.put("images/a/original", b"x", "image/png")
    s3_storage.list_keys("images/")
    assert answers == [False] * 8
    assert made == [s3_endpoint]


def test_a_forked_process_makes_its_own_client(
    s3_storage: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = s3_storage.client
    assert s3_storage.client is parent
    monkeypatch.setattr(os, "getpid", lambda: -1)
    child = s3_storage.client
    assert child is not parent
    assert s3_storage.client is child
    s3_storage.put("images/a/original", b"x", "image/png")
    assert s3_storage.get("images/a/original") == b"x"


def _record(client: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every ``operation`` request ``client`` makes from now on."""
    calls: list[dict[str, Any]] = []
    client.meta.events.register(
        f"provide-client-params.s3.{operation}", lambda params, **_: calls.append(params)
    )
    return calls


def test_delete_prefix_deletes_in_batches(s3_storage: S3Storage) -> None:
    assert S3Storage.delete_batch == 1000  # the DeleteObjects limit
    s3_storage.delete_batch = 3
    for n in range(7):
        s3_storage.put(f"images/a/v{n}", b"x", "image/png")
    s3_storage.put("images/b/original", b"keep", "image/png")
    calls = _record(s3_storage.client, "DeleteObjects")

    assert s3_storage.delete_prefix("images/a/") == 7

    assert [len(call["Delete"]["Objects"]) for call in calls] == [3, 3, 1]
    assert s3_storage.list_keys("images/") == ["images/b/original"]


def test_delete_prefix_reports_objects_s3_refused_to_delete(s3_storage: S3Storage) -> None:
    s3_storage.put("images/a/original", b"x", "image/png")
    refused = {"Errors": [{"Key": "images/a/original", "Code": "AccessDenied"}]}
    with Stubber(s3_storage.client) as stub:
        stub.add_response(
            "list_objects_v2", {"Contents": [{"Key": s3_storage.prefix + "images/a/original"}]}
        )
        stub.add_response("delete_objects", refused)
        with pytest.raises(StorageUnavailable, match="AccessDenied"):
            s3_storage.delete_prefix("images/a/")


def test_listings_follow_every_page(s3_storage: S3Storage) -> None:
    s3_storage.list_page_size = 2
    keys = [f"images/{name}/{variant}" for name in "abc" for variant in ("original", "xs.jpg")]
    for key in reversed(keys):
        s3_storage.put(key, b"x", "image/png")
    calls = _record(s3_storage.client, "ListObjectsV2")

    assert s3_storage.list_keys("images/") == sorted(keys)
    assert len(calls) == 3
    assert list(s3_storage.iter_keys("images/", start_after="images/a/~")) == keys[2:]
    assert len(calls) == 5


def test_iter_keys_lists_a_page_only_when_it_is_reached(s3_storage: S3Storage) -> None:
    """A reconcile slice that stops early must not have listed the whole bucket."""
    s3_storage.list_page_size = 2
    keys = [f"images/{name}/{variant}" for name in "abc" for variant in ("original", "xs.jpg")]
    for key in keys:
        s3_storage.put(key, b"x", "image/png")
    calls = _record(s3_storage.client, "ListObjectsV2")

    walk = s3_storage.iter_keys("images/", start_after="images/a/~")
    assert calls == []
    assert [next(walk), next(walk)] == keys[2:4]
    assert len(calls) == 1
    assert list(walk) == keys[4:]


def test_a_missing_object_is_a_domain_error_not_botocore(s3_storage: S3Storage) -> None:
    from botocore.exceptions import ClientError

    for call in (s3_storage.get, s3_storage.head):
        with pytest.raises(ObjectNotFound) as caught:
            call("images/a/original")
        assert not isinstance(caught.value, ClientError)
        assert isinstance(caught.value.__cause__, ClientError)
