"""Image jobs and word counts share the workers fairly: two queues taken in turn.

Real redis-server, real forking workers, a slow page on loopback.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rq.job import Job

from imgsvc.images import record
from imgsvc.queue import enqueue_wordcount
from tests import factories
from tests.support import wait_until
from tests.support.client import upload, wait_final
from tests.support.pageserver import PageServer
from tests.support.processes import WorkerProcess

pytestmark = pytest.mark.parametrize("storage_url", ["file"], indirect=True)
SLOW_SECONDS = 1.0


class SlowPages(PageServer):
    """The test pages plus ``/slow``, which answers ``SLOW_SECONDS`` after ``gate`` opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def page_slow(self, h, q) -> None:
        self.gate.wait(timeout=60)  # held until the test has queued its upload
        time.sleep(SLOW_SECONDS)  # the page's pace (the fault itself), not synchronisation
        h.reply(200, "text/plain; charset=utf-8", b"slow words here")


@pytest.fixture(scope="module")
def slow_pages() -> Iterator[SlowPages]:
    server = SlowPages()
    yield server
    server.close()


@pytest.fixture
def allowed(env, slow_pages, monkeypatch) -> SlowPages:
    slow_pages.gate.clear()
    monkeypatch.setenv("IMGSVC_FETCH_ALLOWLIST", slow_pages.allow_entry)
    monkeypatch.setenv("IMGSVC_LOG_LEVEL", "INFO")  # WorkerProcess waits for "Listening on"
    return slow_pages


def started_at(app, job_id: str):
    svc = app.extensions["imgsvc"]
    return Job.fetch(job_id, connection=svc.redis, serializer=svc.queue.serializer).started_at


def test_an_upload_behind_30_slow_word_counts_waits_for_one_at_most(
    app, client, allowed, tmp_path: Path
):
    svc = app.extensions["imgsvc"]
    hits_before = allowed.hits["/slow"]
    wordcounts = [
        enqueue_wordcount(svc.queue, f"{allowed.base}/slow?n={n}", svc.settings).id
        for n in range(30)
    ]
    worker = WorkerProcess(dict(os.environ), tmp_path / "worker.log")
    try:
        # The worker is busy with a word count (its page held) when the image arrives.
        wait_until(lambda: allowed.hits["/slow"] == hits_before + 1)
        body = upload(client, factories.jpeg(640, 480)).get_json()
        allowed.gate.set()
        done = wait_final(client, body["id"], timeout=60)
        image_started = started_at(app, body["job_id"])
        before_image = [
            job_id
            for job_id in wordcounts
            if (started := started_at(app, job_id)) is not None and started < image_started
        ]
    finally:
        allowed.gate.set()
        worker.stop()

    assert done["status"] == "done"
    assert len(before_image) <= 1, f"{len(before_image)} word counts ran before the image"
    assert allowed.hits["/slow"] - hits_before < 30  # the backlog was still there


def test_word_counts_are_not_starved_by_a_backlog_of_images(app, client, allowed, run_worker):
    svc = app.extensions["imgsvc"]
    uploads = [upload(client, factories.jpeg(320, 240, seed=n)).get_json() for n in range(4)]
    counts = [
        enqueue_wordcount(svc.queue, f"{allowed.base}/known?n={n}", svc.settings).id
        for n in range(2)
    ]
    images_first = [body["job_id"] for body in uploads]

    run_worker()

    order = sorted(images_first + counts, key=lambda job_id: started_at(app, job_id))
    kinds = ["wordcount" if job_id in counts else "image" for job_id in order]
    # Taken in turn while both queues have work: each word count runs after one image.
    assert kinds == ["image", "wordcount", "image", "wordcount", "image", "image"]
    for job_id in counts:
        assert client.get(f"/api/jobs/{job_id}").get_json()["status"] == "finished"


def test_both_queues_count_against_the_cap_and_in_stats(app, client, allowed):
    from imgsvc.jobs import jobs_by_state
    from imgsvc.queue import waiting
    from imgsvc.stats import snapshot

    svc = app.extensions["imgsvc"]
    image_id = upload(client, factories.jpeg(320, 240)).get_json()["id"]
    wordcount_id = enqueue_wordcount(svc.queue, f"{allowed.base}/known", svc.settings).id

    state = snapshot(svc.queue)
    listing = jobs_by_state(svc.queue)

    assert waiting(svc.queue) == 2
    queued = {name: counts["queued"] for name, counts in state["queues"].items()}
    assert queued == {
        "default": 1,
        "default-wordcounts": 1,
        "default-webhooks": 0,
        "default-backfill": 0,
    }
    assert [job["id"] for job in listing["queued"]] == [record.job_id_for(image_id), wordcount_id]
