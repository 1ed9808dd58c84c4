"""The image job in a real forking worker: idempotence, retries, plain `rq worker`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from imgsvc.extensions import Services
from imgsvc.images import record, tasks
from imgsvc.queue import enqueue_image
from tests import factories
from tests.support.client import upload
from tests.support.s3proxy import FaultyS3Proxy


def variant_objects(app, image_id: str) -> dict[str, bytes]:
    storage = app.extensions["imgsvc"].storage
    keys = [
        k
        for k in storage.list_keys(record.prefix(image_id))
        if "/original" not in k and not k.endswith(("manifest.json", record.SETTLED))
    ]
    return {key: storage.get(key) for key in keys}


def test_running_the_job_twice_gives_the_same_objects(app, client, run_worker):
    image_id = upload(client, factories.jpeg(1800, 1200, orientation=3)).get_json()["id"]
    run_worker()
    svc = app.extensions["imgsvc"]
    first = variant_objects(app, image_id)
    first_manifest = record.read_manifest(svc.storage, image_id)

    svc.queue.fetch_job(record.job_id_for(image_id)).delete()
    enqueue_image(svc.queue, image_id, svc.settings)
    run_worker()

    second_manifest = record.read_manifest(svc.storage, image_id)
    assert variant_objects(app, image_id) == first
    assert len(first) == 6
    assert second_manifest["variants"] == first_manifest["variants"]
    assert second_manifest["status"] == "done"


def test_a_rerun_of_a_finished_job_unsettles_the_image_while_it_runs(app, client, run_worker):
    """RQ may run a job again after it saved the final manifest (a worker lost
    before the job returned): the image must not look settled to reconcile
    while its manifest says processing."""
    image_id = upload(client, factories.jpeg(320, 240)).get_json()["id"]
    run_worker()
    svc = app.extensions["imgsvc"]
    marker = record.settled_key(image_id)
    assert svc.storage.exists(marker)
    seen: list[tuple[str, bool]] = []
    real_put = svc.storage.put

    def put(key, data, content_type):
        if key == record.manifest_key(image_id):
            seen.append((json.loads(data)["status"], svc.storage.exists(marker)))
        real_put(key, data, content_type)

    svc.storage.put = put
    tasks._process_image(svc, image_id)

    assert seen == [("processing", False), ("done", False)]
    assert svc.storage.exists(marker)


def test_plain_rq_worker_runs_the_job(app, client):
    response = upload(client, factories.jpeg(900, 600))
    assert response.status_code == 202, response.get_json()
    image_id = response.get_json()["id"]
    result = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "rq"),
            "worker",
            "--burst",
            "--serializer",
            "rq.serializers.JSONSerializer",
            "--url",
            app.config["REDIS_URL"],
            "default",
        ],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert client.get(f"/api/images/{image_id}").get_json()["status"] == "done"


def _variant_put(method: str, path: str) -> bool:
    return method == "PUT" and path.split("?")[0].rsplit("/", 1)[-1].startswith(
        ("thumb-", "xs-", "sm-", "md-", "lg-", "xl-")  # versioned keys: <name>-<tag>.<ext>
    )


@pytest.mark.parametrize("storage_url", ["s3"], indirect=True)
def test_storage_5xx_for_a_while_is_retried_until_done(app, client, run_worker, monkeypatch):
    image_id = upload(client, factories.jpeg(800, 600)).get_json()["id"]
    failures_left = [3]

    def fail_first_three(method: str, path: str) -> bool:
        if _variant_put(method, path) and failures_left[0] > 0:
            failures_left[0] -= 1
            return True
        return False

    with FaultyS3Proxy(os.environ["IMGSVC_S3_ENDPOINT_URL"], fail_first_three) as proxy:
        monkeypatch.setenv("IMGSVC_S3_ENDPOINT_URL", proxy.url)
        run_worker()

    assert proxy.failures == 3
    body = client.get(f"/api/images/{image_id}").get_json()
    assert body["status"] == "done"
    assert set(body["variants"]) == {"thumb", "xs", "sm", "md", "lg", "xl"}
    job = app.extensions["imgsvc"].queue.fetch_job(record.job_id_for(image_id))
    assert job.retries_left == 2  # one RQ retry: the first run failed (two S3 attempts)
    assert job.get_status() == "finished"


@pytest.mark.parametrize("storage_url", ["s3"], indirect=True)
def test_storage_down_for_good_ends_failed_never_done(app, client, run_worker, monkeypatch):
    app.config["JOB_RETRIES"] = 2
    image_id = upload(client, factories.jpeg(800, 600)).get_json()["id"]

    with FaultyS3Proxy(os.environ["IMGSVC_S3_ENDPOINT_URL"], _variant_put) as proxy:
        monkeypatch.setenv("IMGSVC_S3_ENDPOINT_URL", proxy.url)
        run_worker()

    assert proxy.failures == 6  # three runs, two S3 attempts each
    body = client.get(f"/api/images/{image_id}").get_json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "storage_unavailable"
    assert body["variants"] == {}
    job = app.extensions["imgsvc"].queue.fetch_job(record.job_id_for(image_id))
    assert job.retries_left == 0
    assert job.get_status() == "failed"
    manifest = record.read_manifest(Services(app.config).storage, image_id)
    assert manifest["status"] == "failed"


@pytest.mark.parametrize("storage_url", ["s3"], indirect=True)
def test_storage_timing_out_for_a_while_is_retried_until_done(app, client, run_worker, monkeypatch):
    image_id = upload(client, factories.jpeg(800, 600)).get_json()["id"]
    stalls_left = [2]

    def stall_first_two(method: str, path: str) -> bool | str:
        if _variant_put(method, path) and stalls_left[0] > 0:
            stalls_left[0] -= 1
            return "stall"
        return False

    monkeypatch.setenv("IMGSVC_STORAGE_TIMEOUT", "1")
    proxy = FaultyS3Proxy(os.environ["IMGSVC_S3_ENDPOINT_URL"], stall_first_two, stall_seconds=3)
    with proxy:
        monkeypatch.setenv("IMGSVC_S3_ENDPOINT_URL", proxy.url)
        run_worker()

    assert proxy.failures == 2
    body = client.get(f"/api/images/{image_id}").get_json()
    assert body["status"] == "done"
    assert set(body["variants"]) == {"thumb", "xs", "sm", "md", "lg", "xl"}
    job = app.extensions["imgsvc"].queue.fetch_job(record.job_id_for(image_id))
    assert job.retries_left == 2  # one timed-out run (both S3 attempts stalled), then success


@pytest.mark.parametrize("storage_url", ["s3"], indirect=True)
def test_an_image_job_out_of_time_fails_with_timeout_and_is_not_retried(
    app, client, run_worker, monkeypatch
):
    app.config["JOB_TIMEOUT"] = 1  # JOB_RETRIES stays 3: a timeout must not use them
    image_id = upload(client, factories.jpeg(800, 600)).get_json()["id"]

    def stall_variants(method: str, path: str) -> bool | str:
        return "stall" if _variant_put(method, path) else False

    proxy = FaultyS3Proxy(os.environ["IMGSVC_S3_ENDPOINT_URL"], stall_variants, stall_seconds=5)
    with proxy:
        monkeypatch.setenv("IMGSVC_S3_ENDPOINT_URL", proxy.url)
        run_worker()

    # One run (S3's two attempts, the client outliving RQ's signal): no retry.
    assert proxy.failures == 2
    body = client.get(f"/api/images/{image_id}").get_json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "timeout"
    job = app.extensions["imgsvc"].queue.fetch_job(record.job_id_for(image_id))
    assert job.get_status() == "failed"
    assert job.retries_left == 0
    assert client.get(f"/api/jobs/{job.id}").get_json()["error"]["code"] == "timeout"


@pytest.mark.parametrize("storage_url", ["file"], indirect=True)
def test_a_word_count_out_of_time_fails_with_timeout_and_is_not_retried(
    app, client, run_worker, pages, monkeypatch
):
    from rq import Retry

    monkeypatch.setenv("IMGSVC_FETCH_ALLOWLIST", pages.allow_entry)
    before = pages.hits["/trickle"]
    job = app.extensions["imgsvc"].wordcount_queue.enqueue(
        "imgsvc.tasks.count_words",
        f"{pages.base}/trickle",
        job_timeout=1,  # RQ's limit fires long before the fetch's own
        retry=Retry(max=3),
        meta={"type": "wordcount"},
    )

    run_worker()

    assert pages.hits["/trickle"] - before == 1  # one attempt: no retry
    body = client.get(f"/api/jobs/{job.id}").get_json()
    assert body["status"] == "failed"
    assert body["error"]["code"] == "timeout"
    job.refresh()
    assert job.retries_left == 0
