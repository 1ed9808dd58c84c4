"""An upload's focal point (focus=x,y) on the API (a file or a URL) and the form:
kept, used, refused when bad."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imgsvc.images import record
from tests import factories
from tests.imaging.subjects import skin_share, with_face
from tests.support.client import csrf_token

# Where the crop looks does not depend on the storage backend.
FILE_ONLY = pytest.mark.parametrize("storage_url", ["file"], indirect=True)


def post_api(client, data: bytes, focus: str | None):
    fields: dict = {"file": (io.BytesIO(data), "photo.jpg")}
    if focus is not None:
        fields["focus"] = focus
    return client.post("/api/images", data=fields, content_type="multipart/form-data")


def thumb_of(client, image_id: str) -> np.ndarray:
    response = client.get(f"/images/{image_id}/thumb")
    assert response.status_code == 200
    return np.asarray(Image.open(io.BytesIO(response.data)).convert("RGB")).astype(np.int32)


@FILE_ONLY
def test_api_focus_wins_over_the_smart_crop(app, client, run_worker):
    # A face on the left; one upload points at the right edge, one leaves it automatic.
    data = with_face((1600, 800), (180, 400))
    pointed = post_api(client, data, "0.95,0.5")
    automatic = post_api(client, data, None)
    assert (pointed.status_code, automatic.status_code) == (202, 202)
    pointed_id, automatic_id = pointed.get_json()["id"], automatic.get_json()["id"]
    storage = app.extensions["imgsvc"].storage
    assert record.read_manifest(storage, pointed_id)["focus"] == [0.95, 0.5]
    assert client.get(f"/api/images/{pointed_id}").get_json()["focus"] == [0.95, 0.5]
    assert "focus" not in record.read_manifest(storage, automatic_id)
    run_worker()
    assert skin_share(thumb_of(client, pointed_id)) == 0
    assert skin_share(thumb_of(client, automatic_id)) > 0.035


@FILE_ONLY
@pytest.mark.parametrize("focus", ["0.5", "2,0.5", "x,y", "nan,nan"])
def test_api_refuses_a_bad_focus_before_storing_anything(app, client, focus):
    response = post_api(client, with_face((400, 200), (50, 100), 30), focus)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_focus"
    assert app.extensions["imgsvc"].queue.job_ids == []


@FILE_ONLY
def test_form_carries_the_focus(app, client):
    html = client.get("/").get_data(as_text=True)
    assert 'name="focus"' in html
    fields = {
        "csrf_token": csrf_token(html),
        "file": (io.BytesIO(with_face((400, 200), (50, 100), 30)), "photo.jpg"),
        "focus": "0.1,0.5",
    }
    response = client.post(
        "/", data=fields, content_type="multipart/form-data", headers={"Accept": "text/html"}
    )
    assert response.status_code == 303
    image_id = response.headers["Location"].rsplit("/", 1)[1]
    manifest = record.read_manifest(app.extensions["imgsvc"].storage, image_id)
    assert manifest["focus"] == [0.1, 0.5]


@FILE_ONLY
def test_a_url_upload_carries_its_focus_to_the_crop(app, client, allowlisted, run_worker):
    # The page server's photo, fetched by the job, and the same bytes sent as a
    # file: with the same focal point their thumbnails are the same crop.
    url = f"{allowlisted.base}/photo?w=1200&h=400"
    by_url = client.post("/api/images", json={"url": url, "focus": [0.05, 0.5]})
    assert by_url.status_code == 202, by_url.get_json()
    image_id = by_url.get_json()["id"]
    assert record.read_manifest(app.extensions["imgsvc"].storage, image_id)["focus"] == [0.05, 0.5]
    data = factories.jpeg(1200, 400)
    left = post_api(client, data, "0.05,0.5").get_json()["id"]
    right = post_api(client, data, "0.95,0.5").get_json()["id"]
    run_worker()

    view = client.get(f"/api/images/{image_id}").get_json()
    assert view["status"] == "done" and view["focus"] == [0.05, 0.5]
    assert view["variants"]["thumb"]["spec"]["crop"] == "focus=0.050,0.500"
    fetched = client.get(f"/images/{image_id}/thumb").data
    assert fetched == client.get(f"/images/{left}/thumb").data
    assert fetched != client.get(f"/images/{right}/thumb").data


@FILE_ONLY
@pytest.mark.parametrize("focus", ["2,0.5", [0.1], "x"])
def test_a_url_upload_with_a_bad_focus_stores_nothing(app, client, allowlisted, focus):
    url = f"{allowlisted.base}/photo"
    response = client.post("/api/images", json={"url": url, "focus": focus})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_focus"
    assert list(app.extensions["imgsvc"].storage.iter_keys("images/")) == []
