"""``Idempotency-Key`` on ``POST /api/images`` and ``POST /api/wordcounts``:
through the app, a real Redis and real storage (the real-process race is in
tests/system/test_idempotency.py)."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from redis import Redis

from imgsvc import apikeys, create_app, idempotency
from tests import factories
from tests.support import wait_until
from tests.support.client import stored_image_ids as stored_images
from tests.support.client import upload

PHOTO = factories.jpeg(64, 48)
OTHER = factories.jpeg(48, 64)


@pytest.fixture
def storage_url(tmp_path: Path) -> str:
    """Idempotency lives in Redis and the web layer: one storage backend is enough."""
    return "file://" + str(tmp_path / "media")


def post_image(client, data: bytes = PHOTO, key: str | None = "k-1", **headers: str):
    if key is not None:
        headers["Idempotency-Key"] = key
    return upload(client, data, "a.jpg", headers)


def queued(app) -> list[str]:
    return app.extensions["imgsvc"].queue.job_ids


def test_a_retry_with_the_same_key_gets_the_first_answer_and_stores_nothing(app, client):
    first = post_image(client)
    again = post_image(client)

    assert first.status_code == again.status_code == 202
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers[idempotency.REPLAYED_HEADER] == "true"
    assert idempotency.REPLAYED_HEADER not in first.headers
    assert stored_images(app) == {first.get_json()["id"]}
    assert queued(app) == [first.get_json()["job_id"]]


def test_redis_keeps_the_delete_token_sealed_and_the_replay_opens_it(app, client, redis_url):
    first = post_image(client, key="k-sealed").get_json()
    redis = Redis.from_url(redis_url)
    kept = [redis.get(key) for key in redis.keys(f"{idempotency.KEY_PREFIX}*")]

    assert kept
    assert not any(first["delete_token"].encode() in (value or b"") for value in kept)
    again = post_image(client, key="k-sealed").get_json()
    assert again["delete_token"] == first["delete_token"]
    deleted = client.delete(
        f"/api/images/{first['id']}", headers={"X-Delete-Token": again["delete_token"]}
    )
    assert deleted.status_code == 204


def test_without_a_key_every_upload_is_a_new_image(app, client):
    ids = {post_image(client, key=None).get_json()["id"] for _ in range(2)}
    assert len(ids) == 2
    assert stored_images(app) == ids


def test_the_same_key_with_another_body_is_422_and_stores_nothing(app, client):
    first = post_image(client).get_json()
    refused = post_image(client, OTHER)

    assert refused.status_code == 422
    assert refused.get_json()["error"]["code"] == "idempotency_key_reused"
    assert stored_images(app) == {first["id"]}


def test_the_same_file_in_a_new_multipart_framing_is_the_same_body(app, client):
    """Two sends of one form differ in their boundaries; the key still matches."""

    def raw(boundary: str) -> bytes:
        return (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
                f"Content-Type: image/jpeg\r\n\r\n"
            ).encode()
            + PHOTO
            + f"\r\n--{boundary}--\r\n".encode()
        )

    answers = [
        client.post(
            "/api/images",
            data=raw(boundary),
            content_type=f"multipart/form-data; boundary={boundary}",
            headers={"Idempotency-Key": "framing"},
        )
        for boundary in ("aaaa1111", "zz-other-boundary")
    ]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].get_json()["id"] == answers[1].get_json()["id"]
    assert len(stored_images(app)) == 1


def test_a_refused_request_is_not_remembered(app, client):
    refused = post_image(client, b"not an image")
    accepted = post_image(client, PHOTO)

    assert refused.status_code == 400
    assert accepted.status_code == 202
    assert idempotency.REPLAYED_HEADER not in accepted.headers
    assert stored_images(app) == {accepted.get_json()["id"]}


def test_concurrent_requests_with_one_key_store_one_image(app):
    """Real threads, each with its own client, released together."""
    start = threading.Barrier(8)

    def send(_: int):
        client = app.test_client()
        start.wait()
        return post_image(client, key="raced")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(send, range(8)))

    assert [a.status_code for a in answers] == [202] * 8
    assert len({a.get_json()["id"] for a in answers}) == 1
    assert sum(idempotency.REPLAYED_HEADER in a.headers for a in answers) == 7
    assert len(stored_images(app)) == 1
    assert len(queued(app)) == 1


def test_a_retry_while_the_first_still_runs_gets_409_with_retry_after(app, client):
    app.config["IDEMPOTENCY_WAIT"] = 0.2
    headers = {"Idempotency-Key": "slow"}
    with app.test_request_context(
        "/api/images",
        method="POST",
        data={"file": (io.BytesIO(PHOTO), "a.jpg")},
        content_type="multipart/form-data",
        headers=headers,
    ):
        from flask import request

        from imgsvc.extensions import services

        claim = idempotency.claim(services(), "images", "", request)
        assert isinstance(claim, idempotency.Claim)

    busy = post_image(client, key="slow")
    assert busy.status_code == 409
    assert busy.get_json()["error"]["code"] == "idempotency_key_in_use"
    assert busy.headers["Retry-After"] == "1"
    assert stored_images(app) == set()

    claim.complete({"id": "from-the-first"}, 202, {"Location": "/api/images/from-the-first"})
    replayed = post_image(client, key="slow")
    assert replayed.status_code == 202
    assert replayed.get_json() == {"id": "from-the-first"}


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9"])
def test_a_malformed_key_is_400(client, key):
    answer = client.post(
        "/api/wordcounts",
        json={"url": "https://example.org/"},
        headers={"Idempotency-Key": key},
    )
    assert answer.status_code == 400
    assert answer.get_json()["error"]["code"] == "invalid_idempotency_key"


def test_word_counts_are_idempotent_too(app, client):
    def submit(url: str):
        return client.post("/api/wordcounts", json={"url": url}, headers={"Idempotency-Key": "w"})

    first = submit("https://example.org/")
    again = submit("https://example.org/")
    other = submit("https://example.org/other")

    assert first.status_code == again.status_code == 202
    assert again.get_json()["job_id"] == first.get_json()["job_id"]
    assert app.extensions["imgsvc"].wordcount_queue.job_ids == [first.get_json()["job_id"]]
    assert other.status_code == 422
    assert other.get_json()["error"]["code"] == "idempotency_key_reused"


def test_the_answer_is_kept_for_the_ttl_only(env, redis_url):
    app = create_app({"TESTING": True, "IDEMPOTENCY_TTL": 1})
    client = app.test_client()
    first = post_image(client).get_json()["id"]
    keys = Redis.from_url(redis_url).keys(f"{idempotency.KEY_PREFIX}*")
    assert len(keys) == 1
    assert 0 < Redis.from_url(redis_url).ttl(keys[0]) <= 1

    def new_image() -> str | None:
        answer = post_image(client).get_json()["id"]
        return answer if answer != first else None

    wait_until(new_image, timeout=10, message="the key outlived its TTL")


def test_keys_are_scoped_per_api_key(env, tmp_path):
    one, two = apikeys.new_key(), apikeys.new_key()
    setting = f"{apikeys.entry('one', one)},{apikeys.entry('two', two)}"
    app = create_app({"TESTING": True, "API_KEYS": setting})
    client = app.test_client()

    ids = [
        post_image(client, key="shared", Authorization=f"Bearer {secret}").get_json()["id"]
        for secret in (one, two, one)
    ]
    assert ids[0] != ids[1]
    assert ids[2] == ids[0]
    assert len(stored_images(app)) == 2


def test_without_redis_a_keyed_upload_is_503_and_stores_nothing(env, tmp_path):
    from tests.support import free_port

    app = create_app({"TESTING": True, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    answer = post_image(app.test_client())
    assert answer.status_code == 503
    assert answer.get_json()["error"]["code"] == "queue_unavailable"
    assert stored_images(app) == set()


def test_an_upload_from_a_url_is_idempotent_too(app, client):
    def submit(url: str):
        return client.post(
            "/api/images", json={"url": url}, headers={"Idempotency-Key": "from-a-url"}
        )

    first = submit("https://example.org/a.jpg")
    again = submit("https://example.org/a.jpg")
    other = submit("https://example.org/b.jpg")

    assert first.status_code == again.status_code == 202, first.get_json()
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers[idempotency.REPLAYED_HEADER] == "true"
    assert other.status_code == 422
    assert queued(app) == [first.get_json()["job_id"]]
