"""imgsvc/tasks.py: the paths RQ stores for jobs already queued keep importing.

The jobs themselves are tested with their flows (tests/images/test_tasks.py,
tests/wordcount/test_hostile.py); here only the stable names.
"""

from __future__ import annotations

import pytest
from rq.utils import import_attribute

from imgsvc.images.tasks import on_job_failure, process_image
from imgsvc.webhooks.delivery import deliver_webhook
from imgsvc.wordcount.tasks import count_words


@pytest.mark.parametrize(
    ("path", "home"),
    [
        ("imgsvc.tasks.process_image", process_image),
        ("imgsvc.tasks.count_words", count_words),
        ("imgsvc.tasks.on_job_failure", on_job_failure),
        ("imgsvc.tasks.deliver_webhook", deliver_webhook),
    ],
)
def test_a_stored_job_path_names_the_function_in_its_home(path, home) -> None:
    assert import_attribute(path) is home


def test_new_jobs_are_enqueued_by_the_stable_paths(app) -> None:
    from imgsvc.queue import enqueue_image, enqueue_wordcount

    svc = app.extensions["imgsvc"]
    image = enqueue_image(svc.queue, "A" * 22, svc.settings)
    count = enqueue_wordcount(svc.queue, "http://example.org/", svc.settings)
    assert image.func_name == "imgsvc.tasks.process_image"
    assert count.func_name == "imgsvc.tasks.count_words"
    for job in (image, count):  # what a worker reads back from Redis
        stored = svc.redis.hget(job.key, "failure_callback_name")
        assert stored == b"imgsvc.tasks.on_job_failure"


def test_deliveries_are_enqueued_by_their_stable_path_on_their_own_queue(app) -> None:
    from imgsvc.queue import enqueue_webhook

    svc = app.extensions["imgsvc"]
    job = enqueue_webhook(svc.queue, "image:x", "image.done:callback", svc.settings)
    assert job.func_name == "imgsvc.tasks.deliver_webhook"
    assert job.origin == f"{svc.queue.name}-webhooks"
