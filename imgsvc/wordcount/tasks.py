"""The word-count job: ``count_words(url)``, a safe fetch then the count.

RQ runs it under its stable path ``imgsvc.tasks.count_words`` (see
:mod:`imgsvc.tasks`); settings come from the environment
(:func:`imgsvc.extensions.worker_services`). Its end is announced to its
webhook receivers (:mod:`imgsvc.webhooks`).
"""

from __future__ import annotations

from typing import Any

from rq import get_current_job
from rq.timeouts import JobTimeoutException

from imgsvc import metrics
from imgsvc.config import csv_list
from imgsvc.errors import ImgsvcError
from imgsvc.extensions import worker_services
from imgsvc.fetch import FetchLimits, fetch_page
from imgsvc.jobs import note_job_error
from imgsvc.netguard import Guard
from imgsvc.webhooks.events import wordcount_ended
from imgsvc.wordcount.counter import Deadline, WordCountTimeout, count_words_in


@metrics.tracked("wordcount")
def count_words(url: str) -> dict[str, Any]:
    """Fetch ``url`` safely and count the words of its visible text.

    One budget, ``WORDCOUNT_TIMEOUT``, covers the whole job: fetch (which also
    stops at ``FETCH_TIMEOUT``), decode, parse and count. Running out of it
    fails the job with ``timeout`` (``fetch_timeout`` while fetching), and so
    does RQ's job timeout; neither is retried, nor are refusals, size and type
    breaches and malformed answers. Only connection errors and 5xx answers
    raise a retryable ``FetchFailed``.
    """
    config = worker_services().config
    deadline = Deadline(config.WORDCOUNT_TIMEOUT)
    guard = Guard(csv_list(config.FETCH_ALLOWLIST))
    limits = FetchLimits(
        max_bytes=config.FETCH_MAX_BYTES,
        timeout=min(config.FETCH_TIMEOUT, deadline.remaining()),
        max_redirects=config.FETCH_MAX_REDIRECTS,
    )
    try:
        page = fetch_page(url, guard, limits)
        result = count_words_in(
            url,
            page.text,
            page.content_type != "text/plain",
            top=config.WORDCOUNT_TOP,
            deadline=deadline,
        )
    except JobTimeoutException:
        _ended(WordCountTimeout("The word count ran past the job's time limit."))
        raise
    except ImgsvcError as error:
        _ended(error)
        raise
    job = get_current_job()
    if job is not None:
        wordcount_ended(worker_services(), job, result=result)
    return result


def _ended(error: ImgsvcError) -> None:
    """Note ``error`` on the job; on its last attempt, announce the failure."""
    job = get_current_job()
    if note_job_error(error) and job is not None:
        wordcount_ended(worker_services(), job, error=error.to_dict())
