"""Redis connection, the RQ queues, and the enqueue helpers.

Three queues: image jobs go to ``QUEUE_NAME``, word counts to its sibling
``<QUEUE_NAME>-wordcounts`` and webhook deliveries to ``<QUEUE_NAME>-webhooks``.
Workers serve all three. They take the image and word-count queues in turn
(RQ's round-robin dequeue strategy, see :mod:`imgsvc.worker`): while both
have work a worker alternates, so an image job waits for at most one word
count per worker, and a backlog of images cannot starve word counts either.
The webhook queue comes last, always: a delivery is taken only when no image
or word count waits, so a backlog of deliveries (a slow or dead receiver)
never delays the work clients wait for. Stats, ``/ops`` and metrics count all
three; the cap counts the first two (deliveries are bounded by the work that
made them).

A fourth queue, ``<QUEUE_NAME>-backfill``, holds the jobs of ``imgsvc backfill``:
workers list it after the webhook queue, out of the turn too, so they take a
backfill job only when nothing else waits; the cap does not count it (a
backfill of a million images never refuses an upload).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rq import Callback, Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job

from imgsvc.errors import QueueFull, QueueUnavailable
from imgsvc.extensions import REDIS_ERRORS
from imgsvc.images.record import job_id_for
from imgsvc.settings import Settings, retry_intervals, webhook_retry_delays

WORDCOUNT_SUFFIX = "-wordcounts"
WEBHOOK_SUFFIX = "-webhooks"
BACKFILL_SUFFIX = "-backfill"
_SUFFIXES = (WORDCOUNT_SUFFIX, WEBHOOK_SUFFIX, BACKFILL_SUFFIX)


def _image_queue(queue: Queue) -> Queue:
    """The image queue that ``queue`` belongs to (itself if it is one)."""
    for suffix in _SUFFIXES:
        if queue.name.endswith(suffix):
            name = queue.name[: -len(suffix)]
            return Queue(name, connection=queue.connection, serializer=queue.serializer)
    return queue


def wordcount_queue(queue: Queue) -> Queue:
    """The word-count queue that goes with the image queue ``queue`` (itself if it is one)."""
    if queue.name.endswith(WORDCOUNT_SUFFIX):
        return queue
    return Queue(
        queue.name + WORDCOUNT_SUFFIX, connection=queue.connection, serializer=queue.serializer
    )


def webhook_queue(queue: Queue) -> Queue:
    """The webhook-delivery queue that goes with the queue ``queue``."""
    if queue.name.endswith(WEBHOOK_SUFFIX):
        return queue
    image_queue = _image_queue(queue)
    return Queue(
        image_queue.name + WEBHOOK_SUFFIX,
        connection=queue.connection,
        serializer=queue.serializer,
    )


def is_webhook_queue(queue: Queue) -> bool:
    return queue.name.endswith(WEBHOOK_SUFFIX)


def backfill_queue(queue: Queue) -> Queue:
    """The backfill queue that goes with the queue ``queue``."""
    return Queue(
        _image_queue(queue).name + BACKFILL_SUFFIX,
        connection=queue.connection,
        serializer=queue.serializer,
    )


def queue_rank(queue: Queue) -> int:
    """Where a worker lists ``queue`` after each job: the work clients wait for
    (0, taken in turn), then webhook deliveries (1), then backfill (2)."""
    if queue.name.endswith(BACKFILL_SUFFIX):
        return 2
    return 1 if is_webhook_queue(queue) else 0


def work_queues(queue: Queue) -> list[Queue]:
    """The image and word-count queues of ``queue``: the work clients wait for."""
    image_queue = _image_queue(queue)
    return [image_queue, wordcount_queue(image_queue)]


def job_queues(queue: Queue) -> list[Queue]:
    """Every queue of the image queue ``queue``, in the order workers serve them:
    images, word counts, webhook deliveries, backfill."""
    return [*work_queues(queue), webhook_queue(queue), backfill_queue(queue)]


def waiting(queue: Queue) -> int:
    """Jobs waiting in the image and word-count queues (read with LLEN: looking
    changes nothing); deliveries are not counted."""
    with queue.connection.pipeline() as pipe:
        for each in work_queues(queue):
            pipe.llen(each.key)
        return sum(int(count) for count in pipe.execute())


def check_room(queue: Queue, settings: Mapping[str, Any]) -> None:
    """Raise ``QueueFull`` when ``MAX_QUEUED_JOBS`` jobs already wait in the image
    and word-count queues together (``0``: no cap).

    Called before a new upload or word count is accepted; reconcile and retries
    are never refused. A soft cap: web processes checking at the same moment
    may each add one. A Redis error is left to the enqueue that follows, so an
    upload is still stored while Redis is down (reconcile enqueues it later).
    """
    cap = Settings(settings).MAX_QUEUED_JOBS
    if cap <= 0:
        return
    try:
        count = waiting(queue)
    except REDIS_ERRORS:
        return
    if count >= cap:
        raise QueueFull(f"The job queue is full ({count} jobs are waiting); try again in a minute.")


def job_retry(config: Settings) -> Retry | None:
    """How an image, word-count or variants job is retried: ``JOB_RETRIES`` times
    after ``JOB_RETRY_INTERVALS``, each retry at the front of its queue. A retry
    (a transient fault, or a worker that died mid-job) has already waited its
    turn once; at the back it would wait behind the whole backlog again."""
    retries = config.JOB_RETRIES
    if retries <= 0:
        return None
    return Retry(max=retries, interval=retry_intervals(config), enqueue_at_front=True)


def enqueue_image(queue: Queue, image_id: str, settings: Mapping[str, Any]) -> Job:
    """Enqueue ``process_image(image_id)`` under the image's own job id.

    Raises ``QueueUnavailable`` when Redis cannot be reached.
    """
    config = Settings(settings)
    try:
        return queue.enqueue(
            "imgsvc.tasks.process_image",
            image_id,
            job_id=job_id_for(image_id),
            job_timeout=config.JOB_TIMEOUT,
            result_ttl=config.RESULT_TTL,
            failure_ttl=config.FAILURE_TTL,
            retry=job_retry(config),
            meta={"type": "image", "image_id": image_id},
            on_failure=Callback("imgsvc.tasks.on_job_failure"),
            description=f"process_image({image_id!r})",
        )
    except REDIS_ERRORS as exc:
        raise QueueUnavailable() from exc


def enqueue_wordcount(
    queue: Queue, url: str, settings: Mapping[str, Any], callback_url: str | None = None
) -> Job:
    """Enqueue ``count_words(url)`` on the word-count queue that goes with ``queue``
    (see the module docstring); its result is kept ``WORDCOUNT_RESULT_TTL`` seconds.
    Its end is announced to ``callback_url`` (kept in the job's meta, never shown).

    Raises ``QueueUnavailable`` when Redis cannot be reached.
    """
    config = Settings(settings)
    try:
        return wordcount_queue(queue).enqueue(
            "imgsvc.tasks.count_words",
            url,
            job_timeout=int(config.WORDCOUNT_TIMEOUT) + 30,  # a backstop
            result_ttl=config.WORDCOUNT_RESULT_TTL,
            failure_ttl=config.FAILURE_TTL,
            retry=job_retry(config),
            meta={
                "type": "wordcount",
                "url": url,
                "callback_url": callback_url,
                "webhooks": bool(config.WEBHOOK_SECRET and (callback_url or config.WEBHOOK_URL)),
            },
            on_failure=Callback("imgsvc.tasks.on_job_failure"),
            description=f"count_words({url!r})",
        )
    except REDIS_ERRORS as exc:
        raise QueueUnavailable() from exc


def enqueue_webhook(queue: Queue, subject: str, delivery: str, settings: Mapping[str, Any]) -> Job:
    """Enqueue ``deliver_webhook(subject, delivery)`` on the webhook queue that goes
    with ``queue``, retried after transient failures at the delays of
    :func:`imgsvc.settings.webhook_retry_delays` (attempts, backoff, window).

    Raises ``QueueUnavailable`` when Redis cannot be reached.
    """
    config = Settings(settings)
    delays = webhook_retry_delays(config)
    try:
        return webhook_queue(queue).enqueue(
            "imgsvc.tasks.deliver_webhook",
            subject,
            delivery,
            job_timeout=int(config.WEBHOOK_TIMEOUT) + 30,  # a backstop
            result_ttl=config.RESULT_TTL,
            failure_ttl=config.FAILURE_TTL,
            retry=Retry(max=len(delays), interval=delays) if delays else None,
            meta={"type": "webhook", "subject": subject},
            description=f"deliver_webhook({subject!r}, {delivery!r})",
        )
    except REDIS_ERRORS as exc:
        raise QueueUnavailable() from exc


def fetch_job(queue: Queue, job_id: str) -> Job | None:
    """The job with ``job_id``, or ``None`` if Redis has no such job."""
    try:
        return Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
    except NoSuchJobError:
        return None


def variants_job_id(image_id: str, background: bool = False) -> str:
    """The job id of an image's variants job: ``variants-<id>`` for the one a
    request enqueues, ``backfill-<id>`` for backfill's (one of each at most)."""
    return f"{'backfill' if background else 'variants'}-{image_id}"


def enqueue_variants(
    queue: Queue,
    image_id: str,
    settings: Mapping[str, Any],
    *,
    signature: str,
    background: bool = False,
) -> Job:
    """Enqueue ``make_variants(image_id)``: the variants a ``done`` image lacks.

    On the image queue for a request (someone waits for it), on the backfill
    queue when ``background``. ``signature`` names the variant set it was asked
    for (``variantset.signature``). Raises ``QueueUnavailable`` when Redis
    cannot be reached.
    """
    config = Settings(settings)
    target = backfill_queue(queue) if background else job_queues(queue)[0]
    try:
        return target.enqueue(
            "imgsvc.tasks.make_variants",
            image_id,
            job_id=variants_job_id(image_id, background),
            job_timeout=config.JOB_TIMEOUT,
            result_ttl=config.RESULT_TTL,
            failure_ttl=config.FAILURE_TTL,
            retry=job_retry(config),
            meta={"type": "variants", "variants_of": image_id, "signature": signature},
            description=f"make_variants({image_id!r})",
        )
    except REDIS_ERRORS as exc:
        raise QueueUnavailable() from exc
