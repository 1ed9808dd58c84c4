"""The word counter end to end: submit, the job in a real worker, job views."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from imgsvc.queue import enqueue_wordcount, waiting
from tests import factories
from tests.support import ConnectionCounter
from tests.support.client import csrf_token, upload
from tests.support.pageserver import KNOWN_TOP, KNOWN_TOTAL

pytestmark = pytest.mark.parametrize("storage_url", ["file"], indirect=True)


@pytest.fixture
def counter() -> Iterator[ConnectionCounter]:
    listener = ConnectionCounter()
    yield listener
    listener.close()


def blocked_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://[::1]:{port}/",
        f"http://0.0.0.0:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://2130706433:{port}/",
        f"http://0x7f000001:{port}/",
        f"http://0177.0.0.1:{port}/",
        f"http://127.1:{port}/",
    ]


INVALID = ["file:///etc/passwd", "gopher://x/", "ftp://x/"]


def test_known_page_gives_exact_counts(app, client, allowlisted, run_worker):
    response = client.post("/api/wordcounts", json={"url": f"{allowlisted.base}/known"})
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued"
    assert body["links"]["self"] == f"/api/jobs/{body['job_id']}"

    run_worker()

    job = client.get(body["links"]["self"]).get_json()
    assert job["status"] == "finished"
    assert job["type"] == "wordcount"
    assert job["func_name"] == "imgsvc.tasks.count_words"
    assert job["args"] == [f"{allowlisted.base}/known"]
    assert job["result"] == {
        "url": f"{allowlisted.base}/known",
        "total_words": KNOWN_TOTAL,
        "unique_words": len(KNOWN_TOP),
        "top": KNOWN_TOP,
    }
    assert job["error"] is None
    assert job["enqueued_at"] <= job["started_at"] <= job["ended_at"]
    rq_job = app.extensions["imgsvc"].wordcount_queue.fetch_job(body["job_id"])
    assert rq_job.result_ttl == 86_400  # kept a day, not the tutorial's 500 s


def test_blocked_and_invalid_urls_are_refused_at_submit(app, client, counter):
    for url in blocked_urls(counter.port):
        response = client.post("/api/wordcounts", json={"url": url})
        assert response.status_code == 400, url
        assert response.get_json()["error"]["code"] == "destination_not_allowed", url
    for url in INVALID + ["not a url", ""]:
        response = client.post("/api/wordcounts", json={"url": url})
        assert response.get_json()["error"]["code"] == "invalid_url", url
    assert client.post("/api/wordcounts", data="nope").get_json()["error"]["code"] == "invalid_url"
    assert waiting(app.extensions["imgsvc"].queue) == 0
    assert counter.count == 0


def test_the_job_itself_refuses_them_and_makes_no_connection(app, client, counter, run_worker):
    svc = app.extensions["imgsvc"]
    jobs = {
        url: enqueue_wordcount(svc.queue, url, svc.settings).id
        for url in blocked_urls(counter.port) + INVALID
    }

    run_worker()

    for url, job_id in jobs.items():
        job = client.get(f"/api/jobs/{job_id}").get_json()
        assert job["status"] == "failed", url
        expected = "invalid_url" if url in INVALID else "destination_not_allowed"
        assert job["error"]["code"] == expected, url
        assert svc.wordcount_queue.fetch_job(job_id).retries_left == 0  # refusals: no retry
    assert counter.count == 0


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/huge", "fetch_too_large"),
        ("/gzip-bomb", "fetch_too_large"),
        ("/png", "unsupported_content_type"),
        ("/loop", "fetch_failed"),
        ("/missing", "fetch_failed"),
    ],
)
def test_bad_pages_fail_the_job_with_their_code_once(
    app, client, allowlisted, run_worker, path, code
):
    job_id = client.post("/api/wordcounts", json={"url": allowlisted.base + path}).get_json()[
        "job_id"
    ]
    run_worker()
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert (job["status"], job["error"]["code"]) == ("failed", code)
    assert job["result"] is None


def test_a_trickle_times_out(app, client, allowlisted, run_worker, monkeypatch):
    monkeypatch.setenv("IMGSVC_FETCH_TIMEOUT", "2")
    job_id = client.post("/api/wordcounts", json={"url": allowlisted.base + "/trickle"}).get_json()[
        "job_id"
    ]
    run_worker()
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert job["error"]["code"] == "fetch_timeout"


def test_redirect_to_a_blocked_address_fails(app, client, allowlisted, counter, run_worker):
    target = f"http://127.0.0.1:{counter.port}/"
    job_id = client.post(
        "/api/wordcounts", json={"url": f"{allowlisted.base}/redirect?to={target}"}
    ).get_json()["job_id"]
    run_worker()
    assert client.get(f"/api/jobs/{job_id}").get_json()["error"]["code"] == (
        "destination_not_allowed"
    )
    assert counter.count == 0


def test_server_errors_are_retried_then_fail(app, client, allowlisted, run_worker):
    app.config["JOB_RETRIES"] = 2
    before = allowlisted.hits["/error"]
    job_id = client.post("/api/wordcounts", json={"url": allowlisted.base + "/error"}).get_json()[
        "job_id"
    ]
    run_worker()
    assert allowlisted.hits["/error"] - before == 3  # first try + two retries
    job = client.get(f"/api/jobs/{job_id}").get_json()
    assert (job["status"], job["error"]["code"]) == ("failed", "fetch_failed")


def test_form_enqueues_and_reports_the_queue_length(app, client, allowlisted):
    page = client.get("/add-task")
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))

    response = client.post(
        "/add-task", data={"csrf_token": token, "url": f"{allowlisted.base}/known"}
    )

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "added to queue at" in html and "1 tasks in the queue" in html
    assert app.extensions["imgsvc"].wordcount_queue.count == 1
    assert "imgsvc.tasks.count_words" in html  # the queue list shows it


def test_form_refuses_without_csrf_and_shows_url_errors(app, client):
    assert client.post("/add-task", data={"url": "http://example.org/"}).status_code == 403
    token = csrf_token(client.get("/add-task").get_data(as_text=True))
    response = client.post("/add-task", data={"csrf_token": token, "url": "http://10.0.0.1/"})
    assert response.status_code == 400
    assert "destination_not_allowed" in response.get_data(as_text=True)
    assert waiting(app.extensions["imgsvc"].queue) == 0


def test_image_and_wordcount_jobs_run_side_by_side_and_are_listed(
    app, client, allowlisted, run_worker
):
    image = upload(client, factories.jpeg(600, 400)).get_json()
    count = client.post("/api/wordcounts", json={"url": f"{allowlisted.base}/plain"}).get_json()
    queued_page = client.get("/jobs").get_data(as_text=True)
    assert image["job_id"] in queued_page and count["job_id"] in queued_page

    run_worker()

    image_job = client.get(f"/api/jobs/{image['job_id']}").get_json()
    assert (image_job["type"], image_job["status"]) == ("image", "finished")
    assert image_job["args"] == [image["id"]]
    assert image_job["links"]["image"] == f"/images/{image['id']}"
    count_job = client.get(f"/api/jobs/{count['job_id']}").get_json()
    assert (count_job["type"], count_job["status"]) == ("wordcount", "finished")
    # text/plain is counted as it is: "<b>" is just the word "b"
    assert count_job["result"]["top"] == [["b", 2], ["beta", 2], ["alpha", 1], ["gamma", 1]]
    html = client.get("/jobs").get_data(as_text=True)
    finished = html.split('data-state="finished"')[1].split('data-state="failed"')[0]
    assert image["job_id"] in finished and count["job_id"] in finished
    assert f'href="/images/{image["id"]}"' in finished


def test_unknown_job_is_404(client):
    response = client.get("/api/jobs/no-such-job")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"
