"""The pages as a person meets them, in Chromium: upload, image page, word counter, errors."""

from __future__ import annotations

import io
import re

import pytest
import requests
from playwright.sync_api import expect

from tests import factories
from tests.imaging import heif_files
from tests.support.pageserver import KNOWN_TOP, KNOWN_TOTAL, PageServer
from tests.support.stack import LiveStack
from tests.system.browser.conftest import MAX_UPLOAD, Console

pytestmark = [pytest.mark.slow, pytest.mark.browser]
IMAGE_PAGE = re.compile(r"/images/[A-Za-z0-9_-]{22}$")
PHONE = {"width": 390, "height": 844}


def test_upload_goes_to_the_image_page_where_six_variants_appear_without_reload(page, stack):
    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    page.goto("/")
    expect(page.get_by_label(re.compile("choose a file"))).to_be_attached()
    # File storage: the form posts the file to the web (test_direct_form.py: S3).
    assert page.locator("#upload-form").get_attribute("data-direct") is None

    page.set_input_files(
        "#file",
        files=[
            {"name": "holiday.jpg", "mimeType": "image/jpeg", "buffer": factories.jpeg(2400, 1600)}
        ],
    )
    expect(page.locator("#focus-preview")).to_be_visible()  # the chosen file, before it is sent
    page.get_by_role("button", name="Upload holiday.jpg").click()

    page.wait_for_url(IMAGE_PAGE)
    assert posts == [f"{stack.url}/"]
    page.evaluate("window.__sameDocument = true")  # a reload would lose it
    expect(page.locator("#status")).to_have_text("done", timeout=60_000)
    variants = page.locator(".variants figure")
    expect(variants).to_have_count(6)
    expected = {
        "thumb": "200×200",
        "xs": "320×213",
        "sm": "640×427",
        "md": "1024×683",
        "lg": "1600×1067",
        "xl": "2048×1365",
    }
    for name, size in expected.items():
        figure = page.locator(f"#variant-{name}")
        expect(figure.locator(".variant-size")).to_have_text(size)
        expect(figure.get_by_role("link", name="Open", exact=True)).to_have_attribute(
            "href",
            re.compile(rf"/images/[^/]+/{name}-[0-9a-f]+$"),  # versioned: <name>-<tag>
        )
        expect(figure).to_contain_text("KiB")
    expect(page.locator("#original")).to_contain_text("2400×1600 px · JPEG")
    assert page.evaluate("window.__sameDocument") is True
    # Every variant image really loads (the page asks for nothing that is missing).
    page.locator(".variants img").last.scroll_into_view_if_needed()
    page.wait_for_function(
        "[...document.querySelectorAll('.variants img')].every(i => i.complete && i.naturalWidth)"
    )


def test_image_page_follows_the_jobs_progress_live(page, stack: LiveStack):
    from rq.job import JobStatus

    from imgsvc.config import load_settings
    from imgsvc.extensions import Services
    from imgsvc.images.uploads import accept_upload
    from imgsvc.queue import enqueue_image

    settings = {
        "REDIS_URL": stack.env["IMGSVC_REDIS_URL"],
        "STORAGE_URL": stack.env["IMGSVC_STORAGE_URL"],
        "QUEUE_NAME": stack.env["IMGSVC_QUEUE_NAME"],  # the stack's worker's
    }
    # Parked on a queue no worker listens to, so the test decides when work happens.
    parked = Services(load_settings({**settings, "QUEUE_NAME": "parked"}))
    accepted = accept_upload(parked, io.BytesIO(factories.jpeg(1800, 1200)))
    job = parked.queue.fetch_job(accepted.job_id)
    page.goto(f"/images/{accepted.image_id}")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#status")).to_have_text("queued")
    expect(page.locator("#progress-text")).to_contain_text("Waiting for a worker")

    job.set_status(JobStatus.STARTED)
    job.meta.update(variants_done=2, variants_total=6)
    job.save_meta()
    expect(page.locator("#status")).to_have_text("processing")
    expect(page.locator("#progress-text")).to_contain_text("Made 2 of 6 variants")
    expect(page.locator("#progress")).to_have_attribute("aria-valuenow", "33")
    job.meta.update(variants_done=5)
    job.save_meta()
    expect(page.locator("#progress")).to_have_attribute("aria-valuenow", "83")
    bar_width = page.locator("#progress .progress-bar").evaluate("e => e.style.width")
    assert bar_width == "83%"

    job.delete()
    enqueue_image(Services(load_settings(settings)).queue, accepted.image_id, parked.settings)
    expect(page.locator("#status")).to_have_text("done", timeout=60_000)
    expect(page.locator(".variants figure")).to_have_count(6)
    assert page.evaluate("window.__sameDocument") is True


def test_copy_button_puts_the_srcset_snippet_on_the_clipboard(page, done_image):
    page.goto(f"/images/{done_image['id']}")

    page.get_by_role("button", name="Copy snippet").click()

    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.locator("#snippet").text_content()
    assert copied.startswith("<img") or copied.startswith("<picture>")
    for width in (320, 640, 1024, 1600, 2048):
        assert f"{width}w" in copied
    assert 'sizes="' in copied and f"/images/{done_image['id']}/xl" in copied


def test_word_count_shows_its_result_and_joins_the_queue(page, page_server: PageServer):
    page.goto("/add-task")

    page.get_by_label("Page URL").fill(f"{page_server.base}/known")
    page.get_by_role("button", name="Count words").click()

    card = page.locator("#wordcount")
    expect(card.locator(".badge")).to_have_text("finished", timeout=30_000)
    expect(page.locator("#total-words")).to_have_text(str(KNOWN_TOTAL))
    expect(page.locator("#unique-words")).to_have_text(str(len(KNOWN_TOP)))
    rows = card.locator("table.top-words tbody tr")
    expect(rows).to_have_count(len(KNOWN_TOP))
    expect(rows.first.locator(".word")).to_have_text(KNOWN_TOP[0][0])
    expect(rows.first.locator(".count")).to_have_text(str(KNOWN_TOP[0][1]))
    job_id = card.get_attribute("data-job")
    finished = page.locator('#queue [data-state="finished"]')
    expect(finished.locator(f'[id="job-{job_id}"]')).to_be_visible(timeout=15_000)


def test_an_iphone_heic_with_a_focal_point_is_uploaded_from_the_form(page):
    page.goto("/")
    page.fill("#focus", "0.3,0.6")
    page.set_input_files(
        "#file",
        files=[
            {"name": "IMG_0042.HEIC", "mimeType": "image/heic", "buffer": heif_files.iphone_like()}
        ],
    )
    # Chromium cannot render HEIC: no preview to click, the typed point stays.
    expect(page.locator("#focus-unavailable")).to_be_visible()
    expect(page.locator("#focus-preview")).to_be_hidden()
    page.get_by_role("button", name="Upload IMG_0042.HEIC").click()
    page.wait_for_url(IMAGE_PAGE)
    expect(page.locator("#status")).to_have_text("done", timeout=60_000)
    expect(page.locator("#original")).to_contain_text("HEIF")
    expect(page.locator("#variant-sm .variant-size")).to_have_text("480×640")  # turned upright
    view = page.request.get(page.url.replace("/images/", "/api/images/")).json()
    assert view["focus"] == [0.3, 0.6]


def test_an_image_given_by_its_url_goes_to_its_page_and_is_processed(page, page_server):
    page.goto("/")

    page.get_by_label("or give the URL of an image").fill(f"{page_server.base}/photo?w=640&h=480")
    page.get_by_role("button", name="Fetch").click()

    expect(page.locator("#status")).to_have_text("done", timeout=30_000)
    expect(page.locator("#original")).to_contain_text("640×480 px")


def test_a_file_of_the_wrong_type_is_refused_before_it_is_sent(page):
    page.goto("/")
    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))

    page.set_input_files(
        "#file",
        files=[{"name": "cv.jpg", "mimeType": "image/jpeg", "buffer": factories.pdf_document()}],
    )

    alert = page.locator("#upload-error")
    expect(alert).to_be_visible()
    expect(alert).to_have_attribute("data-code", "unsupported_format")
    expect(alert).to_contain_text("cv.jpg")
    too_big = b"\xff\xd8\xff\xe0" + bytes(MAX_UPLOAD)
    page.set_input_files(
        "#file", files=[{"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": too_big}]
    )
    expect(alert).to_have_attribute("data-code", "file_too_large")
    expect(alert).to_contain_text("8.0 MiB")
    assert posts == []
    assert page.url.endswith("/")


def test_a_file_the_server_refuses_shows_its_error_on_the_form(page, console: Console):
    console.allow(r"status of 400")  # the upload's own answer
    page.goto("/")

    page.set_input_files(
        "#file",
        files=[
            {
                "name": "bomb.png",
                "mimeType": "image/png",
                "buffer": factories.png_header(100_000, 100_000),
            }
        ],
    )
    page.get_by_role("button", name="Upload bomb.png").click()

    alert = page.locator("#upload-error")
    expect(alert).to_have_attribute("data-code", "image_too_large")
    expect(alert).to_contain_text("pixels")
    assert page.url.endswith("/")
    expect(page.locator("#dropzone")).not_to_have_class(re.compile("busy"))


def test_unknown_image_is_a_friendly_404_page(page, console: Console):
    console.allow(r"status of 404")
    response = page.goto("/images/AAAAAAAAAAAAAAAAAAAAAA")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("link", name="Go to the upload page")).to_be_visible()


def test_jobs_page_shows_new_jobs_without_reload(page, stack: LiveStack, page_server):
    page.goto("/jobs")
    page.evaluate("window.__sameDocument = true")

    job_id = requests.post(
        f"{stack.url}/api/wordcounts", json={"url": f"{page_server.base}/plain"}, timeout=10
    ).json()["job_id"]

    row = page.locator(f'[data-state="finished"] [id="job-{job_id}"]')
    expect(row).to_be_visible(timeout=20_000)
    expect(row).to_contain_text("6 words, 4 unique")  # "<b>" counts as the word b
    assert page.evaluate("window.__sameDocument") is True


def test_form_without_javascript_gets_the_friendly_413_page(browser, stack: LiveStack):
    context = browser.new_context(base_url=stack.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/")
        big = factories.jpeg(64, 64) + bytes(MAX_UPLOAD)
        page.set_input_files(
            "#file", files=[{"name": "big.jpg", "mimeType": "image/jpeg", "buffer": big}]
        )
        with page.expect_navigation():
            page.get_by_role("button", name="Upload").click()
        expect(page.get_by_role("heading", name="That file is too large")).to_be_visible()
        expect(page.locator("main")).to_contain_text("8 MiB")
    finally:
        context.close()


@pytest.mark.parametrize("context", [PHONE], indirect=True)
def test_pages_fit_a_phone_screen(page, done_image):
    for path in ("/", f"/images/{done_image['id']}", "/add-task", "/jobs"):
        page.goto(path)
        page.wait_for_load_state("load")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a phone"
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page.goto("/")
    expect(page.get_by_label(re.compile("choose a file"))).to_be_attached()
    expect(page.get_by_role("link", name=re.compile(f"Upload {done_image['id']}"))).to_be_visible()
