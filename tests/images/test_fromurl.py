"""Uploads from a URL: the API and the form answer at once, a real worker fetches
the image from a loopback page server with the fetcher's rules, then processes it."""

from __future__ import annotations

import pytest

from tests import factories
from tests.support.client import csrf_token

pytestmark = pytest.mark.parametrize("storage_url", ["file"], indirect=True)


def submit(client, url: str):
    return client.post("/api/images", json={"url": url})


def test_an_image_at_a_url_is_accepted_at_once_then_fetched_and_processed(
    client, allowlisted, run_worker
):
    url = f"{allowlisted.base}/photo?w=640&h=480"
    hits = allowlisted.hits["/photo"]
    response = submit(client, url)
    assert response.status_code == 202
    body = response.get_json()
    assert response.headers["Location"] == f"/api/images/{body['id']}"
    assert body["status"] == "queued" and body["delete_token"]
    assert allowlisted.hits["/photo"] == hits  # nothing fetched before the answer
    queued = client.get(f"/api/images/{body['id']}").get_json()
    assert queued["status"] == "queued" and queued["original"] is None
    assert client.get(f"/images/{body['id']}/original").status_code == 404

    run_worker()

    image = client.get(f"/api/images/{body['id']}").get_json()
    assert image["status"] == "done", image
    assert image["original"]["width"] == 640 and image["original"]["format"] == "JPEG"
    assert set(image["variants"]) == {"thumb", "xs", "sm", "md", "lg", "xl"}
    original = client.get(f"/images/{body['id']}/original")
    assert original.data == factories.jpeg(640, 480)
    assert original.data[:3] == b"\xff\xd8\xff"
    assert client.get(f"/images/{body['id']}/xs").status_code == 200


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/known", "unsupported_content_type"),  # HTML, not an image
        ("/photo-as-text", "unsupported_content_type"),  # an image that says it is text
        ("/png", "invalid_image"),  # image/png whose bytes are not a PNG: the header check
        ("/missing", "fetch_failed"),  # 404
        ("/photo-huge-declared", "fetch_too_large"),
        ("/redirect?to=http://10.0.0.1/photo", "destination_not_allowed"),  # checked per hop
    ],
)
def test_a_url_that_gives_no_acceptable_image_ends_failed_with_the_fetchers_code(
    client, allowlisted, run_worker, path, code, loopback_only
):
    body = submit(client, f"{allowlisted.base}{path}").get_json()

    run_worker()

    image = client.get(f"/api/images/{body['id']}").get_json()
    assert image["status"] == "failed"
    assert image["error"]["code"] == code
    assert image["original"] is None and image["variants"] == {}
    assert loopback_only == []


def test_an_image_larger_than_the_upload_limit_is_not_stored(
    client, allowlisted, run_worker, monkeypatch
):
    limit = len(factories.jpeg(640, 480)) - 1
    monkeypatch.setenv("IMGSVC_MAX_CONTENT_LENGTH", str(limit))  # the worker's limit
    body = submit(client, f"{allowlisted.base}/photo?w=640&h=480").get_json()

    run_worker()

    image = client.get(f"/api/images/{body['id']}").get_json()
    assert (image["status"], image["error"]["code"]) == ("failed", "fetch_too_large")
    assert f"{limit:,}" in image["error"]["message"]
    assert client.get(f"/images/{body['id']}/original").status_code == 404


def test_a_slow_image_ends_failed_at_the_fetch_deadline(
    client, allowlisted, run_worker, monkeypatch
):
    monkeypatch.setenv("IMGSVC_FETCH_TIMEOUT", "1")  # the worker's deadline
    body = submit(client, f"{allowlisted.base}/photo-trickle").get_json()

    run_worker()

    image = client.get(f"/api/images/{body['id']}").get_json()
    assert (image["status"], image["error"]["code"]) == ("failed", "fetch_timeout")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/photo",
        "http://localhost:{port}/photo",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/photo",
        "http://10.1.2.3/photo.jpg",
    ],
)
def test_a_private_target_is_refused_at_submit_and_nothing_is_stored(
    app, client, pages, url, loopback_only
):
    response = submit(client, url.format(port=pages.port))  # not allowlisted here
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "destination_not_allowed"
    svc = app.extensions["imgsvc"]
    assert list(svc.storage.iter_keys("images/")) == []
    assert svc.queue.count == 0
    assert loopback_only == []


@pytest.mark.parametrize("body", [{"url": "ftp://example.com/a.jpg"}, {"url": ""}, {}, []])
def test_a_json_body_without_an_http_url_is_invalid_url(client, body):
    response = client.post("/api/images", json=body)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_url"


def test_the_form_takes_a_url_with_its_csrf_token(app, client, allowlisted, run_worker):
    token = csrf_token(client.get("/").get_data(as_text=True))
    url = f"{allowlisted.base}/photo?w=400&h=300"
    refused = client.post("/", data={"url": url})  # no token: refused, nothing stored
    assert refused.status_code == 403
    assert list(app.extensions["imgsvc"].storage.iter_keys("images/")) == []

    response = client.post("/", data={"url": url, "csrf_token": token})
    assert response.status_code == 303
    image_id = response.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "not fetched yet" in page

    run_worker()

    image = client.get(f"/api/images/{image_id}").get_json()
    assert image["status"] == "done" and image["original"]["width"] == 400
    assert "400×300 px" in client.get(f"/images/{image_id}").get_data(as_text=True)


def test_the_form_shows_a_private_url_refused(client, pages):
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post("/", data={"url": f"{pages.base}/photo", "csrf_token": token})
    assert response.status_code == 400
    assert 'data-code="destination_not_allowed"' in response.get_data(as_text=True)
