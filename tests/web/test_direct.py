"""Uploads straight to the bucket (``/api/uploads``) against moto's S3 server over HTTP:
the client's bytes go to S3 with the presigned POST, never through the app."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import requests
from PIL import Image

from imgsvc import create_app
from imgsvc.images import record
from imgsvc.images.reconcile import reconcile
from tests import factories
from tests.imaging.subjects import skin_share, with_face
from tests.support import wait_until

S3_ONLY = pytest.mark.parametrize("storage_url", ["s3"], indirect=True)


def start(client) -> dict:
    response = client.post("/api/uploads")
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def send(started: dict, data: bytes) -> requests.Response:
    """What a browser or client does with the presigned POST: fields first, then the file."""
    form = started["upload"]
    return requests.post(
        form["url"], data=form["fields"], files={form["file_field"]: ("a.jpg", data)}, timeout=30
    )


def complete(client, started: dict):
    return client.post(started["links"]["complete"])


def storage(app):
    return app.extensions["imgsvc"].storage


@S3_ONLY
def test_a_direct_upload_is_checked_enqueued_and_processed(app, client, run_worker):
    data = factories.jpeg(900, 600)
    started = start(client)
    assert send(started, data).status_code in (200, 201, 204)

    response = complete(client, started)
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["id"] == started["id"]
    assert body["status"] == "queued" and body["delete_token"]
    assert response.headers["Location"] == f"/api/images/{started['id']}"
    run_worker()
    view = client.get(f"/api/images/{started['id']}").get_json()
    assert view["status"] == "done"
    assert view["original"]["bytes"] == len(data)
    assert client.get(f"/images/{started['id']}/original").data == data
    assert client.get(view["variants"]["md"]["url"]).status_code == 200


@S3_ONLY
def test_the_presigned_post_names_one_key_a_size_range_and_an_expiry(app, client):
    app.config.update(MAX_CONTENT_LENGTH=5000, DIRECT_UPLOAD_EXPIRY=120)
    started = start(client)
    fields = started["upload"]["fields"]
    bucket_key = storage(app).object_key(record.original_key(started["id"]))
    assert fields["key"] == bucket_key
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert ["content-length-range", 1, 5000] in policy["conditions"]
    assert started["upload"]["max_bytes"] == 5000
    assert not storage(app).list_keys(record.prefix(started["id"]))  # nothing stored yet


@S3_ONLY
def test_a_file_past_the_limit_is_refused_at_complete_and_deleted(app, client):
    # S3 itself refuses it at the POST (content-length-range); moto does not
    # enforce that condition, so the check at complete is what is shown here.
    app.config.update(MAX_CONTENT_LENGTH=5000)
    started = start(client)
    send(started, factories.jpeg(400, 300, quality=95))

    response = complete(client, started)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "file_too_large"
    assert not storage(app).list_keys(record.prefix(started["id"]))


@S3_ONLY
@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"not an image at all" * 10, 400, "invalid_image"),
        (b"%PDF-1.4\n" + b"0" * 200, 415, "unsupported_format"),
    ],
)
def test_a_stored_object_that_is_not_an_image_is_refused_and_deleted(
    app, client, data, status, code
):
    started = start(client)
    send(started, data)

    response = complete(client, started)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert not storage(app).list_keys(record.prefix(started["id"]))
    assert client.get(f"/api/images/{started['id']}").status_code == 404


@S3_ONLY
def test_completing_without_sending_the_file_is_missing_file(client):
    started = start(client)
    response = complete(client, started)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "missing_file"


@S3_ONLY
def test_completing_twice_is_a_conflict(client):
    started = start(client)
    send(started, factories.jpeg(300, 200))
    assert complete(client, started).status_code == 202
    again = complete(client, started)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "upload_completed"


@S3_ONLY
def test_the_header_check_reads_only_the_first_bytes_of_a_large_file(app, client, run_worker):
    app.config.update(DIRECT_UPLOAD_CHECK_BYTES=4096)
    data = factories.jpeg(1600, 1200, quality=92)
    assert len(data) > 10 * 4096
    started = start(client)
    send(started, data)
    response = complete(client, started)
    assert response.status_code == 202, response.get_json()
    run_worker()
    view = client.get(f"/api/images/{started['id']}").get_json()
    assert view["status"] == "done"
    assert (view["original"]["width"], view["original"]["height"]) == (1600, 1200)


@S3_ONLY
def test_a_webp_larger_than_the_window_is_read_whole_and_accepted(app, client, run_worker):
    app.config.update(DIRECT_UPLOAD_CHECK_BYTES=4096)
    data = factories.encode(factories.photo(1600, 1200), "WEBP")
    assert len(data) > 4096
    started = start(client)
    send(started, data)
    response = complete(client, started)
    assert response.status_code == 202, response.get_json()
    run_worker()
    assert client.get(f"/api/images/{started['id']}").get_json()["status"] == "done"


@S3_ONLY
def test_a_truncated_large_file_passes_the_window_and_fails_in_the_job(app, client, run_worker):
    """What the first bytes cannot show (a cut file) is the job's to find: it
    ends failed with a code, never a crash."""
    app.config.update(DIRECT_UPLOAD_CHECK_BYTES=4096)
    data = factories.jpeg(1600, 1200, quality=92)
    started = start(client)
    send(started, data[: len(data) // 3])
    assert complete(client, started).status_code == 202
    run_worker()
    view = client.get(f"/api/images/{started['id']}").get_json()
    assert view["status"] == "failed"
    assert view["error"]["code"] == "invalid_image"


@S3_ONLY
def test_an_upload_never_completed_is_removed_by_reconcile(app, client):
    started = start(client)
    send(started, factories.jpeg(300, 200))
    svc = app.extensions["imgsvc"]
    assert reconcile(svc).discarded == []  # young: the client may still complete it
    app.config.update(ABANDONED_AFTER_SECONDS=1)

    def discarded() -> bool:
        return started["id"] in reconcile(svc).discarded

    wait_until(discarded, timeout=15, interval=0.2)
    assert not storage(app).list_keys(record.prefix(started["id"]))
    late = complete(client, started)
    assert late.status_code == 400
    assert late.get_json()["error"]["code"] == "missing_file"


@pytest.mark.parametrize("storage_url", ["file"], indirect=True)
def test_file_storage_answers_direct_upload_unavailable(client):
    for response in (client.post("/api/uploads"), client.post("/api/uploads/abc/complete")):
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "direct_upload_unavailable"


@S3_ONLY
def test_presigned_urls_name_the_public_endpoint_clients_reach(env, s3_endpoint):
    # The app talks to S3 as 127.0.0.1; clients know it by another name.
    public = s3_endpoint.replace("127.0.0.1", "localhost")
    client = create_app({"TESTING": True, "S3_PUBLIC_ENDPOINT_URL": public}).test_client()
    started = start(client)
    assert started["upload"]["url"].startswith(public + "/")
    assert send(started, factories.jpeg(300, 200)).status_code in (200, 201, 204)
    assert complete(client, started).status_code == 202


@S3_ONLY
def test_complete_takes_the_uploads_focus_as_the_browser_sends_it(app, client, run_worker):
    # A face on the left: the focal point at the right edge keeps it out of the thumbnail.
    data = with_face((1600, 800), (180, 400))
    pointed, automatic, empty = start(client), start(client), start(client)
    for started in (pointed, automatic, empty):
        assert send(started, data).status_code in (200, 201, 204)

    answers = [
        client.post(pointed["links"]["complete"], json={"focus": "0.95,0.5"}),
        client.post(automatic["links"]["complete"], json={}),
        client.post(empty["links"]["complete"]),  # no body at all
    ]

    assert [answer.status_code for answer in answers] == [202, 202, 202]
    assert record.read_manifest(storage(app), pointed["id"])["focus"] == [0.95, 0.5]
    assert "focus" not in record.read_manifest(storage(app), automatic["id"])
    assert "focus" not in record.read_manifest(storage(app), empty["id"])
    run_worker()
    thumbs = {
        started["id"]: client.get(f"/images/{started['id']}/thumb").data
        for started in (pointed, automatic)
    }
    faces = {
        key: skin_share(np.asarray(Image.open(io.BytesIO(v)).convert("RGB")).astype(np.int32))
        for key, v in thumbs.items()
    }
    assert faces[pointed["id"]] == 0
    assert faces[automatic["id"]] > 0.035
    view = client.get(f"/api/images/{pointed['id']}").get_json()
    assert view["focus"] == [0.95, 0.5]
    assert view["variants"]["thumb"]["spec"]["crop"] == "focus=0.950,0.500"


@S3_ONLY
@pytest.mark.parametrize("body", [b'{"focus": "2,0.5"}', b'{"focus": [0.1]}', b"[1, 2]", b"x,y"])
def test_complete_with_a_bad_focus_is_400_and_may_complete_again(app, client, body):
    started = start(client)
    assert send(started, factories.jpeg(900, 600)).status_code in (200, 201, 204)

    refused = client.post(started["links"]["complete"], data=body, content_type="application/json")

    assert refused.status_code == 400
    assert refused.get_json()["error"]["code"] == "invalid_focus"
    assert not storage(app).exists(record.manifest_key(started["id"]))
    again = client.post(started["links"]["complete"], json={"focus": "0.2,0.3"})
    assert again.status_code == 202
    assert record.read_manifest(storage(app), started["id"])["focus"] == [0.2, 0.3]
