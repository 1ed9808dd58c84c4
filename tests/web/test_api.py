"""The JSON API: upload, status, delete — through the app, a real Redis and a real worker."""

from __future__ import annotations

import io
import json
import zlib

import pytest

from imgsvc.images import record
from imgsvc.images.variantset import image_specs
from imgsvc.imaging.variants import PIPELINE_VERSION
from imgsvc.settings import Settings
from tests import factories


def upload(client, data: bytes, filename: str = "photo.jpg", field: str = "file"):
    return client.post(
        "/api/images",
        data={field: (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def stored_keys(app) -> list[str]:
    return app.extensions["imgsvc"].storage.list_keys("images/")


def queued_job_ids(app) -> list[str]:
    return app.extensions["imgsvc"].queue.job_ids


def test_upload_answers_202_with_id_job_token_and_links(app, client):
    response = upload(client, factories.jpeg(800, 600))

    assert response.status_code == 202
    body = response.get_json()
    image_id = body["id"]
    assert record.is_image_id(image_id)
    assert response.headers["Location"] == f"/api/images/{image_id}"
    assert body["status"] == "queued"
    assert body["job_id"] == f"image-{image_id}"
    assert len(body["delete_token"]) >= 32
    assert body["links"]["self"] == f"/api/images/{image_id}"
    assert body["links"]["page"] == f"/images/{image_id}"
    assert stored_keys(app) == [f"images/{image_id}/manifest.json", f"images/{image_id}/original"]
    assert queued_job_ids(app) == [body["job_id"]]


def test_status_is_queued_then_done_with_every_variant(app, client, run_worker):
    image_id = upload(client, factories.jpeg(3000, 2000)).get_json()["id"]
    before = client.get(f"/api/images/{image_id}").get_json()
    assert before["status"] == "queued"
    assert before["variants"] == {}
    assert before["original"] == {
        "width": 3000,
        "height": 2000,
        "format": "JPEG",
        "bytes": before["original"]["bytes"],
        "url": f"/images/{image_id}/original",
    }

    run_worker()

    after = client.get(f"/api/images/{image_id}").get_json()
    assert after["status"] == "done", after
    assert after["error"] is None
    sizes = {name: (v["width"], v["height"]) for name, v in after["variants"].items()}
    assert sizes == {
        "thumb": (200, 200),
        "xs": (320, 213),
        "sm": (640, 427),
        "md": (1024, 683),
        "lg": (1600, 1067),
        "xl": (2048, 1365),
    }
    for name, variant in after["variants"].items():
        spec = next(each for each in image_specs({}, Settings({})) if each.name == name)
        assert variant["url"] == f"/images/{image_id}/{name}-{spec.tag()}"  # versioned
        assert (variant["spec"], variant["pipeline"]) == (spec.identity(), PIPELINE_VERSION)
        assert variant["format"] == "JPEG"
        assert variant["bytes"] > 0
    assert after["processed_at"] >= after["created_at"]


@pytest.mark.parametrize(
    ("data", "filename", "code", "status"),
    [
        (b"", "empty.jpg", "invalid_image", 400),
        (bytes(range(256)) * 40, "random.jpg", "invalid_image", 400),
        (
            b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
            "x.svg",
            "unsupported_format",
            415,
        ),
        (
            b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",
            "eps.jpg",
            "unsupported_format",
            415,
        ),
        (b"%PDF-1.7\n1 0 obj<<>>endobj\n", "doc.jpg", "unsupported_format", 415),
        (factories.png_header(30000, 30000), "huge.png", "image_too_large", 400),
    ],
    ids=["zero-bytes", "random-bytes", "svg", "eps", "pdf", "30000x30000"],
)
def test_bad_uploads_get_their_code_and_nothing_is_stored(
    app, client, data, filename, code, status
):
    response = upload(client, data, filename)

    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert response.get_json()["error"]["message"]
    assert stored_keys(app) == []
    assert queued_job_ids(app) == []


def test_missing_file_field(app, client):
    response = upload(client, factories.jpeg(), field="picture")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "missing_file"
    assert stored_keys(app) == []


def test_too_many_frames_is_image_too_large(app, client):
    app.config["MAX_IMAGE_FRAMES"] = 3
    response = upload(client, factories.animated_gif(frames=5), "anim.gif")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "image_too_large"


def test_body_over_byte_limit_is_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 50_000
    response = upload(client, factories.jpeg(1200, 900, quality=95))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "file_too_large"
    assert stored_keys(app) == []


def test_truncated_jpeg_ends_failed_invalid_image_without_retries(app, client, run_worker):
    data = factories.jpeg(1200, 900)
    response = upload(client, data[: len(data) // 2])
    assert response.status_code == 202, response.get_json()
    image_id = response.get_json()["id"]

    run_worker()

    body = client.get(f"/api/images/{image_id}").get_json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "invalid_image"
    assert body["variants"] == {}
    job = app.extensions["imgsvc"].queue.fetch_job(f"image-{image_id}")
    assert job.get_status() == "failed"
    assert job.retries_left == 0
    assert len(list(job.results())) == 1  # ran once: bad input is not retried


def test_unknown_and_malformed_ids_are_404_json(client):
    for path in (
        "/api/images/AAAAAAAAAAAAAAAAAAAAAA",
        "/api/images/not-an-id",
        "/api/images/..%2F..%2Fetc",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"


def test_delete_needs_the_token_and_removes_every_object(app, client, run_worker):
    body = upload(client, factories.jpeg(700, 500)).get_json()
    image_id, token = body["id"], body["delete_token"]
    run_worker()
    assert len(stored_keys(app)) == 9  # original, manifest, 6 variants, _settled

    assert client.delete(f"/api/images/{image_id}").status_code == 403
    wrong = client.delete(f"/api/images/{image_id}", headers={"X-Delete-Token": "not-" + token})
    assert wrong.status_code == 403
    assert wrong.get_json()["error"]["code"] == "forbidden"
    assert len(stored_keys(app)) == 9

    assert (
        client.delete(f"/api/images/{image_id}", headers={"X-Delete-Token": token}).status_code
        == 204
    )
    assert stored_keys(app) == []
    assert client.get(f"/api/images/{image_id}").status_code == 404
    assert client.get(f"/images/{image_id}/sm").status_code == 404


def test_delete_before_processing_cancels_the_job(app, client, run_worker):
    body = upload(client, factories.jpeg(700, 500)).get_json()
    client.delete(f"/api/images/{body['id']}", headers={"X-Delete-Token": body["delete_token"]})
    assert queued_job_ids(app) == []
    run_worker()
    assert stored_keys(app) == []


def test_redis_down_at_upload_is_503_and_reconcile_processes_it_later(
    app, client, env, run_worker, monkeypatch
):
    from imgsvc.extensions import Services
    from imgsvc.images.reconcile import reconcile
    from tests.support import free_port

    down = dict(app.config, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    app.extensions["imgsvc"] = Services(down)

    response = upload(client, factories.jpeg(640, 480))

    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "queue_unavailable"
    keys = [k for k in stored_keys(app) if k.endswith("manifest.json")]
    assert len(keys) == 1  # the original is kept: storage is the system of record
    image_id = keys[0].split("/")[1]
    assert image_id in response.get_json()["error"]["message"]
    assert response.get_json()["id"] == image_id
    token = response.get_json()["delete_token"]
    assert record.token_matches(
        record.read_manifest(app.extensions["imgsvc"].storage, image_id), token
    )

    report = reconcile(Services(dict(app.config)))
    assert report.requeued == [image_id]
    run_worker()
    assert client.get(f"/api/images/{image_id}").get_json()["status"] == "done"


def test_jobs_take_plain_arguments(app, client):
    body = upload(client, factories.jpeg()).get_json()
    job = app.extensions["imgsvc"].queue.fetch_job(body["job_id"])
    raw = app.extensions["imgsvc"].redis.hget(f"rq:job:{body['job_id']}", "data")
    assert json.loads(zlib.decompress(raw)) == [  # JSON, never pickle
        "imgsvc.tasks.process_image",
        None,
        [body["id"]],
        {},
    ]
    assert job.func_name == "imgsvc.tasks.process_image"
    assert list(job.args) == [body["id"]]
    assert job.kwargs == {}


def test_every_kind_of_input_ends_done_with_right_sizes_and_modes(app, client, run_worker):
    from PIL import Image

    cases = {
        "cmyk.jpg": (factories.cmyk_jpeg(400, 300), (320, 240), "RGB", "image/jpeg"),
        "alpha.png": (factories.png_alpha(500, 400), (320, 256), "RGBA", "image/webp"),
        "palette.png": (
            factories.palette_png_transparent(300, 200),
            (300, 200),
            "RGBA",
            "image/webp",
        ),
        "deep.png": (factories.png16(300, 200), (300, 200), "L", "image/jpeg"),
        "anim.gif": (factories.animated_gif(120, 90), (120, 90), "RGB", "image/jpeg"),
        "dot.png": (factories.encode(factories.photo(1, 1), "PNG"), (1, 1), "RGB", "image/jpeg"),
        "pano.jpg": (factories.jpeg(10000, 300), (320, 10), "RGB", "image/jpeg"),
    }
    ids = {name: upload(client, data, name).get_json()["id"] for name, (data, *_r) in cases.items()}

    run_worker()

    for name, (_data, xs_size, mode, content_type) in cases.items():
        body = client.get(f"/api/images/{ids[name]}").get_json()
        assert body["status"] == "done", (name, body["error"])
        assert set(body["variants"]) == {"thumb", "xs", "sm", "md", "lg", "xl"}
        xs = client.get(f"/images/{ids[name]}/xs")
        assert xs.headers["Content-Type"] == content_type, name
        image = Image.open(io.BytesIO(xs.data))
        assert (image.size, image.mode) == (xs_size, mode), name
        thumb = body["variants"]["thumb"]
        side = min(200, *xs_size) if name != "pano.jpg" else 200
        assert (thumb["width"], thumb["height"]) == (side, side), name
