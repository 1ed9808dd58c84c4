"""Prometheus metrics: uploads and requests (web), jobs and variants (workers), queues.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``imgsvc dev``, docker compose), every
process writes its samples to files in that folder and ``/metrics`` adds them
up, so several gunicorn processes and the RQ workers on the same machine are
counted together. Queue depth and workers are read from Redis at scrape time.

RQ forks a fresh process for every job. Left alone, prometheus-client would
leave files named after each of those short-lived pids, so the folder and the
scrape time would grow with every job. Samples written during a job are
therefore filed under the worker's name instead: a worker runs one job at a
time, so the name is never used by two live processes at once.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from imgsvc.logs import job_log

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger(__name__)


def _process_identifier() -> str:
    job = get_current_job()
    if job is not None and job.worker_name:
        return "rq-" + _UNSAFE.sub("_", job.worker_name)
    return str(os.getpid())


def multiprocess_dir() -> str | None:
    """The folder shared by this machine's processes, or ``None`` (single process)."""
    return os.environ.get(MULTIPROC_ENV) or None


if multiprocess_dir():
    os.makedirs(multiprocess_dir() or "", exist_ok=True)
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_identifier)

UPLOADS = Counter("imgsvc_uploads", "Uploads by outcome: accepted, or the error code.", ["outcome"])
# Label values are the configured API key names only (imgsvc.apikeys): a bounded set.
KEY_UPLOADS = Counter("imgsvc_key_uploads", "Accepted uploads per API key name.", ["key"])
UPLOAD_BYTES = Counter("imgsvc_upload_bytes", "Bytes of accepted uploads (the originals).")
HTTP_REQUESTS = Counter(
    "imgsvc_http_requests", "HTTP requests by status.", ["method", "endpoint", "status"]
)
HTTP_DURATION = Histogram(
    "imgsvc_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
JOB_DURATION = Histogram(
    "imgsvc_job_duration_seconds",
    "Time a job attempt ran, by type and outcome (success, retry, failure).",
    ["type", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
JOB_FAILURES = Counter("imgsvc_job_failures", "Failed job attempts by code.", ["type", "code"])
VARIANT_BYTES = Counter("imgsvc_variant_bytes", "Bytes of variants written, by format.", ["format"])
VARIANTS = Counter("imgsvc_variants", "Variants written, by format.", ["format"])

UPLOAD_ENDPOINTS = {"pages.index", "api.upload_image"}
# Label values come from closed sets, so a client cannot add series: any other
# method is "other", and a path no route matches is "unmatched".
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"


def _safely(update: Callable[[], None]) -> None:
    """Apply a metric update; a metrics problem must never fail a request or a job."""
    try:
        update()
    except OSError as exc:  # e.g. the samples folder was removed under a running process
        try:
            os.makedirs(multiprocess_dir() or ".", exist_ok=True)
            update()
        except OSError:
            log.warning("metrics: could not record a sample: %s", exc)


def record_upload(outcome: str, size: int = 0) -> None:
    """Count one upload: ``accepted`` (with its size in bytes) or an error code."""
    _safely(lambda: UPLOADS.labels(outcome=outcome).inc())
    if size:
        _safely(lambda: UPLOAD_BYTES.inc(size))


def record_key_upload(name: str) -> None:
    """Count one accepted upload of the API key called ``name`` (a configured name)."""
    _safely(lambda: KEY_UPLOADS.labels(key=name).inc())


def record_request(method: str, endpoint: str | None, status: int, seconds: float) -> None:
    """Count one HTTP request and its duration.

    ``endpoint`` is the route's endpoint name (``None`` when no route matched);
    a method outside :data:`METHODS` is counted as ``other``.
    """
    name = endpoint or UNMATCHED
    verb = method.upper() if method.upper() in METHODS else "other"
    code = str(status) if 100 <= status <= 599 else "other"
    _safely(lambda: HTTP_REQUESTS.labels(method=verb, endpoint=name, status=code).inc())
    _safely(lambda: HTTP_DURATION.labels(endpoint=name).observe(seconds))


def record_variant(fmt: str, size: int) -> None:
    """Count one variant written to storage."""
    _safely(lambda: VARIANT_BYTES.labels(format=fmt.lower()).inc(size))
    _safely(lambda: VARIANTS.labels(format=fmt.lower()).inc())


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, JobTimeoutException):
        return "timeout"
    return str(getattr(exc, "code", "internal_error"))


@contextmanager
def track_job(job_type: str, **fields: Any) -> Iterator[None]:
    """Time a job attempt, count its outcome and write its log line."""
    started = time.perf_counter()
    job = get_current_job()
    entry: dict[str, Any] = {"job_id": job.id if job else None, "type": job_type, **fields}
    try:
        yield
    except BaseException as exc:
        code = _error_code(exc)
        outcome = "retry" if job is not None and job.retries_left else "failure"
        if outcome == "retry" and code == "timeout":  # never retried (see imgsvc.worker)
            outcome = "failure"
        seconds = time.perf_counter() - started
        _safely(lambda: JOB_FAILURES.labels(type=job_type, code=code).inc())
        _safely(lambda: JOB_DURATION.labels(type=job_type, outcome=outcome).observe(seconds))
        entry.update(status="failed", error_code=code, will_retry=outcome == "retry")
        entry["duration_ms"] = round(seconds * 1000, 2)
        job_log.warning("job %s failed: %s", entry["job_id"], code, extra=entry)
        raise
    seconds = time.perf_counter() - started
    _safely(lambda: JOB_DURATION.labels(type=job_type, outcome="success").observe(seconds))
    entry.update(status="finished", duration_ms=round(seconds * 1000, 2))
    job_log.info("job %s finished", entry["job_id"], extra=entry)


def tracked(job_type: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a job function with :func:`track_job` (image jobs log their image id)."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            fields = {"image_id": args[0]} if job_type == "image" and args else {}
            with track_job(job_type, **fields):
                return func(*args, **kwargs)

        return wrapper

    return decorate


class QueueCollector:
    """Queue depth per queue, jobs per registry, and workers, read from Redis per scrape."""

    def __init__(self, redis: Any, queue_names: list[str]) -> None:
        self.redis = redis
        self.queue_names = queue_names

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the gauges; ``imgsvc_redis_up`` is 0 when Redis does not answer."""
        from imgsvc.extensions import REDIS_ERRORS
        from imgsvc.stats import queue_counts, worker_rows

        up = GaugeMetricFamily("imgsvc_redis_up", "1 if Redis answered this scrape.")
        depth = GaugeMetricFamily("imgsvc_queue_depth", "Jobs waiting.", labels=["queue"])
        registries = GaugeMetricFamily(
            "imgsvc_queue_jobs",
            "Jobs per queue in RQ's registries (started, scheduled, deferred, failed, finished).",
            labels=["queue", "state"],
        )
        workers = GaugeMetricFamily("imgsvc_workers", "RQ workers by state.", labels=["state"])
        try:
            counts = queue_counts(self.redis, self.queue_names)
            rows = worker_rows(self.redis)
        except REDIS_ERRORS as exc:
            log.warning("metrics: Redis did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for queue, states in counts.items():
            depth.add_metric([queue], states["queued"])
            for state, count in states.items():
                if state != "queued":
                    registries.add_metric([queue, state], count)
        by_state: dict[str, int] = {"idle": 0, "busy": 0}
        for row in rows:
            by_state[row["state"]] = by_state.get(row["state"], 0) + 1
        for state, count in by_state.items():
            workers.add_metric([state], count)
        yield from (up, depth, registries, workers)


def render(redis: Any, queue_names: list[str]) -> bytes:
    """The ``/metrics`` body: this machine's processes plus the gauges of ``queue_names``."""
    directory = multiprocess_dir()
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        samples = generate_latest(registry)
    else:
        samples = generate_latest(REGISTRY)
    queues = CollectorRegistry()
    queues.register(QueueCollector(redis, queue_names))
    return samples + generate_latest(queues)
