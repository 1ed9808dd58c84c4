"""Status polls and media requests answer from Redis without reading storage."""

from __future__ import annotations

import pytest

from tests import factories
from tests.support.client import upload


@pytest.fixture
def storage_reads(app, monkeypatch) -> list[str]:
    storage = app.extensions["imgsvc"].storage
    reads: list[str] = []
    original_get = storage.get

    def counting_get(key: str) -> bytes:
        reads.append(key)
        return original_get(key)

    monkeypatch.setattr(storage, "get", counting_get)
    return reads


def test_polling_a_queued_image_reads_no_storage(app, client, storage_reads):
    image_id = upload(client, factories.jpeg()).get_json()["id"]
    for _ in range(10):
        assert client.get(f"/api/images/{image_id}").get_json()["status"] == "queued"
    assert storage_reads == []


def test_a_finished_image_is_read_from_storage_once_then_from_redis(
    app, client, run_worker, storage_reads
):
    image_id = upload(client, factories.jpeg()).get_json()["id"]
    run_worker()
    for _ in range(10):
        assert client.get(f"/api/images/{image_id}").get_json()["status"] == "done"
    etag = client.get(f"/images/{image_id}/sm").headers["ETag"]
    storage_reads.clear()

    assert client.get(f"/images/{image_id}/sm", headers={"If-None-Match": etag}).status_code == 304
    assert client.get(f"/api/images/{image_id}").get_json()["status"] == "done"
    assert storage_reads == []  # neither the manifest nor the variant was read


def test_lost_cache_falls_back_to_storage_and_refills(app, client, run_worker, storage_reads):
    image_id = upload(client, factories.jpeg()).get_json()["id"]
    run_worker()
    app.extensions["imgsvc"].redis.flushdb()
    storage_reads.clear()
    assert client.get(f"/api/images/{image_id}").get_json()["status"] == "done"
    assert storage_reads == [f"images/{image_id}/manifest.json"]
    assert client.get(f"/api/images/{image_id}").get_json()["status"] == "done"
    assert len(storage_reads) == 1


def test_deleted_image_is_gone_from_the_cache(app, client, run_worker):
    body = upload(client, factories.jpeg()).get_json()
    run_worker()
    client.get(f"/api/images/{body['id']}")
    client.delete(f"/api/images/{body['id']}", headers={"X-Delete-Token": body["delete_token"]})
    assert client.get(f"/api/images/{body['id']}").status_code == 404


def test_an_upload_makes_the_images_names_durable(app, client, monkeypatch):
    """After the manifest, the last object an upload stores, the image's folder
    is synced, once: a 202 survives a power cut. (A job's manifests go through
    the same ``record.save_manifest``.)"""
    storage = app.extensions["imgsvc"].storage
    calls: list[tuple[str, str]] = []
    original_put, original_sync = storage.put, storage.sync

    def recording_put(key: str, data: object, content_type: str) -> None:
        calls.append(("put", key))
        original_put(key, data, content_type)

    def recording_sync(prefix: str) -> None:
        calls.append(("sync", prefix))
        original_sync(prefix)

    monkeypatch.setattr(storage, "put", recording_put)
    monkeypatch.setattr(storage, "sync", recording_sync)
    image_id = upload(client, factories.jpeg()).get_json()["id"]
    assert calls[-2:] == [
        ("put", f"images/{image_id}/manifest.json"),
        ("sync", f"images/{image_id}/"),
    ]
    assert [kind for kind, _key in calls].count("sync") == 1
