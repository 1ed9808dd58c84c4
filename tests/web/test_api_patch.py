"""``PATCH /api/images/<id>``: a done image's focal point changed, only its cover
crops re-made (by a real worker) under new URLs; refusals change nothing."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imgsvc.images import record, variantjob
from imgsvc.queue import fetch_job, variants_job_id
from tests.imaging.subjects import skin_share, with_face

# Where the crop looks does not depend on the storage backend.
FILE_ONLY = pytest.mark.parametrize("storage_url", ["file"], indirect=True)
pytestmark = FILE_ONLY

WIDTHS = ("xs", "sm", "md", "lg", "xl")


def post(client, data: bytes, focus: str | None = None):
    fields: dict = {"file": (io.BytesIO(data), "photo.jpg")}
    if focus is not None:
        fields["focus"] = focus
    return client.post("/api/images", data=fields, content_type="multipart/form-data")


def patch(client, image_id: str, body: object, token: str | None):
    headers = {"X-Delete-Token": token} if token is not None else {}
    return client.patch(f"/api/images/{image_id}", json=body, headers=headers)


def rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int32)


def manifest_of(app, image_id: str) -> dict:
    return record.read_manifest(app.extensions["imgsvc"].storage, image_id)


def no_variants_job(app, image_id: str) -> bool:
    return fetch_job(app.extensions["imgsvc"].queue, variants_job_id(image_id)) is None


@pytest.fixture
def pointed_away(client, run_worker) -> dict:
    """A done image with a face on the left, its focal point at the right edge
    (the thumbnail shows no face); its upload body."""
    response = post(client, with_face((1600, 800), (180, 400)), "0.95,0.5")
    assert response.status_code == 202, response.get_json()
    run_worker()
    body = response.get_json()
    view = client.get(f"/api/images/{body['id']}").get_json()
    assert view["status"] == "done"
    return {**body, "view": view}


def test_patch_recrops_only_the_cover_variant_under_a_new_url(
    app, client, run_worker, pointed_away
):
    image_id, token, before = pointed_away["id"], pointed_away["delete_token"], pointed_away["view"]
    old_thumb_url = before["variants"]["thumb"]["url"]
    old_thumb = client.get(old_thumb_url).data
    assert skin_share(rgb(old_thumb)) == 0
    widths = {name: client.get(before["variants"][name]["url"]).data for name in WIDTHS}

    response = patch(client, image_id, {"focus": "0.1,0.5"}, token)

    assert response.status_code == 202, response.get_json()
    view = response.get_json()
    assert view["focus"] == [0.1, 0.5]
    assert "thumb" not in view["variants"]  # stale: not shown until re-made
    assert view["pending_variants"]["thumb"]["status"] == "pending"
    assert view["pending_variants"]["thumb"]["spec"]["crop"] == "focus=0.100,0.500"
    assert set(view["pending_variants"]) == {"thumb"}  # only the cover is stale
    assert manifest_of(app, image_id)["focus"] == [0.1, 0.5]
    assert not no_variants_job(app, image_id)
    alias = client.get(f"/images/{image_id}/thumb")  # the old crop until the new one is stored
    assert (alias.status_code, alias.data, alias.headers["Cache-Control"]) == (
        200,
        old_thumb,
        "no-cache",
    )

    run_worker()

    after = client.get(f"/api/images/{image_id}").get_json()
    new_thumb_url = after["variants"]["thumb"]["url"]
    assert new_thumb_url != old_thumb_url
    assert after["variants"]["thumb"]["spec"]["crop"] == "focus=0.100,0.500"
    assert after["pending_variants"] == {}
    new_thumb = client.get(new_thumb_url)
    assert new_thumb.status_code == 200
    assert skin_share(rgb(new_thumb.data)) > 0.035  # the crop moved onto the face
    assert client.get(f"/images/{image_id}/thumb").data == new_thumb.data
    old = client.get(old_thumb_url)  # superseded: the old URL keeps its bytes
    assert (old.status_code, old.data) == (200, old_thumb)
    for name in WIDTHS:  # the width-bound variants kept their URLs and bytes
        assert after["variants"][name]["url"] == before["variants"][name]["url"]
        assert client.get(after["variants"][name]["url"]).data == widths[name]


def test_patch_to_null_goes_back_to_the_automatic_crop(app, client, run_worker, pointed_away):
    image_id, token = pointed_away["id"], pointed_away["delete_token"]

    response = patch(client, image_id, {"focus": None}, token)
    assert response.status_code == 202
    assert response.get_json()["focus"] is None
    assert "focus" not in manifest_of(app, image_id)
    run_worker()

    thumb = client.get(f"/api/images/{image_id}").get_json()["variants"]["thumb"]
    assert thumb["spec"]["crop"] == "smart"
    assert skin_share(rgb(client.get(thumb["url"]).data)) > 0.035  # the smart crop finds it


@pytest.mark.parametrize("same", ["0.95,0.5", [0.95, 0.5], "0.9500001, 0.5"])
def test_an_unchanged_focus_is_200_and_enqueues_nothing(app, client, pointed_away, same):
    image_id, token = pointed_away["id"], pointed_away["delete_token"]
    before = manifest_of(app, image_id)

    response = patch(client, image_id, {"focus": same}, token)

    assert response.status_code == 200
    assert response.get_json()["variants"]["thumb"] == pointed_away["view"]["variants"]["thumb"]
    assert manifest_of(app, image_id) == before
    assert no_variants_job(app, image_id)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_patch_needs_the_delete_token(app, client, pointed_away, token):
    image_id = pointed_away["id"]
    before = manifest_of(app, image_id)

    response = patch(client, image_id, {"focus": "0.1,0.5"}, token)

    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert manifest_of(app, image_id) == before
    assert no_variants_job(app, image_id)


@pytest.mark.parametrize(
    "body",
    [{"focus": "2,0.5"}, {"focus": "x,y"}, {"focus": [0.1]}, {"focus": [True, 0.5]}, {}, [1, 2]],
)
def test_a_bad_focus_is_400_and_changes_nothing(app, client, pointed_away, body):
    image_id = pointed_away["id"]
    before = manifest_of(app, image_id)

    response = patch(client, image_id, body, pointed_away["delete_token"])

    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_focus"
    assert manifest_of(app, image_id) == before
    assert no_variants_job(app, image_id)


def test_an_image_not_done_is_409(app, client):
    response = post(client, with_face((400, 200), (50, 100), 30))
    image_id, token = response.get_json()["id"], response.get_json()["delete_token"]

    answer = patch(client, image_id, {"focus": "0.1,0.5"}, token)

    assert answer.status_code == 409
    assert answer.get_json()["error"]["code"] == "image_not_ready"
    assert "focus" not in manifest_of(app, image_id)


def test_an_unknown_or_deleted_image_is_404(client, pointed_away):
    image_id, token = pointed_away["id"], pointed_away["delete_token"]
    assert patch(client, "A" * 22, {"focus": "0.1,0.5"}, token).status_code == 404
    deleted = client.delete(f"/api/images/{image_id}", headers={"X-Delete-Token": token})
    assert deleted.status_code == 204
    answer = patch(client, image_id, {"focus": "0.1,0.5"}, token)
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"


def test_redis_down_is_503_and_nothing_changes(app, client, pointed_away):
    from imgsvc.extensions import Services
    from tests.support import free_port

    image_id = pointed_away["id"]
    before = manifest_of(app, image_id)
    up = app.extensions["imgsvc"]
    app.extensions["imgsvc"] = Services(
        dict(app.config, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    )
    try:
        response = patch(client, image_id, {"focus": "0.1,0.5"}, pointed_away["delete_token"])
    finally:
        app.extensions["imgsvc"] = up

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "queue_unavailable"
    assert manifest_of(app, image_id) == before
    assert client.get(f"/api/images/{image_id}").get_json()["focus"] == [0.95, 0.5]


def test_patches_count_against_the_upload_rate_limit(app, client, pointed_away):
    from imgsvc import create_app

    limited = create_app({"TESTING": True, "RATE_LIMIT_UPLOADS": "2/60"}).test_client()
    limited.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    image_id, token = pointed_away["id"], pointed_away["delete_token"]

    answers = [patch(limited, image_id, {"focus": f"0.{n},0.5"}, token) for n in (1, 2, 3)]

    assert [answer.status_code for answer in answers] == [202, 202, 429]
    assert answers[2].get_json()["error"]["code"] == "rate_limited"
    assert manifest_of(app, image_id)["focus"] == [0.2, 0.5]


def test_a_patch_landing_while_the_variants_job_renders_is_made_by_that_job(
    app, client, pointed_away, monkeypatch
):
    image_id, token = pointed_away["id"], pointed_away["delete_token"]
    assert patch(client, image_id, {"focus": "0.9,0.5"}, token).status_code == 202
    svc = app.extensions["imgsvc"]
    real_store = variantjob.store_variant
    second: list[int] = []

    def store_then_patch(*args, **kwargs):
        # The second PATCH arrives after the job rendered the first focal point:
        # it finds the job on its way and enqueues nothing.
        if not second:
            second.append(patch(client, image_id, {"focus": "0.1,0.5"}, token).status_code)
        return real_store(*args, **kwargs)

    monkeypatch.setattr(variantjob, "store_variant", store_then_patch)
    result = variantjob._make_variants(svc, image_id)  # the job, as the worker runs it

    assert second == [202]
    assert result["made"] == ["thumb"]
    view = client.get(f"/api/images/{image_id}").get_json()
    assert view["pending_variants"] == {}
    assert view["variants"]["thumb"]["spec"]["crop"] == "focus=0.100,0.500"
    assert skin_share(rgb(client.get(view["variants"]["thumb"]["url"]).data)) > 0.035


def test_patching_back_to_a_recent_focal_point_remakes_it(app, client, run_worker, pointed_away):
    # A request that asked for the same crop a minute ago does not hold a PATCH back.
    image_id, token = pointed_away["id"], pointed_away["delete_token"]
    for focus in ("0.1,0.5", "0.5,0.5", "0.1,0.5"):
        assert patch(client, image_id, {"focus": focus}, token).status_code == 202
        job = fetch_job(app.extensions["imgsvc"].queue, variants_job_id(image_id))
        assert job is not None and job.get_status() == "queued", f"nothing enqueued for {focus}"
        run_worker()

    view = client.get(f"/api/images/{image_id}").get_json()
    assert view["pending_variants"] == {}
    assert view["variants"]["thumb"]["spec"]["crop"] == "focus=0.100,0.500"
