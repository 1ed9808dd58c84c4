"""The stable import paths RQ runs jobs by; the jobs themselves live with their flow.

RQ stores a job's function as a dotted path (``imgsvc.tasks.process_image``)
in Redis, and its failure callback the same way (``imgsvc.tasks.on_job_failure``).
Jobs already queued, retried or scheduled keep those paths however long they
wait, so :mod:`imgsvc.queue` enqueues by these names and this module keeps
them importable wherever the code moves. Import the functions from their homes
(:mod:`imgsvc.images.tasks`, :mod:`imgsvc.wordcount.tasks`) everywhere else;
add a name here only for a new job function or callback RQ will store.
"""

from __future__ import annotations

from imgsvc.images.tasks import on_job_failure, process_image
from imgsvc.images.variantjob import make_variants
from imgsvc.webhooks.delivery import deliver_webhook
from imgsvc.wordcount.tasks import count_words

__all__ = ["count_words", "deliver_webhook", "make_variants", "on_job_failure", "process_image"]
