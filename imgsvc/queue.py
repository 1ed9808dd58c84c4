"""Redis connection, the RQ queue, and the enqueue helpers.

The web app keeps one :class:`Services` in ``app.extensions["imgsvc"]``; its
Redis connection, queue and storage are created on first use.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from imgsvc.config import retry_intervals
from imgsvc.errors import QueueFull, QueueUnavailable
from imgsvc.images import job_id_for
from imgsvc.storage import Storage, storage_from_settings

# Any Redis failure (down, timeout, out of memory under noeviction) means "queue unavailable".
REDIS_ERRORS = (RedisError, OSError)
LIVE_STATUSES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
RECENT_KEY = "imgsvc:recent"


def connect_redis(url: str, socket_timeout: float = 10) -> Redis:
    """A Redis client that fails fast when the server is down."""
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=socket_timeout)


class Services:
    """The shared clients of one process, each created lazily."""

    def __init__(self, settings: Mapping[str, Any], redis_socket_timeout: float = 10) -> None:
        self.settings = settings
        self.redis_socket_timeout = redis_socket_timeout

    @cached_property
    def redis(self) -> Redis:
        return connect_redis(self.settings["REDIS_URL"], self.redis_socket_timeout)

    @cached_property
    def queue(self) -> Queue:
        # JSON, not pickle: a job's arguments and results are plain data, and a
        # Redis writer must not be able to run code in the workers.
        return Queue(self.settings["QUEUE_NAME"], connection=self.redis, serializer=JSONSerializer)

    @cached_property
    def storage(self) -> Storage:
        return storage_from_settings(self.settings)


def check_room(queue: Queue, settings: Mapping[str, Any]) -> None:
    """Raise ``QueueFull`` when ``MAX_QUEUED_JOBS`` jobs already wait (``0``: no cap).

    Called before a new upload or word count is accepted; reconcile and retries
    are never refused. A soft cap: web processes checking at the same moment
    may each add one. A Redis error is left to the enqueue that follows, so an
    upload is still stored while Redis is down (reconcile enqueues it later).
    """
    cap = int(settings["MAX_QUEUED_JOBS"])
    if cap <= 0:
        return
    try:
        waiting = queue.count
    except REDIS_ERRORS:
        return
    if waiting >= cap:
        raise QueueFull(
            f"The job queue is full ({waiting} jobs are waiting); try again in a minute."
        )


def enqueue_image(queue: Queue, image_id: str, settings: Mapping[str, Any]) -> Job:
    """Enqueue ``process_image(image_id)`` under the image's own job id.

    Raises ``QueueUnavailable`` when Redis cannot be reached.
    """
    retries = int(settings["JOB_RETRIES"])
    try:
        return queue.enqueue(
            "imgsvc.tasks.process_image",
            image_id,
            job_id=job_id_for(image_id),
            job_timeout=int(settings["JOB_TIMEOUT"]),
            result_ttl=int(settings["RESULT_TTL"]),
            failure_ttl=int(settings["FAILURE_TTL"]),
            retry=Retry(max=retries, interval=retry_intervals(settings)) if retries > 0 else None,
            meta={"type": "image", "image_id": image_id},
            on_failure=Callback("imgsvc.tasks.on_job_failure"),
            description=f"process_image({image_id!r})",
        )
    except REDIS_ERRORS as exc:
        raise QueueUnavailable() from exc


def enqueue_wordcount(queue: Queue, url: str, settings: Mapping[str, Any]) -> Job:
    """Enqueue ``count_words(url)``; its result is kept ``WORDCOUNT_RESULT_TTL`` seconds."""
    retries = int(settings["JOB_RETRIES"])
    try:
        return queue.enqueue(
            "imgsvc.tasks.count_words",
            url,
            job_timeout=int(float(settings["FETCH_TIMEOUT"])) + 30,
            result_ttl=int(settings["WORDCOUNT_RESULT_TTL"]),
            failure_ttl=int(settings["FAILURE_TTL"]),
            retry=Retry(max=retries, interval=retry_intervals(settings)) if retries > 0 else None,
            meta={"type": "wordcount", "url": url},
            # A page count takes milliseconds: let it pass a backlog of image jobs.
            at_front=True,
            on_failure=Callback("imgsvc.tasks.on_job_failure"),
            description=f"count_words({url!r})",
        )
    except REDIS_ERRORS as exc:
        raise QueueUnavailable() from exc


def live_job(queue: Queue, image_id: str) -> Job | None:
    """The image's job if it is queued, started, scheduled or deferred."""
    try:
        job = Job.fetch(
            job_id_for(image_id), connection=queue.connection, serializer=queue.serializer
        )
    except NoSuchJobError:
        return None
    return job if job.get_status(refresh=False) in LIVE_STATUSES else None


def fetch_job(queue: Queue, job_id: str) -> Job | None:
    """The job with ``job_id``, or ``None`` if Redis has no such job."""
    try:
        return Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
    except NoSuchJobError:
        return None


def remember_upload(redis: Redis, image_id: str, keep: int) -> None:
    """Put an id at the head of the recent-uploads list (a rebuildable index)."""
    with redis.pipeline() as pipe:
        pipe.lpush(RECENT_KEY, image_id)
        pipe.ltrim(RECENT_KEY, 0, max(keep, 1) * 4 - 1)
        pipe.execute()


def recent_uploads(redis: Redis, count: int) -> list[str]:
    """The ids of the most recent uploads, newest first."""
    return [raw.decode() for raw in redis.lrange(RECENT_KEY, 0, count - 1)]


def forget_upload(redis: Redis, image_id: str) -> None:
    redis.lrem(RECENT_KEY, 0, image_id)
