"""The upload form with S3 storage, in Chromium: the file goes from the page straight to
the bucket (moto's server, on another loopback port: another origin), never through
the web; when the bucket refuses the page (CORS) or cannot be reached, the form posts
to the web as it does with file storage, and the upload still succeeds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import boto3
import pytest
import requests
from playwright.sync_api import expect

from imgsvc.storage import S3Storage
from imgsvc.storage.cors import apply_upload_cors
from tests import factories
from tests.support.ports import free_port
from tests.support.processes import ROOT
from tests.support.stack import LiveStack
from tests.system.browser.conftest import MAX_UPLOAD, Console

pytestmark = [pytest.mark.slow, pytest.mark.browser]
IMAGE_PAGE = re.compile(r"/images/([A-Za-z0-9_-]{22})$")
PREFIX = "form"
# What Chromium logs when the bucket's answer is refused or never comes.
NETWORK_ERRORS = r"CORS policy|ERR_FAILED|ERR_CONNECTION_REFUSED|status of 403"


@pytest.fixture(scope="module")
def bucket(s3_endpoint: str) -> str:
    """A bucket of this module's own: its CORS rule is the bucket's, not a prefix's."""
    name = f"form-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


def s3_stack(
    folder, redis_server: str, s3_endpoint: str, bucket: str, apply_cors: bool = True, **extra: str
) -> LiveStack:
    """A LiveStack on ``bucket`` with its page origin in ``IMGSVC_S3_CORS_ORIGINS``,
    and (``apply_cors``) the bucket's rule applied with ``imgsvc s3-cors``, as an
    operator would."""
    settings = {
        "IMGSVC_REDIS_URL": redis_server.rsplit("/", 1)[0] + "/4",
        "IMGSVC_STORAGE_URL": f"s3://{bucket}/{PREFIX}",
        "IMGSVC_S3_ENDPOINT_URL": s3_endpoint,
        "IMGSVC_MAX_CONTENT_LENGTH": str(MAX_UPLOAD),
        "IMGSVC_RATE_LIMIT_UPLOADS": "0",
        **extra,
    }
    live = LiveStack(folder, settings)
    live.env["IMGSVC_S3_CORS_ORIGINS"] = live.url
    if apply_cors:
        command = [sys.executable, "-m", "imgsvc", "s3-cors"]
        applied = subprocess.run(command, cwd=ROOT, env=live.env, capture_output=True, text=True)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert f"POST allowed from {live.url}" in applied.stdout
    return live.start()


@pytest.fixture(scope="module")
def stack(
    redis_server: str, s3_endpoint: str, bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    """The service on S3 (the browser fixtures of conftest.py use this one here)."""
    live = s3_stack(tmp_path_factory.mktemp("form-s3"), redis_server, s3_endpoint, bucket)
    yield live
    live.stop()


def requests_seen(stack: LiveStack) -> list[tuple[str, str]]:
    """(method, path) of every request the web answered, from its request log."""
    seen = []
    for line in stack.web_log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # gunicorn's own lines
        if isinstance(entry, dict) and "method" in entry and "path" in entry:
            seen.append((entry["method"], entry["path"]))
    return seen


# The progress bar's values, kept in sessionStorage across the navigation at the end.
RECORD_PROGRESS = """
addEventListener("DOMContentLoaded", () => {
  const bar = document.getElementById("upload-progress");
  if (!bar) return;
  new MutationObserver(() => {
    const seen = JSON.parse(sessionStorage.getItem("progress") || "[]");
    seen.push(Number(bar.getAttribute("aria-valuenow")));
    sessionStorage.setItem("progress", JSON.stringify(seen));
  }).observe(bar, { attributes: true, attributeFilter: ["aria-valuenow"] });
});
"""


def record_posts(page) -> list:
    posts: list = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r))
    return posts


def choose(page, data: bytes, name: str) -> None:
    page.set_input_files("#file", files=[{"name": name, "mimeType": "image/jpeg", "buffer": data}])
    expect(page.get_by_role("button", name=f"Upload {name}")).to_be_visible()


def upload_to_image_page(page, data: bytes, name: str) -> str:
    """Choose ``data``, press Upload, wait for the image's page; the image's id."""
    choose(page, data, name)
    page.get_by_role("button", name=f"Upload {name}").click()
    page.wait_for_url(IMAGE_PAGE)
    return IMAGE_PAGE.search(page.url).group(1)


def stored_original(s3_endpoint: str, bucket: str, image_id: str) -> list[dict]:
    listing = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
        Bucket=bucket, Prefix=f"{PREFIX}/images/{image_id}/original"
    )
    return listing.get("Contents", [])


def assert_done_and_served(page, stack: LiveStack, image_id: str) -> dict:
    """The image's final view, once the page shows it done and its thumbnail is served."""
    expect(page.locator("#status")).to_have_text("done", timeout=60_000)
    view = stack.wait_final(image_id)
    assert view["status"] == "done", view
    thumb = requests.get(f"{stack.url}{view['variants']['thumb']['url']}", timeout=10)
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"
    return view


def test_the_form_sends_the_file_straight_to_the_bucket(
    page, stack: LiveStack, s3_endpoint: str, bucket: str
):
    posts = record_posts(page)
    page.add_init_script(RECORD_PROGRESS)
    page.goto("/")
    expect(page.locator("#upload-form")).to_have_attribute("data-direct", "/api/uploads")
    data = factories.jpeg(2400, 1600, seed=3)
    choose(page, data, "direct.jpg")
    page.locator("#focus-preview").click(position={"x": 10, "y": 10})
    focus = page.locator("#focus").input_value()
    # A slow uplink (as a phone's), so the bucket's POST reports progress on its way.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    conditions = {"offline": False, "latency": 0, "downloadThroughput": -1}
    cdp.send("Network.emulateNetworkConditions", {**conditions, "uploadThroughput": len(data)})

    page.get_by_role("button", name="Upload direct.jpg").click()

    page.wait_for_url(IMAGE_PAGE)  # where the form's post through the web ends as well
    cdp.send("Network.emulateNetworkConditions", {**conditions, "uploadThroughput": -1})
    image_id = IMAGE_PAGE.search(page.url).group(1)
    progress = page.evaluate("JSON.parse(sessionStorage.getItem('progress') || '[]')")
    assert any(0 < value < 100 for value in progress), progress  # the bucket's POST, midway
    assert progress[-1] == 100
    assert [r.url for r in posts] == [
        f"{stack.url}/api/uploads",
        f"{s3_endpoint}/{bucket}",
        f"{stack.url}/api/uploads/{image_id}/complete",
    ]
    assert posts[2].post_data_json == {"focus": focus}
    [stored] = stored_original(s3_endpoint, bucket, image_id)
    assert stored["Size"] == len(data)
    seen = requests_seen(stack)
    assert ("POST", f"/api/uploads/{image_id}/complete") in seen
    assert ("POST", "/") not in seen and ("POST", "/api/images") not in seen  # no file bytes
    view = assert_done_and_served(page, stack, image_id)
    assert view["focus"] == [float(value) for value in focus.split(",")]  # the click was kept


def test_a_file_refused_at_complete_shows_the_forms_message(
    page, stack: LiveStack, console: Console, s3_endpoint: str, bucket: str
):
    console.allow(r"status of 400")  # complete's own answer
    bomb = factories.png_header(100_000, 100_000)
    expected = requests.post(
        f"{stack.url}/api/images", files={"file": ("bomb.png", bomb)}, timeout=10
    ).json()["error"]  # what the form shows for this file when it posts to the web
    posts = record_posts(page)
    page.goto("/")
    page.set_input_files(
        "#file", files=[{"name": "bomb.png", "mimeType": "image/png", "buffer": bomb}]
    )
    page.get_by_role("button", name="Upload bomb.png").click()

    alert = page.locator("#upload-error")
    expect(alert).to_have_attribute("data-code", expected["code"])
    expect(alert).to_have_text(f"{expected['code']}: {expected['message']}")
    assert page.url.endswith("/")
    assert [r.url.rsplit("/", 1)[-1] for r in posts] == ["uploads", bucket, "complete"]
    image_id = posts[2].url.split("/")[-2]
    assert stored_original(s3_endpoint, bucket, image_id) == []  # the refused file is deleted


def test_a_bucket_that_refuses_the_pages_origin_gets_the_form_through_the_web(
    page, stack: LiveStack, console: Console, s3_endpoint: str, bucket: str
):
    console.allow(NETWORK_ERRORS)
    storage = S3Storage(bucket, endpoint_url=s3_endpoint)
    apply_upload_cors(storage, ["https://another.example"])  # not this page's origin
    try:
        posts = record_posts(page)
        page.goto("/")
        image_id = upload_to_image_page(page, factories.jpeg(1200, 800, seed=4), "refused.jpg")
    finally:
        apply_upload_cors(storage, [stack.url])
    assert [r.url for r in posts] == [
        f"{stack.url}/api/uploads",
        f"{s3_endpoint}/{bucket}",  # refused at its preflight
        f"{stack.url}/",  # the form, through the web
    ]
    assert ("POST", "/") in requests_seen(stack)
    assert_done_and_served(page, stack, image_id)


def test_an_unreachable_bucket_gets_the_form_through_the_web(
    browser, redis_server: str, s3_endpoint: str, bucket: str, tmp_path_factory
):
    # The presigned POST names an endpoint nobody listens on; the web reaches moto.
    # (The bucket's rule stays the module stack's: this page never reaches the bucket.)
    dead = f"http://127.0.0.1:{free_port()}"
    folder = tmp_path_factory.mktemp("form-s3-dead")
    live = s3_stack(
        folder, redis_server, s3_endpoint, bucket, False, IMGSVC_S3_PUBLIC_ENDPOINT_URL=dead
    )
    context = browser.new_context(base_url=live.url)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        posts = record_posts(page)
        page.goto("/")
        image_id = upload_to_image_page(page, factories.jpeg(1200, 800, seed=5), "far.jpg")
        assert [r.url for r in posts] == [
            f"{live.url}/api/uploads",
            f"{dead}/{bucket}",
            f"{live.url}/",
        ]
        assert_done_and_served(page, live, image_id)
        assert errors == []
    finally:
        context.close()
        live.stop()


def test_a_focal_point_the_page_cannot_read_goes_through_the_web_which_names_it(
    page, stack: LiveStack, console: Console
):
    console.allow(r"status of 400")  # the web's own answer
    posts = record_posts(page)
    page.goto("/")
    page.get_by_label(re.compile("Focal point")).fill("1.5,0.2")
    choose(page, factories.jpeg(640, 480, seed=6), "odd-focus.jpg")
    page.get_by_role("button", name="Upload odd-focus.jpg").click()

    alert = page.locator("#upload-error")
    expect(alert).to_have_attribute("data-code", "invalid_focus")
    assert [r.url for r in posts] == [f"{stack.url}/"]  # nothing asked of the bucket
