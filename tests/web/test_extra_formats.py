"""EXTRA_FORMATS: every variant also as WebP and AVIF, at /images/<id>/<name>.<ext>;
and the placeholder of a finished image in the API."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imgsvc.images import record
from tests import factories
from tests.support.client import upload

NAMES = ["thumb", "xs", "sm", "md", "lg", "xl"]


@pytest.fixture
def env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The usual settings, plus EXTRA_FORMATS (also for the worker subprocess)."""
    monkeypatch.setenv("IMGSVC_EXTRA_FORMATS", "webp,avif")
    return {**env, "IMGSVC_EXTRA_FORMATS": "webp,avif"}


def manifest_of(app, image_id: str) -> dict:
    return record.read_manifest(app.extensions["imgsvc"].storage, image_id)


def test_each_variant_is_served_in_each_extra_format(app, client, processed):
    image_id = processed(factories.jpeg(1500, 1000, gps=True))["id"]
    manifest = manifest_of(app, image_id)
    keys = set(app.extensions["imgsvc"].storage.list_keys(f"images/{image_id}/"))
    for name in NAMES:
        entry = manifest["variants"][name]
        assert set(entry["formats"]) == {"webp", "avif"}
        for extension, listed in entry["formats"].items():
            versioned = f"{name}-{entry['tag']}.{extension}"  # the spec's own URL and key
            assert listed["url"] == f"/images/{image_id}/{versioned}"
            assert listed["key"] == f"images/{image_id}/{versioned}" in keys
            response = client.get(listed["url"])
            assert response.status_code == 200, listed["url"]
            assert response.headers["Content-Type"] == listed["content_type"]
            assert listed["content_type"] == f"image/{extension}"
            assert len(response.data) == listed["bytes"]
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            public = client.get(f"/api/images/{image_id}").get_json()["variants"][name]
            assert public["formats"][extension] == {
                "url": listed["url"],
                "bytes": listed["bytes"],
                "content_type": listed["content_type"],
            }
            image = Image.open(io.BytesIO(response.data))
            assert (image.format, image.size) == (
                extension.upper(),
                (entry["width"], entry["height"]),
            )

    for path in (
        f"/images/{image_id}/md.png",
        f"/images/{image_id}/md.jpg",
        f"/images/{image_id}/md.",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"
        assert "Retry-After" not in response.headers

    etag = client.get(f"/images/{image_id}/md.avif").headers["ETag"]
    again = client.get(f"/images/{image_id}/md.avif", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert client.get(f"/images/{image_id}/md").headers["ETag"] != etag


def test_an_extra_format_equal_to_the_primary_reuses_its_object(app, client, processed):
    image_id = processed(factories.png_alpha(), "alpha.png")["id"]
    entry = manifest_of(app, image_id)["variants"]["sm"]
    assert entry["format"] == "WEBP"
    assert entry["formats"]["webp"]["key"] == entry["key"]
    assert entry["key"] == f"images/{image_id}/sm-{entry['tag']}.webp"
    assert (
        client.get(f"/images/{image_id}/sm.webp").data == client.get(f"/images/{image_id}/sm").data
    )
    avif = Image.open(io.BytesIO(client.get(f"/images/{image_id}/sm.avif").data))
    assert avif.mode == "RGBA"


def test_formats_not_made_are_404_and_unfinished_ones_say_retry(client):
    pending = upload(client, factories.jpeg()).get_json()["id"]
    response = client.get(f"/images/{pending}/md.avif")
    assert response.status_code == 404
    assert int(response.headers["Retry-After"]) > 0
    never = client.get(f"/images/{pending}/md.png")
    assert never.status_code == 404 and "Retry-After" not in never.headers


def test_finished_images_carry_a_placeholder(app, client, run_worker):
    image_id = upload(client, factories.jpeg(900, 600)).get_json()["id"]
    assert client.get(f"/api/images/{image_id}").get_json()["placeholder"] is None
    run_worker()
    placeholder = client.get(f"/api/images/{image_id}").get_json()["placeholder"]
    assert placeholder == manifest_of(app, image_id)["placeholder"]
    assert placeholder["blurhash"].startswith("L") and len(placeholder["blurhash"]) == 28
    assert placeholder["color"].startswith("#") and len(placeholder["color"]) == 7
    int(placeholder["color"][1:], 16)
