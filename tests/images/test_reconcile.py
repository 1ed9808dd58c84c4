"""`imgsvc reconcile`: storage is the system of record; Redis can be rebuilt."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from imgsvc.images import record
from imgsvc.images.reconcile import reconcile
from tests import factories
from tests.support.client import upload


def test_lost_queue_is_rebuilt_from_storage(app, client, run_worker):
    svc = app.extensions["imgsvc"]
    ids = [upload(client, factories.jpeg(400, 300, seed=i)).get_json()["id"] for i in range(3)]
    svc.redis.flushdb()  # Redis lost everything: the jobs are gone

    report = reconcile(svc)

    assert sorted(report.requeued) == sorted(ids)
    assert sorted(svc.queue.job_ids) == sorted(record.job_id_for(i) for i in ids)
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
    manifest = record.read_manifest(svc.storage, image_id)
    manifest["status"] = "processing"  # as if the worker died mid-job
    record.write_manifest(svc.storage, manifest)
    job = svc.queue.fetch_job(record.job_id_for(image_id))
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
    assert svc.queue.job_ids == [record.job_id_for(image_id)]


def lost_uploads(app, client, count: int) -> list[str]:
    """``count`` stored, unfinished images whose jobs Redis has lost."""
    ids = [upload(client, factories.jpeg(160, 120, seed=n)).get_json()["id"] for n in range(count)]
    app.extensions["imgsvc"].redis.flushdb()
    return sorted(ids)


def test_a_budget_splits_a_pass_that_resumes_where_it_stopped(app, client):
    svc = app.extensions["imgsvc"]
    ids = lost_uploads(app, client, 4)

    seen, cursor = [], ""
    for _ in range(len(ids)):
        report = reconcile(svc, start_after=cursor, budget=0)  # one image per call
        assert report.scanned == 1
        seen += report.requeued
        cursor = report.resume_after
    assert seen == ids  # in id order, each once
    last = reconcile(svc, start_after=cursor, budget=0)
    assert (last.scanned, last.resume_after) == (0, "")  # the pass has reached the end


def test_images_redis_knows_about_are_not_read_from_storage(app, client, run_worker, monkeypatch):
    """On S3 every manifest read is a GET: live and finished jobs answer from Redis."""
    svc = app.extensions["imgsvc"]
    done = [upload(client, factories.jpeg(160, 120, seed=n)).get_json()["id"] for n in range(2)]
    run_worker()
    for image_id in done:  # unsettled (as before markers): Redis must answer for them
        svc.storage.delete_prefix(record.settled_key(image_id))
    queued = upload(client, factories.jpeg(160, 120, seed=5)).get_json()["id"]
    reads: list[str] = []
    real_get = svc.storage.get
    monkeypatch.setattr(svc.storage, "get", lambda key: reads.append(key) or real_get(key))

    report = reconcile(svc)

    assert (report.finished, report.live, report.requeued) == (2, 1, [])
    assert reads == []
    svc.redis.flushdb()  # now only storage knows
    assert reconcile(svc).requeued == [queued]
    assert sorted(key.split("/")[1] for key in reads) == sorted([*done, queued])


def test_settled_images_cost_neither_redis_nor_a_storage_read(app, client, run_worker, monkeypatch):
    """A million finished images on S3 cost ~10,000 LISTs a pass, not a million GETs."""
    svc = app.extensions["imgsvc"]
    good = upload(client, factories.jpeg(160, 120)).get_json()["id"]
    data = factories.jpeg(600, 400)
    bad = upload(client, data[: len(data) // 2]).get_json()["id"]
    run_worker()
    assert svc.storage.exists(record.settled_key(good))  # done
    assert svc.storage.exists(record.settled_key(bad))  # failed
    svc.redis.flushdb()
    reads: list[str] = []
    real_get = svc.storage.get
    monkeypatch.setattr(svc.storage, "get", lambda key: reads.append(key) or real_get(key))
    monkeypatch.setattr(record, "image_job", lambda *a: pytest.fail("asked Redis"))

    report = reconcile(svc)

    assert (report.scanned, report.finished, report.requeued) == (2, 2, [])
    assert reads == []


def test_a_final_image_without_its_marker_is_read_once_then_marked(app, client, run_worker):
    """An image finished before markers existed, or whose marker write failed."""
    svc = app.extensions["imgsvc"]
    image_id = upload(client, factories.jpeg(160, 120)).get_json()["id"]
    run_worker()
    svc.storage.delete_prefix(record.settled_key(image_id))
    svc.redis.flushdb()

    assert reconcile(svc).finished == 1

    assert svc.storage.exists(record.settled_key(image_id))
    assert record.read_manifest(svc.storage, image_id)["status"] == "done"


def test_the_workers_pass_goes_slice_by_slice_then_rests(app, client):
    from imgsvc.config import load_settings
    from imgsvc.extensions import Services
    from imgsvc.images.reconcile import CURSOR, RESTING, SLICE_LOCK, periodic_slice

    ids = lost_uploads(app, client, 3)
    settings = dict(app.config, RECONCILE_INTERVAL=60, RECONCILE_SLICE_SECONDS=0)
    svc = Services(load_settings(settings))

    slices = [periodic_slice(svc) for _ in range(len(ids) + 1)]

    assert [report.requeued for report in slices] == [[ids[0]], [ids[1]], [ids[2]], []]
    assert svc.redis.get(CURSOR) is None
    assert 0 < svc.redis.ttl(RESTING) <= 60
    assert periodic_slice(svc) is None  # resting until the interval has passed
    svc.redis.delete(RESTING)
    holder = svc.redis.lock(SLICE_LOCK, timeout=30)
    assert holder.acquire(blocking=False)
    assert periodic_slice(svc) is None  # another worker's slice is running
    holder.release()
    report = periodic_slice(svc)  # a new pass: its first image is queued now
    assert (report.scanned, report.live, report.resume_after) == (1, 1, ids[0])


def abandoned_upload(svc, seed: int = 0) -> str:
    """What a web process killed between storing the original and the manifest leaves."""
    image_id = record.new_image_id()
    svc.storage.put(record.original_key(image_id), factories.jpeg(seed=seed), "image/jpeg")
    return image_id


def test_an_abandoned_upload_is_removed_once_old_enough(app, client, monkeypatch):
    svc = app.extensions["imgsvc"]
    kept = upload(client, factories.jpeg(160, 120)).get_json()["id"]
    abandoned = abandoned_upload(svc)

    young = reconcile(svc)  # it may be an upload still being stored: left alone
    assert (young.unreadable, young.discarded) == ([abandoned], [])
    assert svc.storage.exists(record.original_key(abandoned))

    later = time.time() + svc.settings["ABANDONED_AFTER_SECONDS"] + 1
    monkeypatch.setattr("imgsvc.images.reconcile.time.time", lambda: later)
    old = reconcile(svc)

    assert (old.unreadable, old.discarded) == ([], [abandoned])
    assert svc.storage.list_keys(record.prefix(abandoned)) == []
    assert svc.storage.exists(record.original_key(kept))  # the answered upload stays
    assert record.read_manifest(svc.storage, kept)["status"] == "queued"


def test_a_corrupt_manifest_is_never_discarded(app, client, monkeypatch):
    """Only a missing manifest means "never answered"; a corrupt one needs a person."""
    svc = app.extensions["imgsvc"]
    image_id = upload(client, factories.jpeg(160, 120)).get_json()["id"]
    svc.storage.put(record.manifest_key(image_id), b"{not json", "application/json")
    svc.redis.flushdb()
    monkeypatch.setattr("imgsvc.images.reconcile.time.time", lambda: 4e9)  # far in the future

    report = reconcile(svc)

    assert (report.unreadable, report.discarded) == ([image_id], [])
    assert svc.storage.exists(record.original_key(image_id))


def test_abandoned_uploads_are_kept_when_the_setting_is_zero(app, monkeypatch):
    svc = app.extensions["imgsvc"]
    abandoned = abandoned_upload(svc)
    monkeypatch.setitem(svc.settings, "ABANDONED_AFTER_SECONDS", 0)
    monkeypatch.setattr("imgsvc.images.reconcile.time.time", lambda: 4e9)

    assert reconcile(svc).discarded == []
    assert svc.storage.exists(record.original_key(abandoned))
