"""The queue's cap: past ``MAX_QUEUED_JOBS`` waiting jobs, new work is refused
with ``503 queue_unavailable`` and ``Retry-After``, and nothing is stored."""

from __future__ import annotations

import io

import pytest

from tests import factories
from tests.support.client import csrf_token, upload

pytestmark = pytest.mark.parametrize("storage_url", ["file"], indirect=True)


@pytest.fixture
def capped(env):
    """An app whose queue takes two waiting jobs."""
    from imgsvc import create_app

    return create_app({"TESTING": True, "MAX_QUEUED_JOBS": 2})


def image_ids(app) -> set[str]:
    return {key.split("/")[1] for key in app.extensions["imgsvc"].storage.list_keys("images/")}


def assert_queue_full(response) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    error = response.get_json()["error"]
    assert error["code"] == "queue_unavailable"
    assert "full (2 jobs are waiting)" in error["message"]


def test_an_upload_past_the_cap_is_refused_and_nothing_is_stored(capped, run_worker):
    client = capped.test_client()
    accepted = [upload(client, factories.jpeg(320, 240, seed=n)) for n in range(2)]
    assert [r.status_code for r in accepted] == [202, 202]

    refused = upload(client, factories.jpeg(320, 240, seed=9))

    assert_queue_full(refused)
    assert "id" not in refused.get_json()
    assert image_ids(capped) == {r.get_json()["id"] for r in accepted}
    assert capped.extensions["imgsvc"].queue.count == 2

    run_worker()  # the backlog drains: uploads are taken again
    assert upload(client, factories.jpeg(320, 240, seed=9)).status_code == 202


def test_the_upload_form_past_the_cap_shows_the_error(capped):
    client = capped.test_client()
    for n in range(2):
        assert upload(client, factories.jpeg(320, 240, seed=n)).status_code == 202
    token = csrf_token(client.get("/").get_data(as_text=True))

    response = client.post(
        "/",
        data={
            "csrf_token": token,
            "file": (io.BytesIO(factories.jpeg(320, 240, seed=7)), "photo.jpg"),
        },
        content_type="multipart/form-data",
        headers={"Accept": "text/html"},
    )

    assert response.status_code == 503
    assert "The job queue is full" in response.get_data(as_text=True)
    assert len(image_ids(capped)) == 2


def test_a_word_count_past_the_cap_is_refused(capped):
    client = capped.test_client()
    for n in range(2):
        assert upload(client, factories.jpeg(320, 240, seed=n)).status_code == 202

    response = client.post("/api/wordcounts", json={"url": "https://example.org/"})

    assert_queue_full(response)
    assert capped.extensions["imgsvc"].queue.count == 2


def test_waiting_word_counts_count_against_the_cap_of_uploads(capped):
    """Word counts wait in their own queue; the cap counts both queues together."""
    client = capped.test_client()
    for n in range(2):
        response = client.post("/api/wordcounts", json={"url": f"https://example.org/{n}"})
        assert response.status_code == 202

    refused = upload(client, factories.jpeg(320, 240))

    assert_queue_full(refused)
    assert image_ids(capped) == set()
    assert capped.extensions["imgsvc"].wordcount_queue.count == 2


def test_reconcile_is_never_refused(capped):
    """Accepted images are not new work: reconcile re-enqueues them past the cap."""
    from imgsvc.images.reconcile import reconcile

    client = capped.test_client()
    svc = capped.extensions["imgsvc"]
    lost = upload(client, factories.jpeg(320, 240, seed=1)).get_json()["id"]
    svc.redis.flushdb()  # Redis lost its jobs; the image stays in storage
    for n in range(2, 4):
        assert upload(client, factories.jpeg(320, 240, seed=n)).status_code == 202
    assert svc.queue.count == 2

    report = reconcile(svc)

    assert report.requeued == [lost]
    assert svc.queue.count == 3


def test_no_cap_with_zero(env):
    from imgsvc import create_app

    app = create_app({"TESTING": True, "MAX_QUEUED_JOBS": 0})
    client = app.test_client()
    statuses = [upload(client, factories.jpeg(160, 120, seed=n)).status_code for n in range(4)]
    assert statuses == [202] * 4
