"""Reads that bypass the web tier: variant URLs on MEDIA_BASE_URL, or 302s to
presigned GETs (MEDIA_REDIRECT), against moto's S3 server over HTTP."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from imgsvc import create_app
from tests import factories

S3_ONLY = pytest.mark.parametrize("storage_url", ["s3"], indirect=True)
CDN = "https://cdn.example.test/media"


@S3_ONLY
def test_redirect_mode_answers_302_to_a_presigned_get_of_the_same_bytes(app, client, processed):
    app.config.update(MEDIA_REDIRECT=True, MEDIA_REDIRECT_EXPIRY=600)
    image_id = processed(factories.jpeg(800, 600))["id"]
    storage = app.extensions["imgsvc"].storage
    entry = storage_manifest_variant(app, image_id, "md")

    versioned = f"/images/{image_id}/md-{entry['tag']}"
    response = client.get(versioned)
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "public, max-age=300"  # half the signature's life
    fetched = requests.get(response.headers["Location"], timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == storage.get(entry["key"])
    # The alias's target changes with the spec: its redirect is revalidated, as it is.
    alias = client.get(f"/images/{image_id}/md")
    assert alias.status_code == 302
    assert alias.headers["Cache-Control"] == "no-cache"
    assert requests.get(alias.headers["Location"], timeout=10).content == fetched.content
    # The original keeps its attachment disposition: served by the web.
    assert client.get(f"/images/{image_id}/original").status_code == 200


@S3_ONLY
def test_a_media_base_url_puts_variant_links_on_the_cdn(app, client, processed):
    app.config.update(MEDIA_BASE_URL=CDN)
    image_id = processed(factories.jpeg(800, 600))["id"]
    storage = app.extensions["imgsvc"].storage
    entry = storage_manifest_variant(app, image_id, "md")
    expected = f"{CDN}/{storage.object_key(entry['key'])}"

    view = client.get(f"/api/images/{image_id}").get_json()
    assert view["variants"]["md"]["url"] == expected
    assert view["original"]["url"] == f"/images/{image_id}/original"
    redirected = client.get(f"/images/{image_id}/md-{entry['tag']}")
    assert redirected.status_code == 302
    assert redirected.headers["Location"] == expected
    assert redirected.headers["Cache-Control"] == "public, max-age=86400"
    alias = client.get(f"/images/{image_id}/md")
    assert (alias.headers["Location"], alias.headers["Cache-Control"]) == (expected, "no-cache")
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    snippet = page.split('<code id="snippet">')[1].split("</code>")[0]
    assert f"{expected} 800w" in snippet, snippet  # md is never upscaled


def test_the_page_policy_lets_images_come_from_the_media_origin(
    env, monkeypatch: pytest.MonkeyPatch, s3_endpoint: str
) -> None:
    monkeypatch.setenv("IMGSVC_STORAGE_URL", "s3://imgsvc-test/csp")
    monkeypatch.setenv("IMGSVC_S3_ENDPOINT_URL", s3_endpoint)
    app = create_app({"TESTING": True, "MEDIA_BASE_URL": CDN})
    policy = app.test_client().get("/").headers["Content-Security-Policy"]
    assert "img-src 'self' https://cdn.example.test " in policy
    app = create_app({"TESTING": True, "MEDIA_REDIRECT": True})
    policy = app.test_client().get("/").headers["Content-Security-Policy"]
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(s3_endpoint))
    assert f"img-src 'self' {origin} " in policy


@pytest.mark.parametrize("storage_url", ["file"], indirect=True)
@pytest.mark.parametrize("setting", [{"MEDIA_REDIRECT": True}, {"MEDIA_BASE_URL": CDN}])
def test_media_settings_need_s3_storage(env, setting) -> None:
    with pytest.raises(ValueError, match="need S3 storage"):
        create_app({"TESTING": True, **setting})


@S3_ONLY
def test_a_media_base_url_must_be_absolute(env) -> None:
    with pytest.raises(ValueError, match="absolute http"):
        create_app({"TESTING": True, "MEDIA_BASE_URL": "cdn.example.test"})


def storage_manifest_variant(app, image_id: str, name: str) -> dict:
    from imgsvc.images import record

    return record.read_manifest(app.extensions["imgsvc"].storage, image_id)["variants"][name]
