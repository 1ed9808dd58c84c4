"""DELETE wins: whatever step the job is at, nothing of the image comes back after the 204.

The job runs in this process against the real Redis and storage; a hook in its
storage performs the DELETE (through the API) at one chosen write, before or
after the write lands, so every interleaving is hit deterministically.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

import pytest

from imgsvc.extensions import worker_services
from imgsvc.images import indexes, record, tasks
from imgsvc.images.indexes import RECENT_KEY
from tests import factories
from tests.support.client import upload


@pytest.fixture
def job_services(env) -> Iterator:
    """The job functions' services, built from this test's settings."""
    worker_services.cache_clear()
    yield worker_services()
    worker_services.cache_clear()


def _status_of(key: str, data: object) -> str | None:
    """The status a manifest write stores (``None`` for any other object)."""
    if not key.endswith("/manifest.json") or not isinstance(data, bytes):
        return None
    return json.loads(data).get("status")


# Which write of the job the DELETE is hooked to.
STEPS: dict[str, Callable[[str, object], bool]] = {
    "processing manifest": lambda key, data: _status_of(key, data) == "processing",
    "first variant": lambda key, data: re.search(r"/thumb-[0-9a-f]+\.jpg$", key) is not None,
    "second variant": lambda key, data: re.search(r"/xs-[0-9a-f]+\.jpg$", key) is not None,
    "final manifest": lambda key, data: _status_of(key, data) == "done",
    "settled marker": lambda key, data: key.endswith(record.SETTLED),
}


def install_delete_hook(
    svc, client, body: dict, matches: Callable[[str, object], bool], after: bool
) -> list[int]:
    """Make the job's storage run ``DELETE`` at the first write ``matches`` picks."""
    statuses: list[int] = []
    real_put = svc.storage.put

    def delete() -> None:
        response = client.delete(
            f"/api/images/{body['id']}", headers={"X-Delete-Token": body["delete_token"]}
        )
        statuses[0] = response.status_code

    def put(key: str, data, content_type: str) -> None:
        hooked = not statuses and key.startswith(record.prefix(body["id"])) and matches(key, data)
        if hooked:
            statuses.append(0)  # hook once
        if hooked and not after:
            delete()
        real_put(key, data, content_type)
        if hooked and after:
            delete()

    svc.storage.put = put
    return statuses


def assert_gone_for_good(app, client, image_id: str) -> None:
    svc = app.extensions["imgsvc"]
    assert svc.storage.list_keys(record.prefix(image_id)) == []
    assert not svc.redis.exists(record.cache_key(image_id))
    assert not svc.redis.exists(indexes.tile_key(image_id))
    assert image_id.encode() not in svc.redis.lrange(RECENT_KEY, 0, -1)
    assert client.get(f"/api/images/{image_id}").status_code == 404
    assert client.get(f"/images/{image_id}/xs").status_code == 404
    assert client.get(f"/images/{image_id}/original").status_code == 404
    assert image_id not in [tile.image_id for tile in indexes.recent_tiles(svc, 12)]
    assert not svc.redis.exists(record.cache_key(image_id))  # the GETs re-cached nothing


def test_delete_before_the_job_starts(app, client, job_services):
    body = upload(client, factories.jpeg(640, 480)).get_json()
    response = client.delete(
        f"/api/images/{body['id']}", headers={"X-Delete-Token": body["delete_token"]}
    )
    assert response.status_code == 204

    result = tasks.process_image(body["id"])  # e.g. a worker had already dequeued it

    assert result == {"id": body["id"], "status": "deleted"}
    assert_gone_for_good(app, client, body["id"])


@pytest.mark.parametrize("after", [False, True], ids=["before-write", "after-write"])
@pytest.mark.parametrize("step", list(STEPS))
def test_delete_at_each_step_of_the_job(app, client, job_services, step, after):
    body = upload(client, factories.jpeg(640, 480)).get_json()
    statuses = install_delete_hook(job_services, client, body, STEPS[step], after)

    result = tasks.process_image(body["id"])

    assert statuses == [204]
    assert result == {"id": body["id"], "status": "deleted"}
    assert_gone_for_good(app, client, body["id"])


@pytest.mark.parametrize("after", [False, True], ids=["before-write", "after-write"])
def test_delete_while_the_job_marks_the_image_failed(app, client, job_services, after):
    data = factories.jpeg(640, 480)
    body = upload(client, data[: len(data) // 3]).get_json()  # decodes badly: invalid_image
    statuses = install_delete_hook(
        job_services, client, body, lambda key, d: _status_of(key, d) == "failed", after
    )

    try:
        result = tasks.process_image(body["id"])
    except Exception as exc:  # the job may still report its own error
        result = {"error": getattr(exc, "code", type(exc).__name__)}

    assert statuses == [204]
    assert result in ({"id": body["id"], "status": "deleted"}, {"error": "invalid_image"})
    assert_gone_for_good(app, client, body["id"])


def test_a_get_racing_the_delete_does_not_cache_the_image_again(app, client, run_worker):
    body = upload(client, factories.jpeg(640, 480)).get_json()
    run_worker()
    svc = app.extensions["imgsvc"]
    svc.redis.delete(record.cache_key(body["id"]))  # the GET must read storage
    real_get = svc.storage.get
    deleted: list[int] = []

    def get(key: str) -> bytes:
        data = real_get(key)  # the GET has read the manifest: now the DELETE runs
        if key == record.manifest_key(body["id"]) and not deleted:
            deleted.append(0)  # the DELETE reads the manifest too: hook once
            response = app.test_client().delete(
                f"/api/images/{body['id']}", headers={"X-Delete-Token": body["delete_token"]}
            )
            deleted[0] = response.status_code
        return data

    svc.storage.get = get
    racing = client.get(f"/api/images/{body['id']}")

    assert deleted == [204]
    assert racing.status_code == 404
    assert_gone_for_good(app, client, body["id"])


def test_delete_without_redis_deletes_nothing_and_says_so(app, client):
    from imgsvc.extensions import Services
    from tests.support import free_port

    body = upload(client, factories.jpeg(320, 240)).get_json()
    keys = app.extensions["imgsvc"].storage.list_keys(record.prefix(body["id"]))
    app.extensions["imgsvc"] = Services(
        dict(app.config, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    )

    response = client.delete(
        f"/api/images/{body['id']}", headers={"X-Delete-Token": body["delete_token"]}
    )

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "queue_unavailable"
    assert app.extensions["imgsvc"].storage.list_keys(record.prefix(body["id"])) == keys
