"""The worker: start-up checks, crash-recovery tuning, and how it stops."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest

from imgsvc.config import load_settings
from imgsvc.extensions import Services
from imgsvc.worker import ImgsvcWorker, warn_about_redis
from tests.support import wait_until
from tests.support.processes import WorkerProcess
from tests.support.s3proxy import FaultyS3Proxy


@pytest.fixture
def services(redis_url: str) -> Services:
    return Services(load_settings({"REDIS_URL": redis_url}))


def test_eviction_policy_other_than_noeviction_is_a_loud_warning(services, caplog):
    services.redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        with caplog.at_level(logging.WARNING, logger="imgsvc.worker"):
            assert warn_about_redis(services) == "allkeys-lru"
    finally:
        services.redis.config_set("maxmemory-policy", "noeviction")
    assert "EVICT" in caplog.text and "noeviction" in caplog.text


def test_noeviction_is_quiet(services, caplog):
    with caplog.at_level(logging.WARNING, logger="imgsvc.worker"):
        assert warn_about_redis(services) == "noeviction"
    assert caplog.text == ""


def test_dead_workers_are_noticed_in_seconds_not_minutes(services):
    worker = ImgsvcWorker([services.queue], connection=services.redis, settings=services.settings)
    job = services.queue.enqueue("imgsvc.tasks.count_words", "http://example.org/", job_timeout=120)
    assert worker.maintenance_interval == 10  # RQ's default is 600 s
    assert worker.get_heartbeat_ttl(job) == 5 + 10  # RQ's default adds 60 s
    assert worker.dequeue_timeout <= worker.maintenance_interval + 1


def test_the_worker_connection_outlives_its_blocking_dequeue(redis_url):
    from imgsvc.cli import worker_services

    services = worker_services(load_settings({"REDIS_URL": redis_url}))
    worker = ImgsvcWorker([services.queue], connection=services.redis, settings=services.settings)
    socket_timeout = services.redis.connection_pool.connection_kwargs["socket_timeout"]
    assert socket_timeout > worker.dequeue_timeout + 5


@pytest.fixture
def job_services(env):
    """The job functions' cached services, rebuilt from this test's settings."""
    from imgsvc.extensions import worker_services

    worker_services.cache_clear()
    yield worker_services()
    worker_services.cache_clear()


@pytest.mark.parametrize("storage_url", ["file"], indirect=True)
@pytest.mark.parametrize(
    ("ran_for", "code", "retries_left", "image_status"),
    [
        (120 + 61, "timeout", 0, "failed"),  # RQ kills a horse 60 s past the job's timeout
        (3, "worker_crashed", 3, "queued"),  # a crash inside the budget is retried
    ],
)
def test_a_horse_killed_past_its_time_limit_is_a_timeout_a_crash_otherwise(
    app, client, job_services, ran_for, code, retries_left, image_status
):
    import signal
    from datetime import timedelta

    from rq.utils import now

    from imgsvc.queue import job_queues
    from tests import factories
    from tests.support.client import upload

    body = upload(client, factories.jpeg(320, 240)).get_json()
    svc = app.extensions["imgsvc"]
    job = svc.queue.fetch_job(body["job_id"])
    job.started_at = now() - timedelta(seconds=ran_for)
    worker = ImgsvcWorker(job_queues(svc.queue), connection=svc.redis, settings=svc.settings)

    worker.handle_work_horse_killed(job, 0, signal.SIGKILL, None)

    assert job.retries_left == retries_left
    assert svc.queue.fetch_job(job.id).meta["error"]["code"] == code
    image = client.get(f"/api/images/{body['id']}").get_json()
    assert image["status"] == image_status
    if image_status == "failed":
        assert image["error"]["code"] == "timeout"


def test_a_redis_that_stops_between_jobs_does_not_end_the_worker(tmp_path, caplog):
    """RQ writes the worker's state right after a job, outside its dequeue's guard
    for a lost connection; a Redis gone in that moment used to end the worker."""
    from tests.support.redis import RedisServer

    redis = RedisServer(tmp_path / "redis").start()
    try:
        svc = Services(load_settings({"REDIS_URL": redis.url}))
        worker = ImgsvcWorker([svc.queue], connection=svc.redis, settings=svc.settings)
        worker.set_state("busy")
        assert svc.redis.hget(worker.key, "state") == b"busy"
        redis.stop()
        with caplog.at_level(logging.WARNING, logger="imgsvc.worker"):
            worker.set_state("idle")  # Redis is down: noted, not raised
        assert "could not record worker state idle" in caplog.text
        redis.start()
        worker.set_state("idle")
        assert svc.redis.hget(worker.key, "state") == b"idle"
    finally:
        redis.stop()


def test_the_backfill_queue_stays_last_out_of_the_turn(services):
    from rq import Queue
    from rq.worker import DequeueStrategy

    from imgsvc.queue import job_queues

    queues = job_queues(services.queue)
    worker = ImgsvcWorker(queues, connection=services.redis, settings=services.settings)
    worker._dequeue_strategy = DequeueStrategy.ROUND_ROBIN  # as work() sets it
    names = lambda: [queue.name for queue in worker._ordered_queues]  # noqa: E731
    last = ["default-webhooks", "default-backfill"]
    assert names() == ["default", "default-wordcounts", *last]

    worker.reorder_queues(queues[0])
    assert names() == ["default-wordcounts", "default", *last]
    worker.reorder_queues(queues[1])
    assert names() == ["default", "default-wordcounts", *last]
    worker.reorder_queues(queues[3])  # after a backfill job: still last
    assert names()[-2:] == last

    backfill = queues[3].enqueue("imgsvc.tasks.count_words", "http://example.org/b")
    image = queues[0].enqueue("imgsvc.tasks.count_words", "http://example.org/i")
    taken = [
        Queue.dequeue_any(worker._ordered_queues, None, connection=services.redis)[0].id
        for _ in range(2)
    ]
    assert taken == [image.id, backfill.id]  # queued later, taken first


@pytest.mark.parametrize("storage_url", ["s3"], indirect=True)
def test_sigterm_during_a_reconcile_slice_stops_the_worker(env, tmp_path: Path, monkeypatch):
    # Every listing stalls, so the worker's periodic reconcile slice is waiting on
    # S3 when the SIGTERM comes: RQ stops an idle worker by raising in it.
    def stall_listings(method: str, path: str) -> bool | str:
        return "stall" if method == "GET" and "list-type" in path else False

    with FaultyS3Proxy(env["IMGSVC_S3_ENDPOINT_URL"], stall_listings, stall_seconds=30) as proxy:
        monkeypatch.setenv("IMGSVC_S3_ENDPOINT_URL", proxy.url)
        monkeypatch.setenv("IMGSVC_STORAGE_TIMEOUT", "2")
        monkeypatch.setenv("IMGSVC_RECONCILE_INTERVAL", "1")
        monkeypatch.setenv("IMGSVC_WORKER_MAINTENANCE_INTERVAL", "1")
        monkeypatch.setenv("IMGSVC_LOG_LEVEL", "INFO")  # WorkerProcess waits for "Listening on"
        worker = WorkerProcess(dict(os.environ), tmp_path / "worker.log")
        try:
            wait_until(lambda: proxy.failures >= 1, timeout=30, message="no listing began")
            worker.proc.send_signal(signal.SIGTERM)
            exited = wait_until(
                lambda: worker.proc.poll() is not None, timeout=20, message="SIGTERM ignored"
            )
            assert exited
        finally:
            worker.stop()
    assert worker.proc.returncode == 0  # a warm stop, once the slice gave up on the stalled listing
    assert "cold shut down" not in (tmp_path / "worker.log").read_text()
