"""Webhooks from the API to the receiver: callback_url on uploads and word counts,
the global WEBHOOK_URL, refusals at submit, the attempts in the views."""

from __future__ import annotations

import io

import pytest

from imgsvc.webhooks import record
from imgsvc.webhooks.delivery import announce
from tests import factories
from tests.support.client import upload

pytestmark = pytest.mark.parametrize("storage_url", ["file"], indirect=True)


@pytest.fixture
def hooked(app, pages, receiver, secret, monkeypatch):
    """Webhooks signed with ``secret``; the receiver and the page server allowlisted."""
    allow = f"{receiver.allow_entry},{pages.allow_entry}"
    for name, value in {"WEBHOOK_SECRET": secret, "FETCH_ALLOWLIST": allow}.items():
        monkeypatch.setenv(f"IMGSVC_{name}", value)
        app.config[name] = value
    return receiver


def upload_with_callback(client, data: bytes, callback_url: str):
    return client.post(
        "/api/images",
        data={"file": (io.BytesIO(data), "photo.jpg"), "callback_url": callback_url},
        content_type="multipart/form-data",
    )


def test_a_done_image_is_posted_as_its_api_view_signed(client, hooked, secret, run_worker):
    response = upload_with_callback(client, factories.jpeg(320, 240), hooked.url("/img?k=s3cr3t"))
    assert response.status_code == 202
    image_id = response.get_json()["id"]

    run_worker()

    [event] = hooked.verified(secret)  # the reference library checks the signature
    view = client.get(f"/api/images/{image_id}").get_json()
    assert event["type"] == "image.done"
    assert event["data"] == {key: value for key, value in view.items() if key != "webhooks"}
    [delivery] = view["webhooks"]
    assert delivery["event"] == "image.done" and delivery["state"] == "delivered"
    assert delivery["target"] == f"http://{hooked.allow_entry}"
    assert "s3cr3t" not in str(view)  # the callback's path and query are never shown
    assert [(a["status"], a["error"]) for a in delivery["attempts"]] == [(200, None)]
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert 'class="col-sm-9 webhook" data-state="delivered"' in page


def test_a_failed_image_is_posted_as_image_failed(client, hooked, secret, pages, run_worker):
    response = client.post(
        "/api/images", json={"url": f"{pages.base}/known", "callback_url": hooked.url()}
    )
    image_id = response.get_json()["id"]

    run_worker()

    [event] = hooked.verified(secret)
    assert event["type"] == "image.failed"
    assert event["data"]["id"] == image_id
    assert event["data"]["error"]["code"] == "unsupported_content_type"


def test_the_global_url_hears_of_every_image_beside_the_callback(
    app, client, hooked, secret, monkeypatch, run_worker
):
    monkeypatch.setenv("IMGSVC_WEBHOOK_URL", hooked.url("/all"))
    app.config["WEBHOOK_URL"] = hooked.url("/all")
    with_callback = upload_with_callback(client, factories.jpeg(200, 150), hooked.url("/one"))
    without = upload(client, factories.jpeg(200, 150, seed=2))

    run_worker()

    paths = sorted(each.path for each in hooked.received)
    assert paths == ["/all", "/all", "/one"]
    ids = {event["data"]["id"] for event in hooked.verified(secret)}
    assert ids == {with_callback.get_json()["id"], without.get_json()["id"]}
    receivers = [
        d["receiver"]
        for d in client.get(f"/api/images/{with_callback.get_json()['id']}").get_json()["webhooks"]
    ]
    assert sorted(receivers) == ["callback", "global"]


def test_a_finished_word_count_is_posted_as_its_job_view(client, hooked, secret, pages, run_worker):
    response = client.post(
        "/api/wordcounts",
        json={"url": f"{pages.base}/known", "callback_url": hooked.url("/wc")},
    )
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]

    run_worker()

    [event] = hooked.verified(secret)
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert event["type"] == "wordcount.finished"
    assert event["data"]["id"] == job_id
    assert event["data"]["status"] == "finished"
    assert event["data"]["result"] == job["result"]
    assert job["webhooks"][0]["state"] == "delivered"


def test_a_failed_word_count_is_posted_as_wordcount_failed(
    client, hooked, secret, pages, run_worker
):
    client.post("/api/wordcounts", json={"url": f"{pages.base}/png", "callback_url": hooked.url()})

    run_worker()

    [event] = hooked.verified(secret)
    assert event["type"] == "wordcount.failed"
    assert event["data"]["error"]["code"] == "unsupported_content_type"


PRIVATE = [
    "http://127.0.0.1:9/hook",
    "http://localhost/hook",
    "http://169.254.169.254/latest/",
    "http://[::1]/hook",
    "http://10.0.0.7/hook",
    "http://2130706433/hook",
]


@pytest.mark.parametrize("callback_url", PRIVATE)
def test_a_private_callback_is_refused_at_submit(app, client, hooked, pages, callback_url):
    svc = app.extensions["imgsvc"]
    refused = [
        upload_with_callback(client, factories.jpeg(64, 64), callback_url),
        client.post(
            "/api/images", json={"url": f"{pages.base}/photo", "callback_url": callback_url}
        ),
        client.post(
            "/api/wordcounts", json={"url": f"{pages.base}/known", "callback_url": callback_url}
        ),
    ]
    for response in refused:
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "destination_not_allowed"
    assert list(svc.storage.iter_keys("images/")) == []
    assert svc.queue.count == svc.wordcount_queue.count == 0


@pytest.mark.parametrize("callback_url", ["ftp://example.com/", "not a url", 42])
def test_a_malformed_callback_is_invalid_url(client, hooked, pages, callback_url):
    response = client.post(
        "/api/wordcounts", json={"url": f"{pages.base}/known", "callback_url": callback_url}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_url"


def test_without_a_secret_a_callback_is_refused(app, client, pages, monkeypatch):
    monkeypatch.setitem(app.config, "FETCH_ALLOWLIST", pages.allow_entry)
    response = client.post(
        "/api/wordcounts",
        json={"url": f"{pages.base}/known", "callback_url": "https://hooks.example.com/in"},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "webhooks_not_configured"


def test_a_delivery_of_a_deleted_image_sends_nothing(app, client, hooked, run_worker):
    svc = app.extensions["imgsvc"]
    body = upload(client, factories.jpeg(200, 150)).get_json()
    token = {"X-Delete-Token": body["delete_token"]}
    assert client.delete(f"/api/images/{body['id']}", headers=token).status_code == 204
    # An event announced before the delete, its delivery not yet run:
    announce(svc, f"image:{body['id']}", "image.done", {"id": body["id"]}, hooked.url())

    run_worker()

    assert hooked.received == []
    assert svc.redis.exists(record.record_key(f"image:{body['id']}")) == 0


def test_deleting_an_image_drops_its_deliveries(app, client, hooked, run_worker):
    svc = app.extensions["imgsvc"]
    body = upload_with_callback(client, factories.jpeg(200, 150), hooked.url()).get_json()
    run_worker()
    key = record.record_key(f"image:{body['id']}")
    assert svc.redis.exists(key) == 1

    token = {"X-Delete-Token": body["delete_token"]}
    assert client.delete(f"/api/images/{body['id']}", headers=token).status_code == 204

    assert svc.redis.exists(key) == 0


def test_the_page_shows_a_delivery_being_retried_and_keeps_refreshing(client, hooked, run_worker):
    hooked.stop()  # refused: the first attempt fails, a retry is scheduled
    body = upload_with_callback(client, factories.jpeg(200, 150), hooked.url()).get_json()

    run_worker()

    [delivery] = client.get(f"/api/images/{body['id']}").get_json()["webhooks"]
    assert delivery["state"] == "retrying"
    assert [(a["status"], a["error"]) for a in delivery["attempts"]] == [(None, "webhook_failed")]
    page = client.get(f"/images/{body['id']}").get_data(as_text=True)
    assert 'data-state="retrying"' in page and "webhook_failed" in page
    assert 'data-refresh="3000"' in page  # until the delivery ends
