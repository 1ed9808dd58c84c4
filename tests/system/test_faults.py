"""Guarantees under faults, each injected for real: killed workers, Redis restarts
and flushes, timeouts, duplicate runs. Real redis-server, real `worker.py`."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from imgsvc import create_app
from imgsvc.extensions import Services
from imgsvc.images import record
from tests import factories
from tests.support import wait_until
from tests.support.client import upload, wait_final
from tests.support.processes import WorkerProcess, alive, cpu_seconds
from tests.support.redis import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("storage_url", ["file"], indirect=True)]
VARIANTS = {"thumb", "xs", "sm", "md", "lg", "xl"}


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    """Big enough that a job runs long enough to be caught mid-way."""
    return factories.jpeg(6000, 4000, quality=85)


@pytest.fixture
def fast_recovery(env, monkeypatch) -> dict[str, str]:
    values = {
        "IMGSVC_WORKER_MAINTENANCE_INTERVAL": "1",
        "IMGSVC_WORKER_MONITOR_INTERVAL": "1",
        "IMGSVC_HEARTBEAT_GRACE": "2",
        "IMGSVC_RECONCILE_INTERVAL": "2",
        "IMGSVC_LOG_LEVEL": "INFO",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def workers(fast_recovery, tmp_path: Path) -> Iterator:
    started: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        worker = WorkerProcess(dict(os.environ), tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def status(client, image_id: str) -> dict:
    return client.get(f"/api/images/{image_id}").get_json()


def variant_bytes(app, image_id: str) -> dict[str, bytes]:
    storage = app.extensions["imgsvc"].storage
    manifest = record.read_manifest(storage, image_id)
    return {name: storage.get(v["key"]) for name, v in manifest["variants"].items()}


def test_worker_and_horse_sigkilled_mid_job_is_retried_to_done(app, client, workers, big_jpeg):
    image_id = upload(client, big_jpeg).get_json()["id"]
    reference_id = upload(client, big_jpeg).get_json()["id"]
    first = workers()
    first.horse()
    job = app.extensions["imgsvc"].queue.fetch_job(record.job_id_for(image_id))
    wait_until(lambda: job.get_status() == "started", timeout=30, interval=0.005)
    first.kill_all()  # the whole machine dies mid-job
    assert job.get_status() == "started"  # and nobody knows yet

    killed_at = time.monotonic()
    workers()
    body = wait_final(client, image_id, timeout=60)
    recovery = time.monotonic() - killed_at

    assert body["status"] == "done", body
    wait_final(client, reference_id)
    assert variant_bytes(app, image_id) == variant_bytes(app, reference_id)  # same objects
    assert recovery < 60, f"abandoned job noticed after {recovery:.1f}s"
    print(f"recovered {recovery:.1f}s after the kill")


# Retried at once (no interval) or by the scheduler when due, which the dead
# worker ran: the new worker takes its scheduler over. A retry at the back would
# start after all 12; at the front, after those taken before it was enqueued.
@pytest.mark.parametrize(("interval", "most_ahead"), [("0", 1), ("1", 8)])
def test_a_job_whose_worker_died_goes_before_the_backlog_when_retried(
    app, client, workers, big_jpeg, interval: str, most_ahead: int, tmp_path: Path
):
    app.config["JOB_RETRY_INTERVALS"] = interval
    queue = app.extensions["imgsvc"].queue
    image_id = upload(client, big_jpeg).get_json()["id"]
    first = workers()
    first.horse()
    job = queue.fetch_job(record.job_id_for(image_id))
    wait_until(lambda: job.get_status() == "started", timeout=30, interval=0.005)
    first.kill_all()  # the machine dies mid-job, its scheduler with it
    backlog = [upload(client, big_jpeg).get_json()["id"] for _ in range(12)]  # queued after it
    # Its heartbeat runs out; the next worker's first maintenance retries it.
    wait_until(
        lambda: job.id in queue.started_job_registry.get_expired_job_ids(),
        timeout=30,
        message="the dead worker's job never expired",
    )

    workers()
    for waiting in [image_id, *backlog]:
        assert wait_final(client, waiting, timeout=120)["status"] == "done"

    def started(some_id: str):
        return queue.fetch_job(record.job_id_for(some_id)).started_at

    ahead = [other for other in backlog if started(other) < started(image_id)]
    assert len(ahead) <= most_ahead, f"{len(ahead)} of the 12 queued after it started first"
    if interval != "0":
        assert "took over the scheduler of a dead worker" in (tmp_path / "worker-1.log").read_text()


def test_horse_killed_once_is_retried(app, client, workers, big_jpeg):
    image_id = upload(client, big_jpeg).get_json()["id"]
    worker = workers()
    os.kill(worker.horse(), signal.SIGKILL)  # as the OOM killer would
    body = wait_final(client, image_id)
    assert body["status"] == "done"
    assert set(body["variants"]) == VARIANTS
    assert alive(worker.proc.pid)


def test_horse_that_keeps_dying_fails_with_a_clear_reason(app, client, workers, big_jpeg):
    app.config["JOB_RETRIES"] = 1
    image_id = upload(client, big_jpeg).get_json()["id"]
    worker = workers()
    killed: set[int] = set()
    for _attempt in range(2):
        horse = wait_until(lambda: (h := worker.horse()) not in killed and h, timeout=30)
        os.kill(horse, signal.SIGKILL)
        killed.add(horse)

    body = wait_final(client, image_id)
    assert body["status"] == "failed"
    assert body["error"]["code"] == "worker_crashed"
    assert "signal 9" in body["error"]["message"]
    manifest = record.read_manifest(app.extensions["imgsvc"].storage, image_id)
    assert manifest["status"] == "failed"  # reconcile will not pick it up forever
    assert alive(worker.proc.pid)


def test_sigterm_mid_job_lets_the_job_finish_first(app, client, workers, big_jpeg):
    image_id = upload(client, big_jpeg).get_json()["id"]
    worker = workers()
    worker.horse()
    worker.proc.send_signal(signal.SIGTERM)
    assert worker.proc.wait(timeout=90) == 0
    assert status(client, image_id)["status"] == "done"
    job = app.extensions["imgsvc"].queue.fetch_job(record.job_id_for(image_id))
    assert job.get_status() == "finished"


def test_job_past_its_timeout_fails_with_timeout_without_retries(app, client, workers, big_jpeg):
    app.config.update(JOB_TIMEOUT=1)  # JOB_RETRIES stays 3: a timeout must not use them
    image_id = upload(client, big_jpeg).get_json()["id"]
    worker = workers()
    horse = worker.horse()
    # Busy decoding means inside the job, under its time limit (not in RQ's setup).
    wait_until(lambda: cpu_seconds(horse) >= 0.1 or not alive(horse), timeout=30, interval=0.005)
    os.kill(horse, signal.SIGSTOP)
    time.sleep(1.5)  # the fault itself: the job is frozen past its 1 s limit
    os.kill(horse, signal.SIGCONT)

    body = wait_final(client, image_id)
    assert body["status"] == "failed" and body["error"]["code"] == "timeout"
    job = app.extensions["imgsvc"].queue.fetch_job(record.job_id_for(image_id))
    wait_until(lambda: job.get_status() == "failed", timeout=30)
    assert job.retries_left == 0
    assert alive(worker.proc.pid)


def own_redis_app(redis: RedisServer, monkeypatch):
    monkeypatch.setenv("IMGSVC_REDIS_URL", redis.url)
    app = create_app({"TESTING": True})
    return app, app.test_client()


def test_redis_restart_with_aof_keeps_queued_jobs(tmp_path, monkeypatch, workers, env):
    redis = RedisServer(tmp_path / "redis", appendonly=True).start()
    try:
        app, client = own_redis_app(redis, monkeypatch)
        queued = [
            upload(client, factories.jpeg(800, 600, seed=i)).get_json()["id"] for i in range(3)
        ]
        redis.stop()
        redis.start()  # from its append-only file
        assert len(app.extensions["imgsvc"].queue) == 3
        worker = workers()
        after = upload(client, factories.jpeg(640, 480)).get_json()["id"]
        for image_id in [*queued, after]:
            assert wait_final(client, image_id)["status"] == "done"

        redis.stop()  # and the running worker rides out a restart too
        redis.start()
        late = upload(client, factories.jpeg(500, 400)).get_json()["id"]
        assert wait_final(client, late)["status"] == "done"
        assert alive(worker.proc.pid)
    finally:
        redis.stop()


def test_flushed_redis_heals_through_the_workers_periodic_reconcile(app, client, workers):
    ids = [upload(client, factories.jpeg(700, 500, seed=i)).get_json()["id"] for i in range(2)]
    app.extensions["imgsvc"].redis.flushall()  # every job is gone
    workers()
    for image_id in ids:
        assert wait_final(client, image_id, timeout=60)["status"] == "done"


def test_redis_down_at_upload_is_processed_once_redis_is_back(tmp_path, monkeypatch, workers, env):
    redis = RedisServer(tmp_path / "redis", appendonly=True).start()
    try:
        app, client = own_redis_app(redis, monkeypatch)
        redis.stop()
        response = upload(client, factories.jpeg(640, 480))
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "queue_unavailable"
        image_id = response.get_json()["id"]
        redis.start()
        app.extensions["imgsvc"] = Services(app.config)
        workers()  # no new upload: the worker's reconcile finds it in storage
        assert wait_final(client, image_id, timeout=60)["status"] == "done"
    finally:
        redis.stop()


def test_the_same_job_twice_at_the_same_time_gives_one_consistent_result(
    app, client, workers, big_jpeg
):
    svc = app.extensions["imgsvc"]
    workers(), workers()  # both idle and waiting, so each takes one of the twins
    image_id = upload(client, big_jpeg).get_json()["id"]
    svc.queue.enqueue("imgsvc.tasks.process_image", image_id, job_id=f"twin-{image_id}")
    twins = (record.job_id_for(image_id), f"twin-{image_id}")

    def both_finished() -> bool:
        return all(svc.queue.fetch_job(j).get_status() == "finished" for j in twins)

    wait_until(both_finished, timeout=90)
    one, other = (svc.queue.fetch_job(j) for j in twins)
    assert one.worker_name != other.worker_name
    assert one.started_at < other.ended_at and other.started_at < one.ended_at  # overlapped
    concurrent = variant_bytes(app, image_id)
    manifest = record.read_manifest(svc.storage, image_id)
    assert manifest["status"] == "done" and set(manifest["variants"]) == VARIANTS

    svc.queue.enqueue("imgsvc.tasks.process_image", image_id, job_id=f"again-{image_id}")
    wait_until(
        lambda: svc.queue.fetch_job(f"again-{image_id}").get_status() == "finished", timeout=90
    )
    assert variant_bytes(app, image_id) == concurrent
    assert record.read_manifest(svc.storage, image_id)["variants"] == manifest["variants"]
    keys = svc.storage.list_keys(record.prefix(image_id))
    assert len(keys) == 9  # original, manifest, six variants, _settled: nothing duplicated
