"""Variant and original bytes at stable URLs."""

from __future__ import annotations

import io

from PIL import Image

from tests import factories
from tests.imaging import heif_files
from tests.support.client import upload


def test_variant_bytes_have_type_etag_and_immutable_caching(client, processed):
    image_id = processed(factories.jpeg(1500, 1000, gps=True))["id"]
    url = client.get(f"/api/images/{image_id}").get_json()["variants"]["sm"]["url"]

    response = client.get(url)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Vary" not in response.headers  # one format only: nothing to negotiate
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 10
    image = Image.open(io.BytesIO(response.data))
    assert (image.format, image.size) == ("JPEG", (640, 427))
    assert not image.getexif()

    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag

    other = client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200

    alias = client.get(f"/images/{image_id}/sm")  # the current sm: same bytes, revalidated
    assert (alias.data, alias.headers["ETag"]) == (response.data, etag)
    assert alias.headers["Cache-Control"] == "no-cache"
    assert client.get(f"/images/{image_id}/sm", headers={"If-None-Match": etag}).status_code == 304


def test_transparent_variants_are_webp(client, processed):
    image_id = processed(factories.png_alpha(), "alpha.png")["id"]
    response = client.get(f"/images/{image_id}/xs")
    assert response.headers["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(response.data)).mode == "RGBA"


def test_variant_not_yet_made_is_404_with_retry_after(client):
    image_id = upload(client, factories.jpeg()).get_json()["id"]
    response = client.get(f"/images/{image_id}/md")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
    assert int(response.headers["Retry-After"]) > 0


def test_unknown_variant_names_and_ids_are_404(client, processed):
    image_id = processed(factories.jpeg())["id"]
    for path in (
        f"/images/{image_id}/huge",
        f"/images/{image_id}/manifest.json",
        f"/images/{image_id}/sm.jpg",
        "/images/AAAAAAAAAAAAAAAAAAAAAA/sm",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.get_json()["error"]["code"] == "not_found"
        assert "Retry-After" not in response.headers


def test_paths_cannot_reach_outside_storage(client, processed):
    image_id = processed(factories.jpeg())["id"]
    for path in (
        "/images/../x",
        "/images/%2e%2e/original",
        f"/images/{image_id}/..%2fmanifest.json",
        f"/images/{image_id}%2f..%2f..%2fetc/original",
        "/images/..%2f..%2f..%2fetc%2fpasswd/original",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"delete_token" not in response.data
        assert b"root:" not in response.data


def test_original_is_served_only_as_attachment(client):
    data = factories.jpeg(300, 200)
    image_id = upload(client, data, "holiday.jpg").get_json()["id"]

    response = client.get(f"/images/{image_id}/original")

    assert response.status_code == 200
    assert response.data == data
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{image_id}.jpg"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_failed_image_variants_are_404_without_retry_after(client, processed):
    data = factories.jpeg(800, 600)
    image_id = processed(data[: len(data) // 3])["id"]
    response = client.get(f"/images/{image_id}/sm")
    assert response.status_code == 404
    assert "Retry-After" not in response.headers


def test_iphone_heic_upload_is_served_as_upright_jpeg_variants(client, processed):
    image_id = processed(heif_files.iphone_like(640, 480, orientation=6), "IMG_0001.HEIC")["id"]
    status = client.get(f"/api/images/{image_id}").get_json()
    assert status["status"] == "done"
    assert status["original"]["format"] == "HEIF"
    assert status["metadata"] == {  # the safe subset; the file's GPS position is not there
        "captured_at": "2024-05-04T10:11:12",
        "camera_make": "Apple",
        "camera_model": "iPhone 15 Pro",
        "orientation": 6,
        "colour_profile": "sRGB / BT.709 (nclx)",
    }

    response = client.get(f"/images/{image_id}/sm")
    image = Image.open(io.BytesIO(response.data))
    assert (response.headers["Content-Type"], image.format, image.size) == (
        "image/jpeg",
        "JPEG",
        (480, 640),
    )
    assert not image.getexif()
    original = client.get(f"/images/{image_id}/original")
    assert original.headers["Content-Type"] == "image/heif"
    assert original.headers["Content-Disposition"] == f'attachment; filename="{image_id}.heic"'


def test_avif_upload_is_processed(client, processed):
    image_id = processed(heif_files.avif(factories.photo(500, 400)), "photo.avif")["id"]
    response = client.get(f"/images/{image_id}/xs")
    assert Image.open(io.BytesIO(response.data)).size == (320, 256)
