"""`imgsvc reconcile`: storage is the system of record; Redis can be rebuilt."""

from __future__ import annotations

import os
import subprocess
import sys

from imgsvc import images
from imgsvc.reconcile import reconcile
from tests import factories
from tests.web.conftest import upload


def test_lost_queue_is_rebuilt_from_storage(app, client, run_worker):
    svc = app.extensions["imgsvc"]
    ids = [upload(client, factories.jpeg(400, 300, seed=i)).get_json()["id"] for i in range(3)]
    svc.redis.flushdb()  # Redis lost everything: the jobs are gone

    report = reconcile(svc)

    assert sorted(report.requeued) == sorted(ids)
    assert sorted(svc.queue.job_ids) == sorted(images.job_id_for(i) for i in ids)
    again = reconcile(svc)
    assert again.requeued == [] and again.live == 3  # queued jobs are not enqueued twice

    run_worker()
    for image_id in ids:
        assert client.get(f"/api/images/{image_id}").get_json()["status"] == "done"
    final = reconcile(svc)
    assert (final.requeued, final.finished) == ([], 3)


def test_failed_and_done_images_are_left_alone(app, client, run_worker):
    svc = app.extensions["imgsvc"]
    good = upload(client, factories.jpeg()).get_json()["id"]
    data = factories.jpeg(600, 400)
    bad = upload(client, data[: len(data) // 2]).get_json()["id"]
    run_worker()
    assert client.get(f"/api/images/{bad}").get_json()["status"] == "failed"
    assert client.get(f"/api/images/{good}").get_json()["status"] == "done"

    report = reconcile(svc)

    assert report.requeued == []
    assert report.finished == 2
    assert svc.queue.job_ids == []


def test_image_whose_job_died_without_a_final_manifest_is_requeued(app, client, run_worker):
    svc = app.extensions["imgsvc"]
    image_id = upload(client, factories.jpeg()).get_json()["id"]
    manifest = images.read_manifest(svc.storage, image_id)
    manifest["status"] = "processing"  # as if the worker died mid-job
    images.write_manifest(svc.storage, manifest)
    job = svc.queue.fetch_job(images.job_id_for(image_id))
    job.cancel()

    assert reconcile(svc).requeued == [image_id]
    run_worker()
    assert client.get(f"/api/images/{image_id}").get_json()["status"] == "done"


def test_the_command_prints_what_it_did(app, client):
    svc = app.extensions["imgsvc"]
    image_id = upload(client, factories.jpeg()).get_json()["id"]
    svc.redis.flushdb()

    result = subprocess.run(
        [sys.executable, "-m", "imgsvc", "reconcile"],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "scanned 1, finished 0, live 0, requeued 1" in result.stdout
    assert f"requeued {image_id}" in result.stdout
    assert svc.queue.job_ids == [images.job_id_for(image_id)]
