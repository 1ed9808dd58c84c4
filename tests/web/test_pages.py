"""HTML pages and the upload form (CSRF included), error pages, gallery, live regions."""

from __future__ import annotations

import io
import json
import re
from html import unescape

import pytest

from imgsvc.images import indexes
from imgsvc.images.variantset import image_specs
from imgsvc.queue import fetch_job
from imgsvc.settings import Settings
from imgsvc.web.present import srcset_snippet
from tests import factories
from tests.support.client import csrf_token, upload

# Storage does not matter to these pages; the storage-backend suites cover both.
FILE_ONLY = pytest.mark.parametrize("storage_url", ["file"], indirect=True)
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}

# The tags of an image without a focal point, under the default CROP.
TAGS = {spec.name: spec.tag() for spec in image_specs({}, Settings({}))}


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
        assert f'src="/images/{image_id}/{name}-{TAGS[name]}"' in html  # the versioned URLs
    assert "srcset=" in html
    assert f"/images/{image_id}/xl-{TAGS['xl']} 2048w" in html
    assert "done" in html


def test_failed_image_page_says_what_to_do(client, processed):
    data = factories.jpeg(800, 600)
    image_id = processed(data[: len(data) // 3])["id"]
    html = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "invalid_image" in html
    assert "We could not process this image" in html
    assert "save it again as JPEG or PNG" in html
    assert "Upload another image" in html


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


@FILE_ONLY
def test_script_upload_gets_json_with_the_page_link(client):
    token = csrf_token(client.get("/").get_data(as_text=True))
    response = client.post(
        "/",
        data={"csrf_token": token, "file": (io.BytesIO(factories.jpeg()), "a.jpg")},
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 202
    body = response.get_json()
    assert body["links"]["page"] == f"/images/{body['id']}" == response.headers["Location"]
    assert body["status"] == "queued"

    refused = client.post(
        "/",
        data={"csrf_token": token, "file": (io.BytesIO(b"%PDF-1.4"), "a.jpg")},
        content_type="multipart/form-data",
        headers={"Accept": "application/json"},
    )
    assert refused.status_code == 415
    assert refused.get_json()["error"]["code"] == "unsupported_format"


def _pages_html(client, image_id: str) -> list[str]:
    return [
        client.get(path, headers=HTML).get_data(as_text=True)
        for path in ("/", f"/images/{image_id}", "/add-task", "/jobs", "/nope")
    ]


@FILE_ONLY
def test_pages_need_no_inline_script_or_style(client, processed):
    image_id = processed(factories.jpeg(900, 600))["id"]
    for html in _pages_html(client, image_id):
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script>"
        assert "<style" not in html
        assert not re.search(r"\sstyle=", html), "style attribute"
        assert not re.search(r"\son[a-z]+=", html), "event handler attribute"
        assert "http://" not in html.split("<main")[0] and "https://" not in html.split("<main")[0]
        assert "/static/vendor/bootstrap.min.css" in html


@FILE_ONLY
def test_image_page_shows_the_jobs_progress(app, client):
    image_id = upload(client, factories.jpeg(800, 600)).get_json()["id"]
    job = fetch_job(app.extensions["imgsvc"].queue, f"image-{image_id}")
    job.meta.update(variants_done=3, variants_total=6)
    job.save_meta()

    html = client.get(f"/images/{image_id}").get_data(as_text=True)

    assert "Made 3 of 6 variants" in html
    assert 'aria-valuenow="50"' in html and 'data-width="50"' in html
    assert 'data-refresh="800"' in html  # the page keeps itself up to date


@FILE_ONLY
def test_done_image_page_stops_refreshing_and_orders_variants_by_width(client, processed):
    image_id = processed(factories.jpeg(2500, 1600))["id"]
    html = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "data-refresh" not in html.split('id="image-body"')[1].split(">")[0]
    order = [html.index(f'id="variant-{name}"') for name in ("thumb", "xs", "sm", "md", "lg", "xl")]
    assert order == sorted(order)
    assert 'id="copy-snippet"' in html and "2500×1600 px" in html


def test_snippet_becomes_a_picture_when_variants_have_extra_formats():
    def variant(name: str, width: int, formats: bool) -> dict:
        entry = {"url": f"/images/x/{name}", "width": width, "height": width // 2}
        if formats:
            entry["formats"] = {
                "avif": {"url": f"/images/x/{name}.avif"},
                "webp": {"url": f"/images/x/{name}.webp", "content_type": "image/webp"},
            }
        return entry

    plain = {"variants": {"xs": variant("xs", 320, False), "sm": variant("sm", 640, False)}}
    assert srcset_snippet(plain).startswith("<img ")
    rich = {"variants": {"xs": variant("xs", 320, True), "sm": variant("sm", 640, True)}}
    snippet = srcset_snippet(rich, "https://cdn.example")
    assert snippet.startswith("<picture>") and snippet.endswith("</picture>")
    assert snippet.index('type="image/avif"') < snippet.index('type="image/webp"')
    assert (
        "https://cdn.example/images/x/xs.avif 320w, https://cdn.example/images/x/sm.avif 640w"
        in snippet
    )
    assert 'srcset="https://cdn.example/images/x/xs 320w' in snippet  # the <img> fallback


@FILE_ONLY
def test_gallery_uses_the_cached_tile_colour_and_marks_pending_uploads(app, client, processed):
    done_id = processed(factories.jpeg(seed=3))["id"]
    pending_id = upload(client, factories.jpeg(seed=4)).get_json()["id"]
    redis = app.extensions["imgsvc"].redis
    record = json.loads(redis.get(indexes.tile_key(done_id)))
    assert record["status"] == "done" and record["thumb"] == "thumb"
    record["color"] = "#336699"  # as the worker stores a manifest's placeholder colour
    redis.set(indexes.tile_key(done_id), json.dumps(record))

    html = client.get("/").get_data(as_text=True)

    assert f'src="/images/{done_id}/thumb"' in html
    assert 'data-color="#336699"' in html
    assert f'src="/images/{pending_id}/thumb"' not in html  # not made yet: no 404 to load
    assert f'Processing<span class="visually-hidden"> upload {pending_id}' in html
    assert 'id="gallery" aria-labelledby="recent-title" data-refresh="2000"' in html


@FILE_ONLY
def test_gallery_tile_is_rebuilt_from_the_manifest_when_redis_lost_it(app, client, processed):
    image_id = processed(factories.jpeg(seed=5))["id"]
    redis = app.extensions["imgsvc"].redis
    redis.delete(indexes.tile_key(image_id))
    redis.delete(f"rq:job:image-{image_id}")

    html = client.get("/").get_data(as_text=True)

    assert f'src="/images/{image_id}/thumb"' in html
    assert json.loads(redis.get(indexes.tile_key(image_id)))["status"] == "done"


@FILE_ONLY
def test_word_count_card_shows_the_result(app, client, run_worker, monkeypatch):
    from tests.support.pageserver import KNOWN_TOP, KNOWN_TOTAL, PageServer

    server = PageServer()
    try:
        monkeypatch.setenv("IMGSVC_FETCH_ALLOWLIST", server.allow_entry)
        app.config["FETCH_ALLOWLIST"] = server.allow_entry
        token = csrf_token(client.get("/add-task").get_data(as_text=True))
        page = client.post("/add-task", data={"csrf_token": token, "url": f"{server.base}/known"})
        job_id = re.search(r'data-job="([^"]+)"', page.get_data(as_text=True)).group(1)
        assert 'data-refresh="1000"' in page.get_data(as_text=True)
        run_worker()
    finally:
        server.close()

    html = client.get(f"/add-task?job={job_id}").get_data(as_text=True)

    card = html.split('id="wordcount"')[1].split("</section>")[0]
    assert f'<div class="stat-value" id="total-words">{KNOWN_TOTAL}</div>' in card
    assert card.count('<td class="word">') == len(KNOWN_TOP)
    assert '<td class="word">the</td><td class="text-end count">5</td>' in card
    assert 'data-width="100.0"' in card and "data-refresh" not in card.split(">")[0]


@FILE_ONLY
def test_image_page_offers_a_picture_snippet_with_the_extra_formats(
    app, client, run_worker, monkeypatch
):
    monkeypatch.setenv("IMGSVC_EXTRA_FORMATS", "webp")
    image_id = upload(client, factories.jpeg(1200, 800)).get_json()["id"]
    run_worker()

    html = unescape(client.get(f"/images/{image_id}").get_data(as_text=True))

    snippet = html.split('<code id="snippet">')[1].split("</code>")[0]
    assert snippet.startswith("<picture>") and snippet.endswith("</picture>")
    assert '<source type="image/webp"' in snippet
    assert f"/images/{image_id}/xl-{TAGS['xl']}.webp" not in snippet  # 1200 px: no 2048 one
    assert f"/images/{image_id}/lg-{TAGS['lg']}.webp 1200w" in snippet
    assert '<span class="badge text-bg-light ms-1">webp</span>' in html
