"""HTML pages and the upload form (CSRF included)."""

from __future__ import annotations

import io

from tests import factories
from tests.web.conftest import csrf_token, upload


def post_form(client, data: bytes | None, token: str | None, filename: str = "photo.jpg"):
    fields: dict = {}
    if token is not None:
        fields["csrf_token"] = token
    if data is not None:
        fields["file"] = (io.BytesIO(data), filename)
    return client.post(
        "/", data=fields, content_type="multipart/form-data", headers={"Accept": "text/html"}
    )


def test_index_shows_the_form_with_a_csrf_token(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'type="file"' in html
    assert 'enctype="multipart/form-data"' in html
    assert csrf_token(html)


def test_form_upload_redirects_to_the_image_page(app, client):
    token = csrf_token(client.get("/").get_data(as_text=True))

    response = post_form(client, factories.jpeg(), token)

    assert response.status_code == 303
    image_id = response.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/images/{image_id}")
    assert page.status_code == 200
    assert "queued" in page.get_data(as_text=True)
    assert app.extensions["imgsvc"].queue.job_ids == [f"image-{image_id}"]


def test_form_without_csrf_token_is_refused_and_stores_nothing(app, client):
    client.get("/")
    response = post_form(client, factories.jpeg(), token=None)
    assert response.status_code == 403
    assert "security token" in response.get_data(as_text=True)
    assert app.extensions["imgsvc"].storage.list_keys("images/") == []

    forged = post_form(client, factories.jpeg(), token="forged-token")
    assert forged.status_code == 403


def test_form_shows_the_error_for_a_bad_file(app, client):
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = post_form(client, b"%PDF-1.4 not an image", token, "cv.jpg")
    assert response.status_code == 415
    html = response.get_data(as_text=True)
    assert "unsupported_format" in html
    assert 'type="file"' in html  # the form is shown again


def test_form_without_a_file_is_missing_file(client):
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = post_form(client, None, token)
    assert response.status_code == 400
    assert "missing_file" in response.get_data(as_text=True)


def test_image_page_shows_every_variant_and_a_srcset_snippet(client, processed):
    image_id = processed(factories.jpeg(2500, 1600))["id"]
    html = client.get(f"/images/{image_id}").get_data(as_text=True)
    for name in ("thumb", "xs", "sm", "md", "lg", "xl"):
        assert f'src="/images/{image_id}/{name}"' in html
    assert "srcset=" in html
    assert f"/images/{image_id}/xl 2048w" in html
    assert "done" in html


def test_failed_image_page_says_what_to_do(client, processed):
    data = factories.jpeg(800, 600)
    image_id = processed(data[: len(data) // 3])["id"]
    html = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "invalid_image" in html
    assert "Try a different file" in html


def test_recent_uploads_appear_on_the_index(client):
    first = upload(client, factories.jpeg(seed=1)).get_json()["id"]
    second = upload(client, factories.jpeg(seed=2)).get_json()["id"]
    html = client.get("/").get_data(as_text=True)
    assert html.index(second) < html.index(first)  # newest first


def test_unknown_page_is_a_friendly_404_for_browsers_and_json_for_clients(client):
    page = client.get("/nope", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert "<html" in page.get_data(as_text=True)
    api = client.get("/nope", headers={"Accept": "application/json"})
    assert api.get_json()["error"]["code"] == "not_found"
    missing_image = client.get("/images/AAAAAAAAAAAAAAAAAAAAAA", headers={"Accept": "text/html"})
    assert missing_image.status_code == 404
