"""``python worker.py``: an RQ worker on the image and word-count queues
(``default`` and ``default-wordcounts``, taken in turn) and the webhook queue
(``default-webhooks``, taken last) with imgsvc's settings.

Plain ``rq worker --url $IMGSVC_REDIS_URL --serializer rq.serializers.JSONSerializer
--with-scheduler --dequeue-strategy round_robin default default-wordcounts
default-webhooks`` works too: the job functions in :mod:`imgsvc.tasks` read their
settings from the environment (it lacks the faster crash detection, periodic
reconcile and deliveries-last order of :class:`imgsvc.worker.ImgsvcWorker`).
"""

from imgsvc.cli import _setup_logging, run_worker

if __name__ == "__main__":
    _setup_logging()
    run_worker()
