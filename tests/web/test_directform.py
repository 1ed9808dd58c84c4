"""When the upload form's page sends files straight to the bucket: the ``data-direct``
attribute and the page's ``connect-src`` (imgsvc/web/directform.py)."""

from __future__ import annotations

import re

import pytest

from imgsvc import apikeys, create_app

S3_ONLY = pytest.mark.parametrize("storage_url", ["s3"], indirect=True)
PAGE_ORIGIN = "http://127.0.0.1:5000"


def form_page(overrides: dict) -> tuple[str, str]:
    """The upload page's HTML and its Content-Security-Policy."""
    app = create_app({"TESTING": True, **overrides})
    response = app.test_client().get("/")
    assert response.status_code == 200
    return response.get_data(as_text=True), response.headers["Content-Security-Policy"]


def connect_src(policy: str) -> str:
    match = re.search(r"connect-src ([^;]+)", policy)
    assert match is not None, policy
    return match.group(1)


@S3_ONLY
def test_with_s3_and_the_pages_origin_the_form_sends_to_the_bucket(env):
    html, policy = form_page({"S3_CORS_ORIGINS": PAGE_ORIGIN})

    assert 'data-direct="/api/uploads"' in html
    assert connect_src(policy) == f"'self' {env['IMGSVC_S3_ENDPOINT_URL']}"


@S3_ONLY
def test_the_bucket_origin_is_the_one_clients_reach(env):
    _, policy = form_page(
        {"S3_CORS_ORIGINS": PAGE_ORIGIN, "S3_PUBLIC_ENDPOINT_URL": "https://s3.example:9000"}
    )
    assert connect_src(policy) == "'self' https://s3.example:9000"


@S3_ONLY
@pytest.mark.parametrize(
    "overrides",
    [
        {},  # no origins: the bucket would refuse the page
        {"S3_CORS_ORIGINS": PAGE_ORIGIN, "API_KEYS": apikeys.entry("ci", apikeys.new_key())},
    ],
    ids=["without-origins", "with-api-keys"],
)
def test_otherwise_the_form_posts_to_the_web(env, overrides):
    html, policy = form_page(overrides)

    assert 'id="upload-form"' in html and "data-direct" not in html
    assert connect_src(policy) == "'self'"


@pytest.mark.parametrize("storage_url", ["file"], indirect=True)
def test_with_file_storage_the_form_posts_to_the_web(env):
    html, policy = form_page({"S3_CORS_ORIGINS": PAGE_ORIGIN})

    assert 'id="upload-form"' in html and "data-direct" not in html
    assert connect_src(policy) == "'self'"


@S3_ONLY
def test_a_malformed_origin_stops_the_app_at_start(env):
    with pytest.raises(ValueError, match="S3_CORS_ORIGINS"):
        create_app({"TESTING": True, "S3_CORS_ORIGINS": "127.0.0.1:5000"})
