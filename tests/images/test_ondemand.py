"""Variant sets evolve: a new variant, a changed spec, a removed one, a failed job.

Each test uploads with the default set and runs the real worker, then
"restarts" the app and the worker with other ``IMGSVC_VARIANTS`` (a new app from
the environment; the worker is a new process each run), on both backends.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imgsvc import create_app
from imgsvc.images import record
from imgsvc.images.backfill import run_backfill
from imgsvc.imaging.variants import VariantSpec
from tests import factories
from tests.support.client import upload

SMART_THUMB = VariantSpec("thumb", 200, 200, cover=True, crop="smart")  # the default CROP

DEFAULT = "thumb:200x200:cover,xs:320,sm:640,md:1024,lg:1600,xl:2048"


def restarted(monkeypatch: pytest.MonkeyPatch, variants: str):
    """A new app (as after a restart) with ``variants``; workers run later see it too."""
    monkeypatch.setenv("IMGSVC_VARIANTS", variants)
    return create_app({"TESTING": True}).test_client()


def pixels(response) -> tuple[int, int]:
    return Image.open(io.BytesIO(response.data)).size


@pytest.fixture
def done_image(client, run_worker):
    image_id = upload(client, factories.jpeg(3000, 2000)).get_json()["id"]
    run_worker()
    body = client.get(f"/api/images/{image_id}").get_json()
    assert body["status"] == "done" and body["pending_variants"] == {}
    return body


def test_an_added_variant_is_made_on_the_first_request_and_served(
    monkeypatch, done_image, run_worker
):
    image_id = done_image["id"]
    client = restarted(monkeypatch, DEFAULT + ",xxl:2560")

    first = client.get(f"/images/{image_id}/xxl")
    assert first.status_code == 404
    assert first.get_json()["error"]["code"] == "variant_pending"
    assert int(first.headers["Retry-After"]) > 0
    body = client.get(f"/api/images/{image_id}").get_json()
    assert body["status"] == "done"
    assert "xxl" not in body["variants"]
    assert body["pending_variants"]["xxl"]["status"] == "pending"
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert 'id="variant-xxl" data-status="pending"' in page

    run_worker()

    body = client.get(f"/api/images/{image_id}").get_json()
    xxl = body["variants"]["xxl"]
    assert body["pending_variants"] == {}
    assert xxl["spec"] == {"width": 2560, "height": None, "fit": "width"}
    assert xxl["url"] == f"/images/{image_id}/xxl-{VariantSpec('xxl', 2560).tag()}"
    served = client.get(xxl["url"])
    assert served.status_code == 200
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert pixels(served) == (2560, 1707)
    alias = client.get(f"/images/{image_id}/xxl")
    assert (alias.status_code, alias.headers["Cache-Control"]) == (200, "no-cache")
    assert alias.data == served.data
    # Only what was missing was made: the others kept their objects and URLs.
    assert {n: v["url"] for n, v in body["variants"].items() if n != "xxl"} == {
        n: v["url"] for n, v in done_image["variants"].items()
    }


def test_a_changed_spec_gets_a_new_url_and_the_old_url_keeps_its_bytes(
    monkeypatch, done_image, run_worker
):
    image_id = done_image["id"]
    old_url = done_image["variants"]["thumb"]["url"]
    client = restarted(monkeypatch, DEFAULT.replace("200x200", "256x256"))
    old = client.get(old_url)
    assert (old.status_code, pixels(old)) == (200, (200, 200))
    assert client.get(f"/images/{image_id}/thumb").status_code == 404  # the alias: pending
    body = client.get(f"/api/images/{image_id}").get_json()
    assert "thumb" not in body["variants"] and body["pending_variants"]["thumb"]["status"]

    run_worker()

    body = client.get(f"/api/images/{image_id}").get_json()
    new_url = body["variants"]["thumb"]["url"]
    assert new_url != old_url
    new = client.get(new_url)
    assert (new.status_code, pixels(new)) == (200, (256, 256))
    assert new.headers["ETag"] != old.headers["ETag"]
    again = client.get(old_url)
    assert (again.status_code, again.data, again.headers["ETag"]) == (
        200,
        old.data,
        old.headers["ETag"],
    )
    assert client.get(f"/images/{image_id}/thumb").data == new.data
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert new_url in page and old_url not in page


def test_a_removed_variant_is_404_and_prune_deletes_only_its_objects(
    app, monkeypatch, done_image, run_worker
):
    image_id = done_image["id"]
    storage = app.extensions["imgsvc"].storage
    client = restarted(monkeypatch, DEFAULT.replace(",xl:2048", "").replace("200x200", "256x256"))
    assert client.get(f"/api/images/{image_id}").status_code == 200  # asks for the new thumb
    run_worker()
    before = set(storage.iter_keys(record.prefix(image_id)))
    xl_url = done_image["variants"]["xl"]["url"]
    old_thumb = done_image["variants"]["thumb"]["url"]
    assert client.get(xl_url).status_code == 404  # not configured: gone at once
    assert client.get(old_thumb).status_code == 200  # superseded: served until pruned

    svc = create_app({"TESTING": True}).extensions["imgsvc"]
    dry = run_backfill(svc, dry_run=True, prune_old=True)
    assert (dry.pruned_images, dry.pruned_objects) == (1, 2)
    assert set(storage.iter_keys(record.prefix(image_id))) == before
    report = run_backfill(svc, prune_old=True)

    assert (report.pruned_images, report.pruned_objects) == (1, 2)
    after = set(storage.iter_keys(record.prefix(image_id)))
    assert before - after == {
        f"images/{image_id}/xl-{VariantSpec('xl', 2048).tag()}.jpg",
        f"images/{image_id}/thumb-{SMART_THUMB.tag()}.jpg",
    }
    assert client.get(old_thumb).status_code == 404
    body = client.get(f"/api/images/{image_id}").get_json()
    assert sorted(body["variants"]) == ["lg", "md", "sm", "thumb", "xs"]
    for variant in body["variants"].values():
        assert client.get(variant["url"]).status_code == 200
    assert run_backfill(svc, prune_old=True).pruned_objects == 0


def test_a_failed_on_demand_job_ends_the_retry_after(app, monkeypatch, done_image, run_worker):
    image_id = done_image["id"]
    storage = app.extensions["imgsvc"].storage
    storage.put(
        record.original_key(image_id), b"\xff\xd8\xff\xe0 not a jpeg any more", "image/jpeg"
    )
    client = restarted(monkeypatch, DEFAULT + ",xxl:2560")
    assert client.get(f"/images/{image_id}/xxl").status_code == 404

    run_worker()

    failed = client.get(f"/images/{image_id}/xxl")
    assert failed.status_code == 404
    assert failed.get_json()["error"]["code"] == "variant_failed"
    assert failed.get_json()["cause"]["code"] == "invalid_image"
    assert "Retry-After" not in failed.headers
    body = client.get(f"/api/images/{image_id}").get_json()
    assert body["status"] == "done"  # the image keeps what it has
    assert body["pending_variants"]["xxl"]["status"] == "failed"
    assert body["pending_variants"]["xxl"]["error"]["code"] == "invalid_image"
    assert client.get(done_image["variants"]["md"]["url"]).status_code == 200
    assert app.extensions["imgsvc"].queue.count == 0  # asking again enqueued nothing
