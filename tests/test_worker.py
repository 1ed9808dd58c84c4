"""The worker's start-up checks and crash-recovery tuning."""

from __future__ import annotations

import logging

import pytest

from imgsvc.config import load_settings
from imgsvc.queue import Services
from imgsvc.worker import ImgsvcWorker, warn_about_redis


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
